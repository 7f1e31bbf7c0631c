"""One-cycle learning-rate and momentum policy as a Keras callback."""

from __future__ import annotations

import keras

from kdemo.training.schedules import one_cycle_lr, one_cycle_momentum


class OneCycle(keras.callbacks.Callback):
    """Set the optimizer's learning rate (and Adam's beta_1) before every training batch.

    The values come from :func:`kdemo.training.schedules.one_cycle_lr` and :func:`kdemo.training.schedules.one_cycle_momentum`
    (Smith & Topin 2017, https://arxiv.org/abs/1708.07120). The learning rate and momentum used at each step
    are recorded in :attr:`lrs` and :attr:`momenta` and added to the epoch logs as ``lr`` and ``momentum``.

    Args:
        max_lr: Peak learning rate, per optimizer step.
        total_steps: Optimizer steps in the whole run.
        pct_start: Fraction 0–1 of the steps spent warming up.
        cycle_momentum: Whether to cycle beta_1 between ``max_momentum`` and ``min_momentum``.
        max_momentum: beta_1 at the start and the end.
        min_momentum: beta_1 at the learning-rate peak.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        *,
        pct_start: float = 0.1,
        cycle_momentum: bool = True,
        max_momentum: float = 0.95,
        min_momentum: float = 0.85,
    ):
        super().__init__()
        if max_lr <= 0:
            raise ValueError(f"Expected a learning rate > 0. Received: max_lr={max_lr}.")
        self.max_lr = float(max_lr)
        self.total_steps = int(total_steps)
        self.pct_start = pct_start
        self.cycle_momentum = cycle_momentum
        self.max_momentum = max_momentum
        self.min_momentum = min_momentum
        self.step = 0
        self.lrs: list[float] = []
        self.momenta: list[float] = []

    @classmethod
    def from_plan(cls, plan: dict, total_steps: int, *, step: int = 0) -> OneCycle:
        """The schedule a ``fit_onecycle`` plan describes: the one function that builds it for a new fit and
        for :meth:`~kdemo.training.resume.ResumeMixin.resume` (which rebuilds it from the checkpoint's plan).

        Args:
            plan: The fit's plan (``lr``, ``pct_start``, ``cycle_momentum``, ``max_momentum``, ``min_momentum``),
                as ``Learner.fit_onecycle`` writes it into resume checkpoints.
            total_steps: Optimizer steps in the whole run.
            step: Steps already taken (a resumed run continues the cycle there).

        Returns:
            The callback.
        """
        schedule = cls(plan["lr"], int(total_steps), pct_start=plan["pct_start"], cycle_momentum=plan["cycle_momentum"],
                       max_momentum=plan["max_momentum"], min_momentum=plan["min_momentum"])
        schedule.step = int(step)
        return schedule

    def on_train_batch_begin(self, batch, logs=None):
        step = min(self.step, self.total_steps - 1)
        lr = one_cycle_lr(step, self.total_steps, self.max_lr, pct_start=self.pct_start)
        self.model.optimizer.learning_rate = lr
        self.lrs.append(lr)
        if self.cycle_momentum and hasattr(self.model.optimizer, "beta_1"):
            momentum = one_cycle_momentum(
                step, self.total_steps, pct_start=self.pct_start,
                max_momentum=self.max_momentum, min_momentum=self.min_momentum,
            )
            self.model.optimizer.beta_1 = momentum
            self.momenta.append(momentum)
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.lrs:
            logs["lr"] = self.lrs[-1]
            if self.momenta:
                logs["momentum"] = self.momenta[-1]
