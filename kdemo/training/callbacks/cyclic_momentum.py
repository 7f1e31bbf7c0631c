"""Cycle Adam's momentum inversely to a triangular learning rate, as ktrain's ``autofit`` does."""

from __future__ import annotations

from collections.abc import Callable

import keras

from kdemo.training.optimizer import host_learning_rate


class CyclicMomentum(keras.callbacks.Callback):
    """Set ``beta_1`` before each batch from where the learning rate sits in its cycle.

    ktrain's ``CyclicLR`` (``ktrain/lroptimize/triangular.py``, after Smith 2018, https://arxiv.org/abs/1803.09820)
    moves momentum opposite to the learning rate: ``max_momentum`` at the cycle's lowest rate, ``min_momentum``
    at its peak. Place it after the callback that sets the learning rate.

    Args:
        peak: Returns the cycle's current peak learning rate (it drops on plateaus), per optimizer step.
        div_factor: The cycle's lowest rate is ``peak / div_factor``.
        max_momentum: ``beta_1`` at the lowest rate.
        min_momentum: ``beta_1`` at the peak.
    """

    def __init__(self, peak: Callable[[], float], *, div_factor: float = 10.0, max_momentum: float = 0.95,
                 min_momentum: float = 0.85):
        super().__init__()
        if not 0 <= min_momentum <= max_momentum < 1:
            raise ValueError(f"Expected 0 <= min_momentum <= max_momentum < 1. Received: min_momentum={min_momentum}, "
                             f"max_momentum={max_momentum}.")
        self.peak = peak
        self.div_factor = div_factor
        self.max_momentum = max_momentum
        self.min_momentum = min_momentum

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "beta_1"):
            return
        high = float(self.peak())
        low = high / self.div_factor
        lr = host_learning_rate(optimizer)  # no device read with FusedAdamW
        frac = min(max((lr - low) / max(high - low, 1e-30), 0.0), 1.0)
        optimizer.beta_1 = self.max_momentum - frac * (self.max_momentum - self.min_momentum)
