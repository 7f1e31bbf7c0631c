"""Log the optimizer's learning rate at the end of each epoch under Keras' key, ``learning_rate``."""

from __future__ import annotations

import keras

from kdemo.training.optimizer import host_learning_rate


class LearningRateLogger(keras.callbacks.Callback):
    """Add ``logs["learning_rate"]`` at the end of every epoch, so ``history.history["learning_rate"]`` exists.

    The value is the optimizer's learning rate at that moment (per optimizer step), read as Keras'
    ``LearningRateScheduler`` reads it for the same key; it is the rate of the epoch's last step when a per-batch
    schedule sets it. (ktrain's per-step ``lr`` trace is kept by the schedule callbacks.) One host read per epoch.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = host_learning_rate(self.model.optimizer)
