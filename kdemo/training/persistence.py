"""The Learner's model verbs from ktrain: ``save_model``, ``load_model``, ``set_model`` and ``reset_weights``.

ktrain saves transformer models with ``save_pretrained`` (``ktrain/text/learner.py``,
``TransformerTextClassLearner.save_model``) and loads them through the preprocessor; kdemo does the same. The
weights at creation are kept in a temporary safetensors file, as ktrain keeps them in a temporary weights file,
so that :meth:`PersistenceMixin.reset_weights` can put them back.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path

from safetensors.torch import load_model as load_safetensors
from safetensors.torch import save_model as save_safetensors

from kdemo.distributed.context import current
from kdemo.errors import TrainingError
from kdemo.modeling.classifier import HFClassifier, compile_classifier
from kdemo.training.optimizer import FusedAdamW


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class PersistenceMixin:
    """``save_model``, ``load_model``, ``set_model`` and ``reset_weights`` for :class:`kdemo.training.learner.Learner`.

    Relies on the learner's ``model``, ``spec`` and ``history``.
    """

    _original_weights: str | None = None

    def _keep_original_weights(self) -> None:
        """Save the current weights to a temporary file (deleted with the learner) for :meth:`reset_weights`."""
        fd, path = tempfile.mkstemp(prefix="kdemo-original-", suffix=".safetensors")
        os.close(fd)
        save_safetensors(self.model.hf_model, path)
        self._original_weights = path
        weakref.finalize(self, _remove, path)

    def save_model(self, fpath: str | os.PathLike) -> None:
        """Save the model to a folder with ``save_pretrained`` (ktrain's ``save_model``); the tokenizer and labels
        travel with :meth:`kdemo.inference.predictor.Predictor.save`.

        Raises:
            TrainingError: If ``fpath`` is an existing file.
        """
        path = Path(fpath)
        if path.is_file():
            raise TrainingError(f"Expected a folder path for save_model. Received: {str(path)!r}, an existing file. "
                                "Use a different path.")
        if not current().is_main:  # data parallelism (torchrun): rank 0 alone writes
            return
        path.mkdir(parents=True, exist_ok=True)
        self.model.hf_model.save_pretrained(path, safe_serialization=True)

    def load_model(self, fpath: str | os.PathLike, preproc=None) -> None:
        """Load a model saved by :meth:`save_model` into this learner (ktrain's ``load_model``).

        Args:
            fpath: The folder.
            preproc: The :class:`~kdemo.text.preprocessor.Transformer` of the data (ktrain requires it for
                transformer models); without it (or with a preprocessor that builds no classifier, such as the
                ``NERPreprocessor`` ktrain's NER ``load_model`` takes) the folder's own labels and the model's kind,
                task and precision are used (:meth:`~kdemo.modeling.classifier.HFClassifier.reloaded`).

        Raises:
            ModelError: If the folder is not a loadable checkpoint.
        """
        if callable(getattr(preproc, "get_classifier", None)):
            model = preproc.get_classifier(str(fpath))
        else:
            model = compile_classifier(self.model.reloaded(str(fpath)), FusedAdamW())
        self.set_model(model)

    def set_model(self, model: HFClassifier) -> None:
        """Replace the model of this learner and clear the history (ktrain's ``set_model``; :meth:`reset_weights`
        still restores the weights saved when the learner was created).

        Raises:
            TypeError: If ``model`` is not an HFClassifier.
        """
        if not isinstance(model, HFClassifier):
            raise TypeError(f"Expected model to be a kdemo HFClassifier (from get_classifier()). Received: {type(model).__name__}.")
        self.model = model
        self.history = None
        self.evaluator = self.spec.load("evaluator")(self)  # the task's strategy (a model of another task brings its own)

    def reset_weights(self, verbose: int = 1) -> None:
        """Put back the weights the model had when the learner was created, and clear the history (ktrain's
        ``reset_weights``; as there, models set later by :meth:`set_model` or :meth:`load_model` get the learner's
        original weights too, which needs the same architecture).

        Raises:
            TrainingError: If the original weights are gone or do not fit the current model.
        """
        if self._original_weights is None or not os.path.isfile(self._original_weights):
            raise TrainingError("Expected the original weights file of this learner. Received: none (it was removed). "
                                "Build the model again with preproc.get_classifier().")
        try:
            load_safetensors(self.model.hf_model, self._original_weights)
        except RuntimeError as exc:
            raise TrainingError("Expected the current model to have the architecture of the learner's original one. "
                                f"Received: a model whose weights do not fit ({str(exc).splitlines()[0][:160]}). "
                                "Create a new learner with get_learner() instead.") from exc
        self.history = None
        if verbose:
            print("Model weights have been reset.")
