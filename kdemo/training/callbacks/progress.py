"""Progress reporting: per-batch loss, learning rate, speed and ETA, handed to any function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras

from kdemo.training.callbacks.step_loss import StepLossReader
from kdemo.training.optimizer import host_learning_rate


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    Attributes:
        epoch: 0-based epoch.
        epochs: Number of epochs in the run.
        step: Optimizer steps done so far in the run (1-based). With gradient accumulation an optimizer step is
            ``gradient_accumulation_steps`` batches.
        total_steps: Optimizer steps in the whole run.
        loss: Mean training loss of the optimizer steps since the previous report.
        lr: Learning rate of the last batch, per optimizer step.
        elapsed_s: Seconds since training started.
        eta_s: Estimated seconds left: the remaining optimizer steps at the measured seconds per step, plus the
            validation passes still to come and saving (:func:`eta_seconds`).
        phase: ``"train"`` during batches, ``"epoch_end"`` after an epoch (``logs`` then holds validation metrics).
        logs: The Keras logs at this point.
    """

    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float
    lr: float
    elapsed_s: float
    eta_s: float
    phase: str = "train"
    logs: dict | None = None


#: How much of a training step's time per row a validation pass takes: forward only, where a training step also
#: runs the backward pass (about twice the forward) and the optimizer; used until a validation pass is measured.
EVAL_SHARE_OF_STEP = 1 / 3
#: Bytes per second assumed for writing a model's safetensors (the save at the end of a run).
SAVE_BYTES_PER_S = 100e6


def eta_seconds(*, train_s: float, done_steps: int, remaining_steps: int, val_pass_s: float | None,
                val_rows: int, rows_per_step: int, evals_left: int, save_s: float = 0.0) -> float:
    """Seconds left in a run: training, the validation passes still to come, and saving.

    Args:
        train_s: Seconds spent in training steps so far (validation excluded).
        done_steps: Optimizer steps those seconds cover.
        remaining_steps: Optimizer steps still to run.
        val_pass_s: Seconds of one measured validation pass, or None before the first one (then estimated from
            the training speed: ``val_rows`` rows at :data:`EVAL_SHARE_OF_STEP` of a training row's time).
        val_rows: Validation rows (0: no validation).
        rows_per_step: Rows per optimizer step (the global batch).
        evals_left: Validation passes still to come (one per epoch left, plus any report after the fit).
        save_s: Seconds to save the model at the end.

    Returns:
        The estimate in seconds, >= 0 (0 before the first step).
    """
    if done_steps <= 0:
        return 0.0
    per_step = train_s / done_steps
    if val_pass_s is None:
        val_pass_s = val_rows / max(rows_per_step, 1) * per_step * EVAL_SHARE_OF_STEP if val_rows else 0.0
    return max(per_step * max(remaining_steps, 0) + val_pass_s * max(evals_left, 0) + save_s, 0.0)


class ProgressReporter(keras.callbacks.Callback):
    """Call ``fn(ProgressEvent)`` every ``every_n_steps`` optimizer steps and at the end of each epoch.

    The exact loss of each batch comes from the model's :class:`~kdemo.modeling.step.StepLog`, which keeps the
    losses on the device and reads them in chunks (at least once a second, and at each epoch's end): the events of
    the steps since the last read are then sent together, in order, so no host read happens on the other steps.
    For a model without a step log the loss is recovered per batch from Keras' running epoch mean
    (:class:`StepLossReader`, exact with unequal batch sizes). With gradient accumulation (the optimizer's ``gradient_accumulation_steps``, Keras'
    semantics) an optimizer step is that many batches, counted across epochs as the optimizer counts them; its loss
    is the unweighted mean of its batches' losses (the objective whose averaged gradient the update used). Batches
    of an incomplete last group, which Keras never applies, are not counted. The loss of every optimizer step is
    kept in :attr:`step_losses`, so a loss curve can be drawn from them.

    Args:
        fn: Called with each :class:`ProgressEvent`; None only records losses.
        total_steps: Optimizer steps in the whole run (for the ETA).
        epochs: Number of epochs.
        every_n_steps: Report interval in optimizer steps.
        val_rows: Validation rows evaluated after each epoch (0 when there is none), for the ETA.
        rows_per_step: Rows per optimizer step, for the ETA's validation estimate.
        evals_after_fit: Validation passes that follow the fit (the report of :func:`kdemo.train`), for the ETA.
        save_s: Estimated seconds to save the model after the run, for the ETA.
    """

    def __init__(self, fn: Callable[[ProgressEvent], None] | None, total_steps: int, epochs: int, *, every_n_steps: int = 1,
                 val_rows: int = 0, rows_per_step: int = 0, evals_after_fit: int = 0, save_s: float = 0.0):
        super().__init__()
        self.fn = fn
        self.total_steps = max(int(total_steps), 1)
        self.epochs = epochs
        self.every_n_steps = max(int(every_n_steps), 1)
        self.step_losses: list[float] = []
        self._start = 0.0
        self._first_step = 0
        self._epoch = 0
        self._reader = StepLossReader()
        self._accumulation = 1
        self._group: list[float] = []
        self._since_report: list[float] = []
        self._read_upto = 0
        self.val_rows, self.rows_per_step = int(val_rows), int(rows_per_step)
        self.evals_after_fit, self.save_s = int(evals_after_fit), float(save_s)
        self._val_s: list[float] = []  # measured seconds of each validation pass of this fit
        self._last_batch_end = 0.0
        self._epochs_done = 0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._val_s, self._epochs_done = [], 0
        self._first_step = len(self.step_losses)  # a resumed fit starts with the earlier steps' losses
        self._accumulation = int(getattr(self.model.optimizer, "gradient_accumulation_steps", None) or 1)
        self._group = []
        self._read_upto = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = self._epochs_done = epoch  # a resumed fit starts at a later epoch
        self._reader.reset()

    def _event(self, loss: float, phase: str, logs: dict | None) -> ProgressEvent:
        step = len(self.step_losses)
        elapsed = time.perf_counter() - self._start
        done = step - self._first_step  # steps run by this fit, whose time `elapsed` measures
        evals_left = (self.epochs - self._epochs_done if self.val_rows else 0) + self.evals_after_fit
        eta = eta_seconds(train_s=elapsed - sum(self._val_s), done_steps=done, remaining_steps=self.total_steps - step,
                          val_pass_s=self._val_s[-1] if self._val_s else None, val_rows=self.val_rows,
                          rows_per_step=self.rows_per_step, evals_left=evals_left, save_s=self.save_s)
        lr = host_learning_rate(self.model.optimizer)
        return ProgressEvent(self._epoch, self.epochs, step, self.total_steps, loss, lr, elapsed, eta, phase, logs)

    def _new_losses(self, logs) -> list[float]:
        """Batch losses that arrived since the last call (possibly none, possibly many)."""
        step_log = getattr(self.model, "step_log", None)
        if step_log is None:
            return [self._reader.read(self.model, logs)]
        new = step_log.losses[self._read_upto:]
        self._read_upto = len(step_log.losses)
        return new

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch_end = time.perf_counter()
        for loss in self._new_losses(logs):
            self._add(loss, logs)

    def _add(self, batch_loss: float, logs) -> None:
        self._group.append(batch_loss)
        if len(self._group) < self._accumulation:
            return
        loss = self._group[0] if self._accumulation == 1 else sum(self._group) / self._accumulation
        self._group.clear()
        self.step_losses.append(loss)
        self._since_report.append(loss)
        if self.fn is not None and len(self.step_losses) % self.every_n_steps == 0:
            self.fn(self._event(sum(self._since_report) / len(self._since_report), "train", dict(logs or {})))
            self._since_report = []

    def catch_up(self, logs: dict | None = None) -> list[float]:
        """Read the step losses still on the device now (one host read) and send their events.

        Call it before using :attr:`step_losses` mid-epoch (e.g. a checkpoint callback placed after this one):
        between the step log's reads it lags the batches done by up to a second of steps.

        Returns:
            :attr:`step_losses`, complete up to the last finished batch.
        """
        step_log = getattr(self.model, "step_log", None)
        if step_log is not None:
            step_log.flush()
            for loss in self._new_losses(logs):
                self._add(loss, logs)
        return self.step_losses

    def on_epoch_end(self, epoch, logs=None):
        validated_s = time.perf_counter() - self._last_batch_end  # Keras validates between the last batch and here
        self.catch_up(logs)  # the epoch's last steps, read now (their events come before the validation's)
        if logs and "val_loss" in logs and self._last_batch_end:
            self._val_s.append(validated_s)
        self._epochs_done = epoch + 1
        if self.fn is not None:
            self.fn(self._event(float((logs or {}).get("loss", float("nan"))), "epoch_end", dict(logs or {})))
