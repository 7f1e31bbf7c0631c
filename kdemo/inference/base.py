"""What every kdemo predictor shares: saving to one folder schema, loading, and the choice of class by task.

A predictor folder holds ``save_pretrained`` files (``config.json`` with the real names in ``id2label``,
``model.safetensors``, the tokenizer) and ``kdemo.json`` (:data:`META_FILE`) with kdemo's own settings; no pickles.
Each task's spec names its predictor class (``spec.load("predictor")``): :func:`get_predictor` and
:func:`load_predictor` ask the spec instead of branching on the task, so a new task adds a predictor class and its
dotted path in :mod:`kdemo.tasks.spec`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kdemo.atomic import atomic_folder, recover
from kdemo.distributed.context import current
from kdemo.errors import DataError, ModelError
from kdemo.modeling.classifier import HFClassifier
from kdemo.tasks import TaskSpec, folder_spec, spec_for

#: kdemo's own settings file in a predictor folder.
META_FILE = "kdemo.json"
#: Keys of ``kdemo.json`` that the predictor writes from its own state; the rest is its :attr:`BasePredictor.meta`.
RESERVED = ("class_names", "maxlen", "format", "format_version", "task", "problem_type", "thresholds", "preprocessor")


class BasePredictor:
    """A fine-tuned model with its tokenizer and label names, for inference and saving.

    Subclasses set ``model`` (the HF module), ``tokenizer``, ``class_names``, ``maxlen``, ``batch_size``,
    ``precision``, ``meta`` and ``task``, and implement :meth:`from_model`, :meth:`load` and the prediction verbs.

    Attributes:
        task: The :class:`~kdemo.tasks.Task` the model was trained for.
        meta: Extra JSON-ready facts saved in ``kdemo.json`` (base model, training settings, metrics).
    """

    task = None
    meta: dict

    @property
    def spec(self) -> TaskSpec:
        """The :class:`~kdemo.tasks.TaskSpec` of :attr:`task`."""
        return spec_for(self.task)

    def get_classes(self) -> list[str]:
        """Label names in id order."""
        return list(self.class_names)

    # ------------------------------------------------------------------ building and loading
    @classmethod
    def from_model(cls, model, preproc, batch_size: int = 32, *, meta: dict | None = None) -> BasePredictor:
        """A predictor sharing the weights of a trained Keras model (see :func:`get_predictor`)."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path, meta: dict, batch_size: int = 32, *, backend: str = "torch") -> BasePredictor:
        """Load a folder of this predictor's task (see :func:`load_predictor`, which checks the folder first).

        Args:
            path: The folder (with ``config.json``).
            meta: Its ``kdemo.json`` (empty for a plain transformers checkpoint).
            batch_size: Rows per forward pass.
            backend: ``"torch"``, or ``"onnx"`` where the predictor supports it.

        Raises:
            ModelError: If the folder cannot be loaded with ``backend``.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ explanations
    def explain_target(self, text: str) -> tuple[int | None, str]:
        """What :meth:`target_attributions` explains in ``text``: the position of the token whose label is
        explained (special tokens counted), or None where the whole text has one prediction (its predicted class
        is explained), and a markdown phrase saying so (empty when there is nothing to add).

        Args:
            text: The text.
        """
        return None, ""

    def target_attributions(self, text: str, text_pair: str | None = None, *, method: str = "ig", steps: int = 50):
        """Attributions of what :meth:`explain_target` picks (``attributions`` with its token), with its phrase.

        Args:
            text: The text.
            text_pair: The second text of a sentence pair, where the task takes pairs.
            method: ``"ig"`` or ``"grad_x_input"``.
            steps: Integrated-gradients intervals to start with.

        Returns:
            ``(attribution, note)``: the :class:`~kdemo.explain.attributions.Attribution` and the markdown phrase.

        Raises:
            DataError: If the text is empty, or a pair is given to a task that takes none.
        """
        return self.attributions(text, method=method, steps=steps, text_pair=text_pair or None), ""

    # ------------------------------------------------------------------ saving
    def _meta_fields(self) -> dict:
        """The task's own ``kdemo.json`` keys, written after ``task`` and before :attr:`meta`."""
        return {}

    def save(self, fpath: str | os.PathLike) -> Path:
        """Write the predictor folder: ``save_pretrained`` model and tokenizer plus ``kdemo.json``.

        The folder is written next to its destination, fsynced, and swapped into place in one atomic step (see
        :mod:`kdemo.atomic`), so a save that is interrupted, even by ``kill -9``, leaves either the previous
        predictor or the new one at ``fpath``, never a half-written folder. Under torchrun only rank 0 writes.

        Args:
            fpath: Destination folder (created or replaced).

        Returns:
            The folder's path.
        """
        dest = Path(fpath).expanduser().resolve()
        if not current().is_main:  # data parallelism (torchrun): rank 0 alone writes
            return dest
        with atomic_folder(dest) as tmp:
            self.write(tmp)
        return dest

    def write(self, folder: str | os.PathLike) -> None:
        """Write the predictor's files into an existing folder, without the atomic swap of :meth:`save`.

        For callers that assemble a larger folder inside their own :func:`kdemo.atomic.atomic_folder` (e.g.
        :meth:`kdemo.run.result.TrainResult.save`, which adds the training record and the model card).

        Args:
            folder: The folder to write into.
        """
        folder = Path(folder)
        self.model.config.id2label = dict(enumerate(self.class_names))
        self.model.config.label2id = {c: i for i, c in enumerate(self.class_names)}
        self.tokenizer.model_max_length = self.maxlen  # pipeline(truncation=True) then truncates like kdemo
        meta = {"format": "kdemo-predictor", "format_version": 1, "class_names": self.class_names,
                "maxlen": self.maxlen, "task": str(self.task), **self._meta_fields(), **self.meta}
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")


def check_text(text) -> str:
    """``text`` if it is a non-empty string.

    Raises:
        DataError: Otherwise.
    """
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"Expected a non-empty text. Received: {text!r}.")
    return text


def get_predictor(model, preproc, batch_size: int = 32, *, meta: dict | None = None) -> BasePredictor:
    """Bundle a trained model with its preprocessor (ktrain's ``get_predictor``).

    Args:
        model: The trained classifier (``learner.model``, an :class:`~kdemo.modeling.classifier.HFClassifier`).
        preproc: The preprocessor that prepared the data (:class:`~kdemo.text.preprocessor.Transformer`, or
            :class:`~kdemo.text.ner.preprocessor.NERPreprocessor` for a sequence tagger).
        batch_size: Rows per forward pass.
        meta: Extra facts to save (e.g. training settings and metrics).

    Returns:
        The predictor class of the model's task (``spec.load("predictor")``: a
        :class:`~kdemo.inference.predictor.Predictor`, or a :class:`~kdemo.inference.ner_predictor.NERPredictor`
        for a token classifier), sharing the model's weights (no copy).

    Raises:
        TypeError: If ``model`` is not an HFClassifier.
    """
    if getattr(preproc, "kind", None) == "standard":  # ktrain's classic models (kdemo.text.classic)
        from kdemo.inference.classic import ClassicPredictor

        return ClassicPredictor(model, preproc, batch_size)
    if not isinstance(model, HFClassifier):
        raise TypeError(f"Expected an HFClassifier (learner.model). Received: {type(model).__name__}.")
    return spec_for(model.task).load("predictor").from_model(model, preproc, batch_size, meta=meta)


def load_predictor(fpath: str | os.PathLike, batch_size: int = 32, *, backend: str = "torch") -> BasePredictor:
    """Load a predictor folder written by ``predictor.save``, or any local sequence- or token-classification
    checkpoint.

    Args:
        fpath: The folder.
        batch_size: Rows per forward pass.
        backend: ``"torch"``, or ``"onnx"`` to run ``model.onnx`` in the folder with ONNX Runtime (written by
            :meth:`~kdemo.inference.predictor.Predictor.export_onnx`; table tasks only; attention maps then need
            the torch backend).

    Returns:
        The predictor of the folder's task (:func:`kdemo.tasks.folder_spec`: its ``kdemo.json`` task, else the
        transformers config) on the automatically chosen device: a :class:`~kdemo.inference.predictor.Predictor`
        or a :class:`~kdemo.inference.ner_predictor.NERPredictor`.

    Raises:
        ModelError: If the folder is missing, damaged, or not a safetensors classification checkpoint.
    """
    path = Path(fpath).expanduser()
    if backend not in ("torch", "onnx"):
        raise ModelError(f"Expected backend 'torch' or 'onnx'. Received: {backend!r}.")
    if not path.exists():
        path = recover(path) or path  # a save killed between the renames of the fallback swap (kdemo.atomic)
    from kdemo.inference.classic import ClassicPredictor, is_classic_folder

    if is_classic_folder(path):  # ktrain's classic models: safetensors weights and JSON
        return ClassicPredictor.load(path, batch_size)
    if not (path / "config.json").exists():
        raise ModelError(f"Expected a predictor folder with config.json. Received: {str(path)!r}, which has none.")
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8")) if (path / META_FILE).exists() else {}
        if not isinstance(meta, dict):
            raise ModelError(f"Expected {META_FILE} in {str(path)!r} to hold a JSON object. Received: {type(meta).__name__}.")
        spec = folder_spec(meta, json.loads((path / "config.json").read_text(encoding="utf-8")))
        return spec.load("predictor").load(path, meta, batch_size, backend=backend)
    except ModelError:
        raise
    except Exception as exc:  # a damaged folder fails in json, safetensors, tokenizers, torch...
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelError(
            f"Could not load the predictor folder {str(path)!r}: it is incomplete or damaged "
            f"({type(exc).__name__}{': ' + detail if detail else ''}). Expected a folder written by "
            "predictor.save() (config.json, model.safetensors, tokenizer files, kdemo.json). Save or train the "
            "model again, or load another folder."
        ) from exc
