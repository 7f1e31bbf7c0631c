"""Set the learning rate before every batch from any step -> learning-rate function."""

from __future__ import annotations

from collections.abc import Callable

import keras


class StepSchedule(keras.callbacks.Callback):
    """Set ``optimizer.learning_rate = schedule(step)`` before each training batch and record it.

    Works with pure functions of the step (see :mod:`kdemo.training.schedules`) and with
    ``keras.optimizers.schedules.LearningRateSchedule`` objects (e.g. ``CosineDecayRestarts`` for SGDR).

    Args:
        schedule: Maps the 0-based optimizer step of the run to a learning rate (per optimizer step).

    Attributes:
        lrs: The learning rate used at each step.
    """

    def __init__(self, schedule: Callable[[int], float]):
        super().__init__()
        self.schedule = schedule
        self.step = 0
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        lr = float(keras.ops.convert_to_numpy(self.schedule(self.step)))
        self.model.optimizer.learning_rate = lr
        self.lrs.append(lr)
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.lrs:
            logs["lr"] = self.lrs[-1]
