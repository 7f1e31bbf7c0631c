"""The Learner for any compiled Keras model on NumPy arrays (ktrain's ``ArrayLearner``), and for kdemo's classic
text models (:mod:`kdemo.text.classic`).

``get_learner(keras_model, train_data=(x, y), val_data=(x_val, y_val))`` returns one: the same ktrain verbs as for
transformers (``lr_find``, ``fit_onecycle``, ``autofit``, ``fit``, ``validate``, ``predict``, ``top_losses``,
``save_model``/``load_model``, ``reset_weights``, ``set_weight_decay``, ``plot``), run by the same fit loop
(schedules, momentum cycling, early stopping, stop requests, per-epoch checkpoints in the background). The model's
own compiled loss and metrics are kept; each fit recompiles it with kdemo's
:class:`~kdemo.training.optimizer.FusedAdamW` (plain Adam until :meth:`set_weight_decay`, as ktrain's default
optimizer; no gradient clipping, as Keras' Adam). Resume checkpoints are the transformer learner's only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np
import safetensors.numpy

from kdemo.atomic import atomic_folder
from kdemo.data.keras_arrays import ArrayBatches, ArrayDataset, as_array_dataset
from kdemo.device import get_device
from kdemo.distributed.context import setup
from kdemo.errors import TrainingError
from kdemo.tasks import TaskSpec, spec_for
from kdemo.training.array_evaluator import ArrayEvaluator
from kdemo.training.checkpoint_writer import CheckpointWriter
from kdemo.training.learner import Learner
from kdemo.training.optimizer import FusedAdamW

#: File of the weights written by :meth:`ArrayLearner.save_model` and the per-epoch checkpoints.
WEIGHTS_FILE = "weights.safetensors"


def weights_dict(model: keras.Model) -> dict[str, np.ndarray]:
    """The model's weights as ``{"0000:<path>": array}`` in ``model.weights`` order (safetensors keys)."""
    return {f"{i:04d}:{w.path}": np.ascontiguousarray(keras.ops.convert_to_numpy(w.value))
            for i, w in enumerate(model.weights)}


def save_weights(model: keras.Model, folder: str | os.PathLike, weights: dict[str, np.ndarray] | None = None) -> Path:
    """Write the model's weights (or a snapshot from :func:`weights_dict`) to ``folder/weights.safetensors``,
    atomically (no pickle, no HDF5)."""
    weights = weights_dict(model) if weights is None else weights
    with atomic_folder(folder) as tmp:
        safetensors.numpy.save_file(weights, str(tmp / WEIGHTS_FILE))
    return Path(folder)


def load_weights(model: keras.Model, folder: str | os.PathLike) -> None:
    """Load ``folder/weights.safetensors`` (from :func:`save_weights`) into ``model``, in ``model.weights`` order.

    Raises:
        TrainingError: If the file is missing or does not fit the model's weights.
    """
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise TrainingError(f"Expected {WEIGHTS_FILE} in {folder} (written by save_model). Received: no such file.")
    arrays = safetensors.numpy.load_file(str(path))
    values = [arrays[k] for k in sorted(arrays)]
    shapes = [tuple(w.shape) for w in model.weights]
    if [tuple(v.shape) for v in values] != shapes:
        raise TrainingError(f"Expected weights of shapes {shapes[:4]}… for this model. Received: "
                            f"{[tuple(v.shape) for v in values][:4]}… in {path}. Load it into the same architecture.")
    model.set_weights(values)


class _EpochWeights(keras.callbacks.Callback):
    """ktrain's per-epoch checkpoint for a Keras model: ``folder/epoch-N/weights.safetensors``, written by the
    fit's background :class:`~kdemo.training.checkpoint_writer.CheckpointWriter` from a host snapshot."""

    def __init__(self, folder: str, writer: CheckpointWriter):
        super().__init__()
        self.folder, self.writer = Path(folder), writer

    def on_epoch_end(self, epoch, logs=None):
        snapshot, model, dest = weights_dict(self.model), self.model, self.folder / f"epoch-{epoch + 1}"
        self.writer.submit(lambda: save_weights(model, dest, snapshot))


class ArrayLearner(Learner):
    """Trains any compiled ``keras.Model`` on ``(x, y)`` NumPy arrays with the :class:`Learner`'s verbs.

    Args:
        model: A compiled Keras model (its loss and metrics are kept).
        train_data: ``(x_train, y_train)``; ``x`` one array or a list of arrays (one per input).
        val_data: Optional ``(x_val, y_val)``.
        batch_size: Training batch size.
        eval_batch_size: Batch size of validation and prediction.
        seed: Seed of the batch order.
        weight_decay: None (plain Adam, ktrain's default) or a decoupled weight decay.

    Raises:
        TrainingError: If the model is not compiled or the data has no targets.
        DataError: If the arrays' row counts differ.
    """

    resumable = False

    def __init__(self, model: keras.Model, train_data, val_data=None, batch_size: int = 32, eval_batch_size: int = 64, *,
                 seed: int = 0, weight_decay: float | None = None, freeze_lower: float | None = None):
        if getattr(model, "loss", None) is None:
            raise TrainingError("Expected a compiled Keras model. Received: a model without a loss. Call "
                                "model.compile(loss=..., optimizer=..., metrics=[...]) first, as ktrain requires.")
        train = as_array_dataset(train_data, getattr(model, "class_names", None))
        if train is None or train.y is None or len(train) == 0:
            raise TrainingError("Expected labelled training data (x_train, y_train). Received: none or no targets.")
        if batch_size < 1 or eval_batch_size < 1:
            raise TrainingError(f"Expected batch sizes >= 1. Received: batch_size={batch_size}, eval_batch_size={eval_batch_size}.")
        self.dist = setup()
        self.model = model
        if not hasattr(model, "device_type"):
            model.device_type = get_device().type  # the fit loop's memory release reads it
        self.train_data = train
        self.val_data = as_array_dataset(val_data, train.class_names)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.seed, self.weight_decay = seed, weight_decay
        self.frozen_blocks, self.freeze_lower = 0, 0.0
        self.thresholds = None
        self.lr_finder = None
        compiled = getattr(model, "_compile_config", None)
        config = dict(getattr(compiled, "config", {}) or {})
        self._loss, self._metrics = model.loss, config.get("metrics")
        self.evaluator = ArrayEvaluator(self)
        self._init_fit_loop()
        if not model.built or not model.weights:  # e.g. a Sequential without an Input: build it on two rows
            model(train.batch_x(np.arange(min(2, len(train)))))
        self._original = [np.array(w, copy=True) for w in model.get_weights()]

    @property
    def task(self) -> str:
        """The task the training targets describe (see :func:`kdemo.data.keras_arrays.targets_task`)."""
        return getattr(self.model, "task", None) or self.train_data.task

    @property
    def spec(self) -> TaskSpec:
        """The :class:`~kdemo.tasks.TaskSpec` of :attr:`task`."""
        return spec_for(self.task)

    # ------------------------------------------------------------------ plumbing
    def _train_batches(self, class_weight: dict[int, float] | None = None) -> ArrayBatches:
        return ArrayBatches(self.train_data, self.batch_size, shuffle=True, seed=self.seed + self._fit_calls,
                            class_weight=class_weight)

    def _val_batches(self) -> ArrayBatches | None:
        data = self.val_data
        return None if data is None or data.y is None else ArrayBatches(data, self.eval_batch_size, shuffle=False)

    def _fresh_optimizer(self, lr: float) -> None:
        accumulation = self.accumulation_steps if self.accumulation_steps > 1 else None
        optimizer = FusedAdamW(learning_rate=lr, weight_decay=self.weight_decay, global_clipnorm=None,
                               gradient_accumulation_steps=accumulation)
        self.model.compile(optimizer=optimizer, loss=self._loss, metrics=self._metrics)

    def _epoch_checkpoint(self, folder: str, writer: CheckpointWriter) -> keras.callbacks.Callback:
        return _EpochWeights(folder, writer)

    def _keep_original_weights(self) -> None:
        self._original = [np.array(w, copy=True) for w in self.model.get_weights()]

    # ------------------------------------------------------------------ ktrain's model verbs
    def save_model(self, fpath: str | os.PathLike) -> None:
        """Save the weights to ``fpath/weights.safetensors`` (ktrain's ``save_model``; safetensors, no pickle)."""
        save_weights(self.model, fpath)
        meta = {"class_names": self.train_data.class_names, "task": str(self.task)}
        (Path(fpath) / "kdemo.json").write_text(json.dumps(meta), encoding="utf-8")

    def load_model(self, fpath: str | os.PathLike, preproc=None) -> None:
        """Load weights saved by :meth:`save_model` into this learner's model (same architecture)."""
        load_weights(self.model, fpath)

    def set_model(self, model: keras.Model) -> None:
        """Replace the model (ktrain's ``set_model``); it must be compiled."""
        if getattr(model, "loss", None) is None:
            raise TypeError("Expected a compiled Keras model. Received: a model without a loss.")
        self.model, self._loss = model, model.loss

    def reset_weights(self, verbose: int = 1) -> None:
        """Put back the weights the model had when the learner was created, and clear the history."""
        self.model.set_weights(self._original)
        self.history = None
        if verbose:
            print("Model weights have been reset.")

    def layer_output(self, layer_id: int, example_id: int = 0, use_val: bool = False) -> np.ndarray:
        """ktrain's ``layer_output``: the output of layer ``layer_id`` of the model for one example.

        Raises:
            TrainingError: If the model has no such layer or example (functional and Sequential models only).
        """
        data = self.val_data if use_val else self.train_data
        if data is None or not -len(data) <= example_id < len(data):
            raise TrainingError(f"Expected example_id within the data. Received: {example_id}.")
        try:
            probe = keras.Model(self.model.inputs, self.model.layers[layer_id].output)
        except (AttributeError, IndexError, ValueError) as exc:
            raise TrainingError(f"Expected a layer {layer_id} of a functional or Sequential model. Received: {exc}.") from exc
        return np.asarray(probe.predict(data.batch_x([example_id % len(data)]), verbose=0))


def is_keras_model(model) -> bool:
    """Whether ``model`` is a plain ``keras.Model`` (not kdemo's transformer classifier)."""
    from kdemo.modeling.classifier import HFClassifier

    return isinstance(model, keras.Model) and not isinstance(model, HFClassifier)


__all__ = ["ArrayDataset", "ArrayLearner", "is_keras_model", "load_weights", "save_weights"]
