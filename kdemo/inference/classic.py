"""The predictor of ktrain's classic text models (:mod:`kdemo.text.classic`): ``predict``, ``predict_proba``,
``explain``, ``save`` and ``load_predictor``, as ktrain's ``TextPredictor`` for them.

A saved folder holds ``weights.safetensors`` (the Keras weights, in ``model.weights`` order), ``classic.json``
(the model's build arguments and class names) and ``preproc.json`` (the word and n-gram index): safetensors and
JSON, no pickle. ``explain`` scores each word by how much the predicted class's probability drops when the word is
left out (occlusion, Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901), shown as highlighted HTML in a
notebook; ktrain's ``explain`` (LIME) likewise returns None for regression.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np

from kdemo.atomic import atomic_folder
from kdemo.errors import ModelError
from kdemo.tasks import MULTI_LABEL, REGRESSION
from kdemo.text.classic import StandardTextPreprocessor, rebuild
from kdemo.text.classic.preprocessor import words_of
from kdemo.training.array_learner import WEIGHTS_FILE, load_weights, weights_dict

#: The file that marks a classic predictor folder.
CLASSIC_FILE = "classic.json"


class ClassicPredictor:
    """A classic Keras text model with its :class:`~kdemo.text.classic.StandardTextPreprocessor`.

    Args:
        model: The trained model (``learner.model``; built by ``text_classifier``/``text_regression_model``).
        preproc: The preprocessor of its data.
        batch_size: Rows per forward pass.

    Raises:
        ModelError: If the model was not built by kdemo's classic factory (it has no ``classic`` spec).
    """

    def __init__(self, model, preproc: StandardTextPreprocessor, batch_size: int = 32):
        if not isinstance(getattr(model, "classic", None), dict):
            raise ModelError("Expected a classic text model from text_classifier(...) on preprocess_mode='standard' "
                             f"data. Received: {type(model).__name__} without its build arguments.")
        self.model, self.preproc, self.batch_size = model, preproc, int(batch_size)
        self.task = model.classic["task"]

    def get_classes(self) -> list[str]:
        """Class names in id order (empty for regression)."""
        return self.preproc.get_classes()

    def predict_proba(self, texts) -> np.ndarray:
        """Class probabilities (or regression values), float32 ``(num_texts, num_outputs)``."""
        single = isinstance(texts, str)
        x = self.preproc.preprocess([texts] if single else list(texts))
        out = np.asarray(self.model.predict(x, batch_size=self.batch_size, verbose=0), dtype=np.float32)
        return out[0] if single else out

    def predict(self, texts, return_proba: bool = False):
        """ktrain's ``predict``: the class name of each text (multi-label: ``(label, probability)`` pairs; regression:
        the value), one value for one text.

        Args:
            texts: A text or a list of texts.
            return_proba: Return the probabilities instead.
        """
        single = isinstance(texts, str)
        out = self.predict_proba([texts] if single else texts)
        if return_proba:
            result = list(out)
        elif self.task == REGRESSION:
            result = [float(v) for v in out[:, 0]]
        elif self.task == MULTI_LABEL:
            result = [list(zip(self.get_classes(), map(float, row))) for row in out]
        else:
            result = [self.get_classes()[int(i)] for i in out.argmax(axis=1)]
        return result[0] if single else result

    def explain(self, text: str, top: int = 10):
        """Highlight the words of ``text`` that raise the predicted class's probability (occlusion scores), as an
        IPython ``HTML`` object (ktrain's ``explain``); None for regression, as in ktrain.

        Returns:
            ``IPython.display.HTML``, or None (regression, or IPython not installed).
        """
        if self.task == REGRESSION:
            return None
        words = words_of(text)
        base = self.predict_proba([" ".join(words)])[0]
        label = int(base.argmax())
        dropped = self.predict_proba([" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]) if words else []
        scores = [float(base[label] - row[label]) for row in dropped]
        scale = max((abs(s) for s in scores), default=0.0) or 1.0
        spans = []
        for word, score in zip(words, scores):
            color = "0,128,0" if score > 0 else "200,0,0"
            spans.append(f'<span style="background: rgba({color},{abs(score) / scale:.2f})" '
                         f'title="{score:+.4f}">{html.escape(word)}</span>')
        body = (f"<p><b>y={html.escape(self.get_classes()[label])}</b> (probability {base[label]:.3f}); green words "
                f"raise it, red lower it</p><p>{' '.join(spans)}</p>")
        try:
            from IPython.display import HTML
        except ImportError:
            return None
        return HTML(body)

    def save(self, fpath: str | os.PathLike) -> None:
        """Write the predictor folder (``weights.safetensors``, ``classic.json``, ``preproc.json``) atomically."""
        import safetensors.numpy

        meta = {"model": self.model.classic, "class_names": self.get_classes(), "batch_size": self.batch_size}
        with atomic_folder(fpath) as tmp:
            safetensors.numpy.save_file(weights_dict(self.model), str(tmp / WEIGHTS_FILE))
            (tmp / CLASSIC_FILE).write_text(json.dumps(meta), encoding="utf-8")
            (tmp / "preproc.json").write_text(json.dumps(self.preproc.to_json()), encoding="utf-8")

    @classmethod
    def load(cls, fpath: str | os.PathLike, batch_size: int | None = None) -> ClassicPredictor:
        """The predictor saved in ``fpath`` by :meth:`save`.

        Raises:
            ModelError: If the folder is not a classic predictor folder or its files do not fit together.
        """
        path = Path(fpath)
        try:
            meta = json.loads((path / CLASSIC_FILE).read_text(encoding="utf-8"))
            preproc = StandardTextPreprocessor.from_json(json.loads((path / "preproc.json").read_text(encoding="utf-8")))
            model = rebuild(meta["model"], meta["class_names"])
            load_weights(model, path)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"Expected a classic predictor folder (classic.json, preproc.json, {WEIGHTS_FILE}). "
                             f"Received: {str(path)!r}: {exc}.") from exc
        return cls(model, preproc, batch_size or meta.get("batch_size", 32))


def is_classic_folder(fpath: str | os.PathLike) -> bool:
    """Whether ``fpath`` is a classic predictor folder."""
    return (Path(fpath) / CLASSIC_FILE).is_file()
