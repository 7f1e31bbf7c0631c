"""Learning-rate range test (LR finder) as a Keras callback."""

from __future__ import annotations

import math

import keras

from kdemo.training.callbacks.step_loss import StepLossReader
from kdemo.training.schedules import exponential_lr


class LRFinder(keras.callbacks.Callback):
    """Raise the learning rate exponentially each batch and record the loss; stop once the loss diverges.

    Leslie N. Smith, "Cyclical Learning Rates for Training Neural Networks" (2015, https://arxiv.org/abs/1506.01186),
    as in ktrain's ``LRFinder``. Each batch's loss is read right after it (the model's
:attr:`~kdemo.modeling.step.StepLog.every_step`; the test is short), or, for a model without a step log, recovered
exactly from Keras' running epoch mean (:class:`StepLossReader`).

    Args:
        start_lr: Learning rate of the first batch, per optimizer step.
        lr_mult: Factor applied to the learning rate after each batch.
        max_steps: Stop after this many batches.
        stop_factor: Stop when the smoothed loss exceeds ``stop_factor`` times the best smoothed loss.
        beta: Smoothing factor, fraction 0–1, of the stopping rule's moving average.

    Attributes:
        lrs: Learning rate of each recorded batch.
        losses: Raw loss of each recorded batch.
    """

    def __init__(self, start_lr: float, lr_mult: float, max_steps: int, *, stop_factor: float = 4.0, beta: float = 0.98):
        super().__init__()
        if start_lr <= 0 or lr_mult <= 1:
            raise ValueError(f"Expected start_lr > 0 and lr_mult > 1. Received: start_lr={start_lr}, lr_mult={lr_mult}.")
        self.start_lr = start_lr
        self.lr_mult = lr_mult
        self.max_steps = max_steps
        self.stop_factor = stop_factor
        self.beta = beta
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self._avg = 0.0
        self._best = math.inf
        self._reader = StepLossReader()

    def on_train_begin(self, logs=None):
        step_log = getattr(self.model, "step_log", None)
        if step_log is not None:
            step_log.every_step = True  # the stopping rule needs each step's loss at once

    def on_train_end(self, logs=None):
        step_log = getattr(self.model, "step_log", None)
        if step_log is not None:
            step_log.every_step = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reader.reset()

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = exponential_lr(len(self.lrs), self.start_lr, self.lr_mult)

    def on_train_batch_end(self, batch, logs=None):
        step_log = getattr(self.model, "step_log", None)
        loss = step_log.losses[-1] if step_log is not None else self._reader.read(self.model, logs)
        self.lrs.append(exponential_lr(len(self.lrs), self.start_lr, self.lr_mult))
        self.losses.append(loss)
        step = len(self.losses)
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smoothed = self._avg / (1 - self.beta**step)
        if not math.isfinite(loss) or (step > 1 and smoothed > self.stop_factor * self._best):
            self.model.stop_training = True
        self._best = min(self._best, smoothed)
        if step >= self.max_steps:
            self.model.stop_training = True
