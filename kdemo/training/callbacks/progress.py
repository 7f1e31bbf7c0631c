"""Progress reporting: per-batch loss, learning rate, speed and ETA, handed to any function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras

from kdemo.training.callbacks.step_loss import StepLossReader


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
        eta_s: Estimated seconds left (from the seconds per optimizer step so far).
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


class ProgressReporter(keras.callbacks.Callback):
    """Call ``fn(ProgressEvent)`` every ``every_n_steps`` optimizer steps and at the end of each epoch.

    The exact loss of each batch is recovered from Keras' running epoch mean (:class:`StepLossReader`, exact with
    unequal batch sizes). With gradient accumulation (the optimizer's ``gradient_accumulation_steps``, Keras'
    semantics) an optimizer step is that many batches, counted across epochs as the optimizer counts them; its loss
    is the unweighted mean of its batches' losses (the objective whose averaged gradient the update used). Batches
    of an incomplete last group, which Keras never applies, are not counted. The loss of every optimizer step is
    kept in :attr:`step_losses`, so a loss curve can be drawn from them.

    Args:
        fn: Called with each :class:`ProgressEvent`; None only records losses.
        total_steps: Optimizer steps in the whole run (for the ETA).
        epochs: Number of epochs.
        every_n_steps: Report interval in optimizer steps.
    """

    def __init__(self, fn: Callable[[ProgressEvent], None] | None, total_steps: int, epochs: int, *, every_n_steps: int = 1):
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

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._first_step = len(self.step_losses)  # a resumed fit starts with the earlier steps' losses
        self._accumulation = int(getattr(self.model.optimizer, "gradient_accumulation_steps", None) or 1)
        self._group = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._reader.reset()

    def _event(self, loss: float, phase: str, logs: dict | None) -> ProgressEvent:
        step = len(self.step_losses)
        elapsed = time.perf_counter() - self._start
        done = step - self._first_step  # steps run by this fit, whose time `elapsed` measures
        eta = elapsed / done * (self.total_steps - step) if done > 0 else 0.0
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        return ProgressEvent(self._epoch, self.epochs, step, self.total_steps, loss, lr, elapsed, max(eta, 0.0), phase, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._group.append(self._reader.read(self.model, logs))
        if len(self._group) < self._accumulation:
            return
        loss = self._group[0] if self._accumulation == 1 else sum(self._group) / self._accumulation
        self._group.clear()
        self.step_losses.append(loss)
        self._since_report.append(loss)
        if self.fn is not None and len(self.step_losses) % self.every_n_steps == 0:
            self.fn(self._event(sum(self._since_report) / len(self._since_report), "train", dict(logs)))
            self._since_report = []

    def on_epoch_end(self, epoch, logs=None):
        if self.fn is not None:
            self.fn(self._event(float((logs or {}).get("loss", float("nan"))), "epoch_end", dict(logs or {})))
