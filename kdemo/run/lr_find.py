"""The LR finder of a run, owned here for every door (the Train tab's job, ``python -m kdemo lr-find``).

prepare a fresh model for the run's config and data → the learning-rate range test (Smith 2015, see
:meth:`kdemo.training.lr_find.LRFinderMixin.lr_find`) → suggested rates → the plot; the model's weights are restored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kdemo.errors import KdemoError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.run.config import TrainConfig
from kdemo.run.data import RunData
from kdemo.run.pipeline import prepare
from kdemo.training.callbacks import ProgressEvent, ProgressReporter

#: Optimizer steps of the range test when the door does not say.
LR_FIND_STEPS = 100


@dataclass
class LRFindResult:
    """The outcome of :func:`lr_find`.

    Attributes:
        lrs: Learning rate of each step (per optimizer step), rising exponentially.
        losses: Training loss of each step.
        suggestions: ``{"min_loss_div10": lr, "steepest": lr}`` (see :func:`kdemo.training.schedules.suggest_lr`),
            or None when the test recorded too few steps to suggest one (``problem`` says why).
        problem: Why there are no suggestions, or None.
        figure: The matplotlib figure of smoothed loss against learning rate, suggestions marked when there are some.
        learner: The learner it ran on (its weights restored), for more work on the same model.
    """

    lrs: list[float]
    losses: list[float]
    suggestions: dict[str, float] | None
    problem: str | None
    figure: object
    learner: object

    def summary(self) -> str:
        """One markdown sentence with the suggested rates (or why there are none)."""
        if self.suggestions is None:
            return f"No suggestion: {self.problem}"
        return (f"Suggested learning rates: **{self.suggestions['min_loss_div10']:.1e}** (minimum loss ÷ 10) and "
                f"**{self.suggestions['steepest']:.1e}** (steepest descent), clipped to 1e-6…5e-4 for fine-tuning. "
                f"{len(self.losses)} steps; the model's weights were restored.")


def lr_find(config: TrainConfig, data: RunData, *, policy: FolderPolicy = DEFAULT_POLICY,
            num_steps: int = LR_FIND_STEPS, on_step: Callable[[ProgressEvent], None] | None = None, stop=None,
            on_prepared: Callable[[object], None] | None = None) -> LRFindResult | None:
    """Run the learning-rate range test for ``config`` on ``data`` (already read) with a fresh model.

    Args:
        config: The run's settings (model, maxlen, batch size, precision, freezing).
        data: The run's data (:func:`kdemo.run.pipeline.read_data`); nothing is read again.
        policy: Which local model folders ``config.model_name`` may name.
        num_steps: Optimizer steps of the test (at least 2).
        on_step: Called with each step's :class:`~kdemo.training.callbacks.ProgressEvent` (phase ``"train"``).
        stop: A ``threading.Event``: set while the model loads, nothing runs (returns None); set during the test,
            it ends after the current batch.
        on_prepared: Called with the learner once the data is tokenized and the model built.

    Returns:
        The :class:`LRFindResult`, or None when ``stop`` was set before the test started.

    Raises:
        DataError: On unusable data.
        ModelError: If the model cannot be loaded or is refused by ``policy``.
    """
    _, learner = prepare(config, data, policy=policy)
    if stop is not None and stop.is_set():
        return None
    if stop is not None:
        learner.stop_event = stop
    if on_prepared is not None:
        on_prepared(learner)
    steps_only = ProgressReporter(lambda ev: on_step(ev) if on_step is not None and ev.phase == "train" else None,
                                  num_steps, 1)
    learner.lr_find(num_steps=num_steps, verbose=0, callbacks=[steps_only])
    try:
        suggestions, problem = learner.lr_estimate(), None
    except KdemoError:
        suggestions = None
        problem = (f"the LR finder ran only {len(learner.lr_finder.losses)} steps, too few to suggest a rate. Use more "
                   "data or a smaller batch size.")
    figure = learner.lr_plot(suggest=suggestions is not None, return_fig=True)
    return LRFindResult(list(learner.lr_finder.lrs), list(learner.lr_finder.losses), suggestions, problem, figure,
                        learner)
