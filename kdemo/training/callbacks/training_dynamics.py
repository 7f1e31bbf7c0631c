"""Training dynamics: each training example's probability of its given label every time a training step sees it.

Dataset Cartography (Swayamdipta et al. 2020, "Dataset Cartography: Mapping and Diagnosing Datasets with Training
Dynamics", EMNLP, https://arxiv.org/abs/2009.10795) maps every example by the mean (confidence) and the spread
(variability) across epochs of the model's probability of its given label; examples the model keeps rejecting are
often mislabeled. :class:`TrainingDynamics` records those probabilities **from the training step's own forward pass**
(:meth:`kdemo.modeling.step.FastTrainStep.observe_training`): no extra inference pass runs, and the values stay on
the device until the epoch ends (one host transfer per epoch). The probabilities therefore come from the model in
training mode (dropout on) with the weights of that step, as in the paper's own recorder.

What "the probability of the given label" is, per task (``y_pred`` are the step's outputs):

- single-label: the softmax probability of the given class; correct when the arg-max is the given class;
- multi-label: the mean over the classes of the sigmoid probability of the given 0/1 value (``p`` where the label is
  1, ``1 - p`` where it is 0); correct when every class is on the right side of 0.5;
- regression: a closeness in (0, 1], ``exp(-|prediction - label| / scale)`` with ``scale`` the standard deviation of
  the recorded labels (1 when they are all equal); correct when ``|prediction - label| <= scale / 2``;
- token classification: per window of sub-words, the mean over its labelled tokens (the first sub-word of each
  word; label ``-100`` elsewhere) of the softmax probability of the given tag; correct is the fraction of those
  tokens whose arg-max is the given tag. The per-token values are kept too (:attr:`EpochRecord.token_prob`).

Rows are the training dataset's rows (a token dataset's windows), found through the batches' ``batch_rows``
(:class:`~kdemo.data.dataset.BatchSequence`), so shuffled batches, length grouping, gradient accumulation (one step
per batch, whatever the optimizer does) and a resumed epoch (:class:`~kdemo.training.resume.EpochRemainder`) map
correctly. Under torchrun with several processes the recorder refuses to run (each rank sees only its slice).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import torch

from kdemo.distributed.context import current
from kdemo.errors import TrainingError

#: Regression: an example counts as predicted right when its error is at most this many label standard deviations.
REGRESSION_CORRECT_SCALES = 0.5
#: Label of the positions a token model's loss ignores (PyTorch's ``ignore_index``).
IGNORE = -100


@dataclass
class EpochRecord:
    """What one epoch recorded, on the host, one entry per observation (a row seen once in the epoch).

    Attributes:
        epoch: The 0-based epoch (Keras' numbering).
        rows: int64 ``(observations,)``: the dataset row of each observation.
        given_prob: float32 ``(observations,)``: the probability of the given label (regression: None until
            :meth:`TrainingDynamics.given_probabilities` computes the closeness).
        correct: float32 ``(observations,)``: 1/0 whether the prediction was right (tokens: the fraction right).
        prediction: The step's prediction per observation: single-label int64 ``(observations,)`` class ids;
            multi-label float32 ``(observations, num_classes)`` probabilities; regression float32
            ``(observations,)`` values; tokens int64 ``(tokens,)`` predicted tag ids of the labelled tokens.
        target: Regression: float32 ``(observations,)`` labels; else None.
        token_counts: Tokens: int64 ``(observations,)`` labelled tokens per window; else None.
        token_prob: Tokens: float32 ``(tokens,)`` probability of the given tag of each labelled token, the windows'
            tokens one after the other in ``rows`` order; else None.
    """

    epoch: int
    rows: np.ndarray
    given_prob: np.ndarray | None
    correct: np.ndarray | None
    prediction: np.ndarray
    target: np.ndarray | None = None
    token_counts: np.ndarray | None = None
    token_prob: np.ndarray | None = None


def _single_label(y, y_pred):
    probs = torch.softmax(y_pred.float(), dim=-1)
    gold = y.long().reshape(-1)
    pred = probs.argmax(dim=-1)
    return {"given_prob": probs.gather(1, gold[:, None])[:, 0], "correct": (pred == gold).float(), "prediction": pred}


def _multi_label(y, y_pred):
    probs = torch.sigmoid(y_pred.float())
    given = y.float().reshape(probs.shape) >= 0.5
    agree = torch.where(given, probs, 1 - probs)
    return {"given_prob": agree.mean(dim=-1), "correct": ((probs >= 0.5) == given).all(dim=-1).float(),
            "prediction": probs}


def _regression(y, y_pred):
    return {"prediction": y_pred.float().reshape(-1), "target": y.float().reshape(-1)}


def _tokens(y, y_pred):
    labels = y.long()
    mask = labels != IGNORE
    probs = torch.softmax(y_pred.float(), dim=-1)
    gold = probs.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    pred = probs.argmax(dim=-1)
    return {"token_prob": gold[mask], "prediction": pred[mask], "token_counts": mask.sum(dim=1),
            "token_correct": (pred == labels)[mask].float()}


_MEASURES = {"single_label": _single_label, "multi_label": _multi_label, "regression": _regression,
             "token_classification": _tokens}


class TrainingDynamics(keras.callbacks.Callback):
    """Record each training example's probability of its given label every time a training step sees it.

    Attach it to a fit: ``learner.fit_onecycle(lr, epochs, callbacks=[TrainingDynamics()])`` (or set
    ``learner.record_training_dynamics = True``; the learner keeps the last fit's recorder as
    ``learner.training_dynamics``), or ``kdemo.train(config, callbacks=[...])``. The model must be a kdemo
    transformer model (:class:`~kdemo.modeling.step.FastTrainStep`) trained on kdemo batches. Epochs are keyed by
    Keras' epoch number: a fit that starts again (an out-of-memory retry) replaces the epochs it repeats, and a
    resumed run keeps the epochs before its resume point.

    Attributes:
        task: The model's task (set when the fit starts).
        records: ``{epoch: EpochRecord}`` of the finished (or stopped) epochs.

    Raises:
        TrainingError: When the fit starts, if the model cannot report its training steps, the task has no labels
            to score (question answering), or under torchrun with more than one process.
    """

    def __init__(self):
        super().__init__()
        self.task: str | None = None
        self.records: dict[int, EpochRecord] = {}
        self._epoch = 0
        self._chunks: list[tuple[np.ndarray, dict]] = []

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs=None):
        world = current().world_size
        if world > 1:
            raise TrainingError(f"Expected one process to record training dynamics. Received: a torchrun run of {world} "
                                "processes, each training on a slice of every batch. Run the data map without torchrun, or "
                                "use cross-validation (folds).")
        observe = getattr(self.model, "observe_training", None)
        task = getattr(self.model, "task", None)
        if observe is None or task not in _MEASURES:
            raise TrainingError(f"Expected a kdemo classifier, regressor or token classifier to record training dynamics. "
                                f"Received: {type(self.model).__name__} (task {task!r}). Use a model from "
                                "get_classifier() or sequence_tagger().")
        self.task = task
        self._chunks = []
        observe(self._observe)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)
        self._chunks = []
        self.records = {e: r for e, r in self.records.items() if e < self._epoch}  # a restarted fit repeats them

    def on_epoch_end(self, epoch, logs=None):
        self._close_epoch()

    def on_train_end(self, logs=None):
        self._close_epoch()
        self.model.observe_training(None)

    # ------------------------------------------------------------------ recording
    def _observe(self, y, y_pred, rows) -> None:
        if rows is None:
            raise TrainingError("Expected training batches that know their rows (kdemo's BatchSequence) to record "
                                "training dynamics. Received: a dataset without batch_rows(). Train through a kdemo "
                                "Learner.")
        self._chunks.append((np.asarray(rows, dtype=np.int64), _MEASURES[self.task](y, y_pred)))

    def _close_epoch(self) -> None:
        """Move the epoch's values to the host in one transfer and keep them as an :class:`EpochRecord`."""
        if not self._chunks:
            return
        chunks, self._chunks = self._chunks, []
        rows = np.concatenate([c[0] for c in chunks])
        keys = chunks[0][1].keys()
        host = {k: torch.cat([c[1][k] for c in chunks]).cpu().numpy() for k in keys}
        record = EpochRecord(self._epoch, rows, host.get("given_prob"), host.get("correct"), host["prediction"],
                             target=host.get("target"), token_counts=host.get("token_counts"),
                             token_prob=host.get("token_prob"))
        if self.task == "token_classification":
            counts = host["token_counts"].astype(np.int64)
            record.token_counts = counts
            record.given_prob = _window_means(host["token_prob"], counts)
            record.correct = _window_means(host["token_correct"], counts)
        self.records[self._epoch] = record

    # ------------------------------------------------------------------ reading
    @property
    def epochs(self) -> list[int]:
        """The recorded epochs, in order."""
        return sorted(self.records)

    def regression_scale(self) -> float:
        """Regression: the standard deviation of the recorded labels (1.0 when they are all equal or none)."""
        targets = np.concatenate([r.target for r in self.records.values()]) if self.records else np.zeros(0)
        scale = float(np.std(targets)) if len(targets) else 0.0
        return scale if scale > 0 else 1.0

    def given_probabilities(self, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Per epoch and row, the probability of the given label and whether the prediction was right.

        Args:
            num_rows: Rows of the training dataset (a token dataset's windows).

        Returns:
            ``(probability, correct)``, float64 arrays of shape ``(epochs, num_rows)``; NaN where a row was not seen
            in an epoch (a stopped epoch). A row seen twice in one epoch keeps its last observation.

        Raises:
            TrainingError: If nothing was recorded.
        """
        if not self.records:
            raise TrainingError("Expected recorded training dynamics. Received: none (no training step ran with the "
                                "recorder attached). Fit with callbacks=[TrainingDynamics()].")
        scale = self.regression_scale() if self.task == "regression" else None
        probs = np.full((len(self.records), num_rows), np.nan)
        correct = np.full((len(self.records), num_rows), np.nan)
        for i, epoch in enumerate(self.epochs):
            record = self.records[epoch]
            if scale is not None:
                error = np.abs(record.prediction.astype(np.float64) - record.target)
                probs[i, record.rows], correct[i, record.rows] = np.exp(-error / scale), error <= REGRESSION_CORRECT_SCALES * scale
            else:
                probs[i, record.rows], correct[i, record.rows] = record.given_prob, record.correct
        return probs, correct

    def last_predictions(self, num_rows: int) -> list:
        """Each row's prediction at the last training step that saw it (the model's final prediction, from training).

        Args:
            num_rows: Rows of the training dataset.

        Returns:
            A list of ``num_rows`` entries (None for a row never seen): a class id (single-label), a float32
            ``(num_classes,)`` probability array (multi-label), a float (regression), or an int64 ``(tokens,)``
            array of predicted tag ids of the window's labelled tokens (token classification).
        """
        out: list = [None] * num_rows
        for epoch in self.epochs:
            record = self.records[epoch]
            if self.task == "token_classification":
                parts = np.split(record.prediction, np.cumsum(record.token_counts)[:-1])
                for row, part in zip(record.rows, parts):
                    out[row] = part
                continue
            for row, value in zip(record.rows, record.prediction):
                out[row] = value.item() if np.ndim(value) == 0 else value
        return out

    def token_probabilities(self, num_rows: int) -> list[list[np.ndarray | None]]:
        """Token classification: per epoch and window, the probability of the given tag of each labelled token.

        Args:
            num_rows: Windows of the training dataset.

        Returns:
            ``[epoch][window]`` float32 ``(labelled_tokens,)`` arrays, None where the window was not seen.
        """
        out = []
        for epoch in self.epochs:
            record = self.records[epoch]
            per_window: list[np.ndarray | None] = [None] * num_rows
            for row, part in zip(record.rows, np.split(record.token_prob, np.cumsum(record.token_counts)[:-1])):
                per_window[row] = part
            out.append(per_window)
        return out


def _window_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean of each window's run of ``values`` (``counts`` long each); NaN for a window without labelled tokens."""
    sums = np.bincount(np.repeat(np.arange(len(counts)), counts), weights=values.astype(np.float64), minlength=len(counts))
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
