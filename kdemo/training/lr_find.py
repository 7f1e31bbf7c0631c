"""The learning-rate range test (LR finder) of the Learner, with suggestions and a plot."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from kdemo.distributed.context import DistributedError, current
from kdemo.errors import TrainingError
from kdemo.memory import is_out_of_memory
from kdemo.training.callbacks import LRFinder, StopRequest
from kdemo.training.schedules import smooth_losses, suggest_lr


class LRFinderMixin:
    """``lr_find``, ``lr_estimate`` and ``lr_plot`` for :class:`kdemo.training.learner.Learner` (ktrain's names and semantics).

    Relies on the learner's ``model``, ``batch_size``, ``stop_event``, ``_train_batches()``, ``_fresh_optimizer()`` and
    ``release_training_memory()``.
    """

    lr_finder: LRFinder | None = None

    def lr_find(self, start_lr: float = 1e-7, lr_mult: float | None = None, max_epochs: int | None = None, class_weight=None,
                stop_factor: float = 4, show_plot: bool = False, suggest: bool = False, restore_weights_only: bool = False,
                verbose: int = 1, *, end_lr: float = 1.0, num_steps: int = 100,
                callbacks: Sequence[keras.callbacks.Callback] | None = None) -> None:
        """Learning-rate range test: train briefly with an exponentially rising LR, then restore the weights.

        Smith, "Cyclical Learning Rates for Training Neural Networks" (2015, https://arxiv.org/abs/1506.01186).
        The weights and the optimizer state are restored afterwards, so the model is as before.

        Args:
            start_lr: First learning rate, per optimizer step.
            lr_mult: Factor per batch. None derives it from ``end_lr`` and ``num_steps``.
            max_epochs: Upper bound on passes over the training data (None: as many as ``num_steps`` needs).
            class_weight: Single-label: ``{class_id: weight}`` or ``"balanced"``, as in the fit methods.
            stop_factor: Stop once the smoothed loss exceeds this multiple of the best one.
            show_plot: Draw :meth:`lr_plot` at the end.
            suggest: With ``show_plot``, mark suggested learning rates.
            restore_weights_only: Kept for ktrain compatibility; the optimizer state is always reset.
            verbose: 0 silent, 1 Keras progress bar.
            end_lr: Learning rate reached after ``num_steps`` batches when ``lr_mult`` is None.
            num_steps: Maximum batches of the test (at least 20 are needed for suggestions).
            callbacks: Extra Keras callbacks (e.g. a progress reporter).

        Returns:
            None, as ktrain's ``lr_find``. The learning rate and raw training loss of each batch are in
            ``learner.lr_finder.lrs`` and ``learner.lr_finder.losses``; see :meth:`lr_plot` and :meth:`lr_estimate`.

        Raises:
            TrainingError: If arguments are out of range.
        """
        if start_lr <= 0 or end_lr <= start_lr or num_steps < 2:
            raise TrainingError(f"Expected 0 < start_lr < end_lr and num_steps >= 2. Received: start_lr={start_lr}, end_lr={end_lr}, num_steps={num_steps}.")
        if current().is_distributed:
            raise DistributedError("Expected lr_find in one process (each rank's loss differs, so the ranks would stop "
                                   f"at different steps). Received: a run of {current().world_size} ranks. Run lr_find "
                                   "without torchrun, then train with torchrun.")
        lr_mult = lr_mult or (end_lr / start_lr) ** (1.0 / (num_steps - 1))
        train = self._train_batches(self._class_weight(class_weight))
        epochs = math.ceil(num_steps / len(train))
        if max_epochs is not None:
            epochs = min(epochs, max_epochs)
        saved = [w.copy() for w in self.model.get_weights()]
        finder = LRFinder(start_lr, lr_mult, num_steps, stop_factor=stop_factor)
        self._reset_stop()
        self._fresh_optimizer(start_lr)
        try:
            self.model.fit(train, epochs=epochs, verbose=verbose, shuffle=False,  # BatchSequence shuffles, seeded
                           callbacks=[finder, *(callbacks or []), StopRequest(self.stop_event)])
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            raise TrainingError(
                f"Out of memory in the LR finder at batch size {self.batch_size}. Expected a batch to fit on "
                f"{self.model.device_type}. Lower the batch size or maxlen and run it again."
            ) from exc
        finally:
            self.model.set_weights(saved)
            del saved
            self.release_training_memory()
        self.lr_finder = finder
        if verbose:
            print("done.\nVisually inspect loss plot and select learning rate associated with falling loss")
        if show_plot:
            self.lr_plot(suggest=suggest)

    def lr_estimate(self) -> dict[str, float]:
        """Suggested learning rates from the last :meth:`lr_find` (see :func:`kdemo.training.schedules.suggest_lr`).

        Raises:
            TrainingError: If lr_find has not been run or recorded too few steps.
        """
        if self.lr_finder is None or not self.lr_finder.losses:
            raise TrainingError("Expected an LR-finder run first. Received: none yet. Please call lr_find() first.")
        n = len(self.lr_finder.losses)
        try:
            return suggest_lr(self.lr_finder.lrs, smooth_losses(self.lr_finder.losses), n_skip_beginning=min(10, n // 5), n_skip_end=min(5, n // 10))
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc

    def lr_plot(self, n_skip_beginning: int = 10, n_skip_end: int = 5, suggest: bool = False, return_fig: bool = False):
        """Plot smoothed loss against learning rate (log scale) from the last :meth:`lr_find`, on a new pyplot
        figure as ktrain does (``plt.savefig`` saves it; a notebook displays it).

        Args:
            n_skip_beginning: Batches left out at the start.
            n_skip_end: Batches left out at the end.
            suggest: Mark the suggested learning rates (:meth:`lr_estimate`), clipped to a fine-tuning range.
            return_fig: Return the matplotlib Figure instead of displaying it (in a notebook).

        Returns:
            A ``matplotlib.figure.Figure`` when ``return_fig`` is True, else None.

        Raises:
            TrainingError: If lr_find has not been run.
        """
        from kdemo.plots import lr_finder_figure, show_figure

        if self.lr_finder is None or not self.lr_finder.losses:
            raise TrainingError("Expected an LR-finder run first. Received: none yet. Please call lr_find() first.")
        suggestions = self.lr_estimate() if suggest else None
        fig = lr_finder_figure(self.lr_finder.lrs, smooth_losses(self.lr_finder.losses), suggestions, n_skip_beginning,
                               n_skip_end, pyplot=not return_fig)
        return show_figure(fig, return_fig)

