"""ktrain's autofit policy: a triangular learning-rate cycle per epoch, with the peak cut on plateaus."""

from __future__ import annotations

import math

import keras

from kdemo.training.schedules import monitor_mode, triangular_lr


class TriangularPolicy(keras.callbacks.Callback):
    """One triangular learning-rate cycle per epoch; divide the peak by ``reduce_factor`` when ``monitor`` stalls.

    Keras' own ``ReduceLROnPlateau`` writes the optimizer's learning rate, which a per-batch policy overwrites,
    so the plateau rule here lowers the policy's peak instead (as ktrain's ``autofit`` does).

    Args:
        max_lr: Peak learning rate, per optimizer step.
        steps_per_epoch: Batches per epoch (one cycle).
        reduce_on_plateau: Epochs without improvement of ``monitor`` before the peak is reduced; None disables.
        reduce_factor: Divisor applied to the peak.
        monitor: Epoch-log key to watch (``"val_loss"`` is minimised; names containing ``acc`` or ``f1`` are
            maximised).

    Attributes:
        lrs: Learning rate of each step.
        peaks: Peak learning rate of each epoch.
    """

    def __init__(self, max_lr: float, steps_per_epoch: int, *, reduce_on_plateau: int | None = 2, reduce_factor: float = 2.0, monitor: str = "val_loss"):
        super().__init__()
        self.max_lr = float(max_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.reduce_on_plateau = reduce_on_plateau
        self.reduce_factor = reduce_factor
        self.monitor = monitor
        self.maximise = monitor_mode(monitor) == "max"
        self.step = 0
        self.lrs: list[float] = []
        self.peaks: list[float] = []
        self._best = -math.inf if self.maximise else math.inf
        self._wait = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.peaks.append(self.max_lr)

    def on_train_batch_begin(self, batch, logs=None):
        lr = triangular_lr(self.step, self.steps_per_epoch, self.max_lr)
        self.model.optimizer.learning_rate = lr
        self.lrs.append(lr)
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["lr"] = self.peaks[-1]
        value = logs.get(self.monitor)
        if value is None or self.reduce_on_plateau is None:
            return
        improved = value > self._best if self.maximise else value < self._best
        if improved:
            self._best, self._wait = value, 0
            return
        self._wait += 1
        if self._wait >= self.reduce_on_plateau:
            self.max_lr /= self.reduce_factor
            self._wait = 0
