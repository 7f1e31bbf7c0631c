"""Record the learning rate and momentum of every optimizer step, for ktrain's per-step ``history``."""

from __future__ import annotations

import keras

from kdemo.training.optimizer import host_learning_rate


class StepTrace(keras.callbacks.Callback):
    """Read the optimizer's learning rate and Adam's ``beta_1`` before each training batch.

    ktrain's ``fit_onecycle`` and ``autofit`` (``ktrain/core.py``, ``ktrain/lroptimize/triangular.py``) store the
    per-iteration values in ``history.history["lr"]``, ``["momentum"]`` and ``["iterations"]``; the learner copies
    :attr:`lrs`, :attr:`momenta` and :attr:`iterations` there after the fit. Place it after the callbacks that set
    the learning rate and momentum, so it sees the values the step uses.

    Attributes:
        lrs: Learning rate of each step, per optimizer step.
        momenta: ``beta_1`` of each step (empty when the optimizer has none).
        iterations: 1-based step numbers.
    """

    def __init__(self):
        super().__init__()
        self.lrs: list[float] = []
        self.momenta: list[float] = []
        self.iterations: list[int] = []

    def on_train_begin(self, logs=None):
        self.lrs, self.momenta, self.iterations = [], [], []  # a retry after an out-of-memory back-off starts over

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        self.lrs.append(host_learning_rate(optimizer))  # no device read with FusedAdamW
        beta_1 = getattr(optimizer, "beta_1", None)
        if beta_1 is not None:
            self.momenta.append(beta_1 if isinstance(beta_1, float) else float(keras.ops.convert_to_numpy(beta_1)))
        self.iterations.append(len(self.lrs))

    def store(self, history: keras.callbacks.History) -> keras.callbacks.History:
        """Put the per-step traces into ``history.history`` (``lr``, ``momentum``, ``iterations``), as ktrain does."""
        history.history["lr"] = list(self.lrs)
        history.history["momentum"] = list(self.momenta)
        history.history["iterations"] = list(self.iterations)
        return history
