"""Remember the weights of the best epoch so far, to fall back on when training is stopped part-way."""

from __future__ import annotations

import math

import keras
import numpy as np


class BestWeights(keras.callbacks.Callback):
    """Keep a host-memory copy of the weights after the epoch with the lowest ``monitor`` value.

    Unlike ``keras.callbacks.EarlyStopping(restore_best_weights=True)`` this never stops or restores by itself:
    the learner calls :meth:`restore` when the user stopped training mid-epoch and the weights at that moment
    validate worse than the best finished epoch. The copy costs one model's size in host memory during training;
    :meth:`clear` frees it.

    Args:
        monitor: A quantity of the epoch logs where lower is better (``"val_loss"``).

    Attributes:
        best: The lowest value seen (``inf`` before the first epoch with the quantity).
        best_epoch: 0-based epoch of :attr:`best`, or None.
    """

    def __init__(self, monitor: str = "val_loss"):
        super().__init__()
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch: int | None = None
        self._weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best, self.best_epoch = float(value), epoch
            self._weights = [np.array(w, copy=True) for w in self.model.get_weights()]

    @property
    def has_weights(self) -> bool:
        """Whether a copy was taken."""
        return self._weights is not None

    def restore(self) -> None:
        """Put the best epoch's weights back into the model.

        Raises:
            RuntimeError: If no epoch has ended with the monitored quantity.
        """
        if self._weights is None:
            raise RuntimeError(f"No epoch has logged {self.monitor!r} yet; nothing to restore.")
        self.model.set_weights(self._weights)

    def clear(self) -> None:
        """Drop the copy (frees its host memory)."""
        self._weights = None
