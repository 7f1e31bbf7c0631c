"""ktrain-style Learner: LR finder, one-cycle fit and validation on Keras ``fit`` (torch backend)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import keras
import numpy as np
import torch

from kdemo.callbacks import LRFinder, OneCycle, ProgressEvent, ProgressReporter, StopRequest
from kdemo.dataset import BatchSequence, TextDataset
from kdemo.errors import TrainingError
from kdemo.models import HFClassifier
from kdemo.optimizer import FusedAdamW
from kdemo.report import ClassificationReport, classification_metrics
from kdemo.schedules import smooth_losses, suggest_lr


class Learner:
    """Trains an :class:`~kdemo.models.HFClassifier` on a :class:`~kdemo.dataset.TextDataset`.

    Create it with :func:`get_learner`. Batches are length-grouped and dynamically padded
    (:class:`~kdemo.dataset.BatchSequence`); the optimizer is :class:`~kdemo.optimizer.FusedAdamW`.

    Attributes:
        model: The Keras model being trained.
        train_data: Training data.
        val_data: Validation data or None.
        history: The ``keras.callbacks.History`` of the last fit, or None.
        step_losses: Exact training loss of each optimizer step of the last fit.
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and prediction.
    """

    def __init__(
        self,
        model: HFClassifier,
        train_data: TextDataset,
        val_data: TextDataset | None = None,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        *,
        seed: int = 0,
        weight_decay: float = 0.01,
    ):
        if not isinstance(model, HFClassifier):
            raise TypeError(f"Expected model to be a kdemo HFClassifier (from get_classifier()). Received: {type(model).__name__}.")
        if not isinstance(train_data, TextDataset) or len(train_data) == 0 or train_data.labels is None:
            raise TrainingError("Expected labelled training data from preprocess_train() or texts_from_csv(). Received: none or unlabelled data.")
        if batch_size < 1 or eval_batch_size < 1:
            raise TrainingError(f"Expected batch sizes >= 1. Received: batch_size={batch_size}, eval_batch_size={eval_batch_size}.")
        self.model = model
        self.train_data = train_data
        self.val_data = val_data
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.seed = seed
        self.weight_decay = weight_decay
        self.history: keras.callbacks.History | None = None
        self.step_losses: list[float] = []
        self.lr_finder: LRFinder | None = None
        self.stop_event = threading.Event()
        self._fit_calls = 0

    # ------------------------------------------------------------------ helpers
    def _train_batches(self, class_weight: dict[int, float] | None = None) -> BatchSequence:
        return BatchSequence(
            self.train_data, self.batch_size, shuffle=True, seed=self.seed + self._fit_calls, class_weight=class_weight
        )

    def _val_batches(self, data: TextDataset | None = None) -> BatchSequence | None:
        data = data if data is not None else self.val_data
        return None if data is None or data.labels is None else BatchSequence(data, self.eval_batch_size, shuffle=False)

    def _fresh_optimizer(self, lr: float) -> None:
        """(Re)compile with a new FusedAdamW (learning rate per optimizer step), keeping weights."""
        self.model.compile(
            optimizer=FusedAdamW(learning_rate=lr, weight_decay=self.weight_decay),
            loss=self.model.loss,
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    def request_stop(self) -> None:
        """Ask a running fit or lr_find to stop after the current batch (thread-safe)."""
        self.stop_event.set()

    # ------------------------------------------------------------------ LR finder
    def lr_find(
        self,
        start_lr: float = 1e-7,
        lr_mult: float | None = None,
        max_epochs: int | None = None,
        stop_factor: float = 4,
        show_plot: bool = False,
        suggest: bool = False,
        restore_weights_only: bool = False,
        verbose: int = 1,
        *,
        end_lr: float = 1.0,
        num_steps: int = 100,
        callbacks: Sequence[keras.callbacks.Callback] | None = None,
    ) -> tuple[list[float], list[float]]:
        """Learning-rate range test: train briefly with an exponentially rising LR, then restore the weights.

        Smith, "Cyclical Learning Rates for Training Neural Networks" (2015, https://arxiv.org/abs/1506.01186).
        The weights and the optimizer state are restored afterwards, so the model is as before.

        Args:
            start_lr: First learning rate, per optimizer step.
            lr_mult: Factor per batch. None derives it from ``end_lr`` and ``num_steps``.
            max_epochs: Upper bound on passes over the training data (None: as many as ``num_steps`` needs).
            stop_factor: Stop once the smoothed loss exceeds this multiple of the best one.
            show_plot: Draw :meth:`lr_plot` at the end.
            suggest: With ``show_plot``, mark suggested learning rates.
            restore_weights_only: Kept for ktrain compatibility; the optimizer state is always reset.
            verbose: 0 silent, 1 Keras progress bar.
            end_lr: Learning rate reached after ``num_steps`` batches when ``lr_mult`` is None.
            num_steps: Maximum batches of the test (at least 20 are needed for suggestions).
            callbacks: Extra Keras callbacks (e.g. a progress reporter).

        Returns:
            ``(lrs, losses)``: the learning rate and the raw training loss of each batch, ``num_batches`` each.

        Raises:
            TrainingError: If arguments are out of range.
        """
        if start_lr <= 0 or end_lr <= start_lr or num_steps < 2:
            raise TrainingError(f"Expected 0 < start_lr < end_lr and num_steps >= 2. Received: start_lr={start_lr}, end_lr={end_lr}, num_steps={num_steps}.")
        lr_mult = lr_mult or (end_lr / start_lr) ** (1.0 / (num_steps - 1))
        train = self._train_batches()
        epochs = math.ceil(num_steps / len(train))
        if max_epochs is not None:
            epochs = min(epochs, max_epochs)
        saved = [w.copy() for w in self.model.get_weights()]
        finder = LRFinder(start_lr, lr_mult, num_steps, stop_factor=stop_factor)
        self.stop_event.clear()
        self._fresh_optimizer(start_lr)
        try:
            self.model.fit(train, epochs=epochs, verbose=verbose, callbacks=[finder, StopRequest(self.stop_event), *(callbacks or [])])
        finally:
            self.model.set_weights(saved)
            self.model.optimizer.reset_state()
        self.lr_finder = finder
        if show_plot:
            self.lr_plot(suggest=suggest)
        return list(finder.lrs), list(finder.losses)

    def lr_estimate(self) -> dict[str, float]:
        """Suggested learning rates from the last :meth:`lr_find` (see :func:`kdemo.schedules.suggest_lr`).

        Raises:
            TrainingError: If lr_find has not been run or recorded too few steps.
        """
        if self.lr_finder is None or not self.lr_finder.losses:
            raise TrainingError("Please call lr_find() first.")
        try:
            return suggest_lr(self.lr_finder.lrs, smooth_losses(self.lr_finder.losses), **self._skips())
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc

    def _skips(self) -> dict[str, int]:
        n = len(self.lr_finder.losses)
        return {"n_skip_beginning": min(10, n // 5), "n_skip_end": min(5, n // 10)}

    def lr_plot(self, n_skip_beginning: int = 10, n_skip_end: int = 5, suggest: bool = False, return_fig: bool = False):
        """Plot smoothed loss against learning rate (log scale) from the last :meth:`lr_find`.

        Args:
            n_skip_beginning: Batches left out at the start.
            n_skip_end: Batches left out at the end.
            suggest: Mark the suggested learning rates (:meth:`lr_estimate`).
            return_fig: Return the matplotlib Figure (otherwise None is returned after drawing).

        Returns:
            A ``matplotlib.figure.Figure`` when ``return_fig`` is True.

        Raises:
            TrainingError: If lr_find has not been run.
        """
        from kdemo.plots import lr_finder_figure

        if self.lr_finder is None or not self.lr_finder.losses:
            raise TrainingError("Please call lr_find() first.")
        suggestions = self.lr_estimate() if suggest else None
        fig = lr_finder_figure(self.lr_finder.lrs, smooth_losses(self.lr_finder.losses), suggestions, n_skip_beginning, n_skip_end)
        return fig if return_fig else None

    # ------------------------------------------------------------------ training
    def fit_onecycle(
        self,
        lr: float,
        epochs: int,
        checkpoint_folder: str | None = None,
        cycle_momentum: bool = True,
        max_momentum: float = 0.95,
        min_momentum: float = 0.85,
        class_weight: dict[int, float] | None = None,
        callbacks: Sequence[keras.callbacks.Callback] | None = None,
        steps_per_epoch: int | None = None,
        verbose: int = 1,
        *,
        pct_start: float = 0.1,
        progress: Callable[[ProgressEvent], None] | None = None,
        progress_every: int = 1,
    ) -> keras.callbacks.History:
        """Train with the one-cycle policy (warmup to ``lr``, then cosine decay; momentum cycled inversely).

        Args:
            lr: Peak learning rate, per optimizer step (1e-4 to 5e-5 suits small transformers).
            epochs: Passes over the training data.
            checkpoint_folder: If set, the weights are saved there (``save_pretrained``) after each epoch.
            cycle_momentum: Cycle Adam's beta_1 between ``max_momentum`` and ``min_momentum``.
            max_momentum: beta_1 at the ends of the cycle.
            min_momentum: beta_1 at the LR peak.
            class_weight: Optional ``{class_id: weight}`` applied to the loss.
            callbacks: Extra Keras callbacks.
            steps_per_epoch: Batches per epoch (default: the whole training set).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            pct_start: Warmup fraction 0–1 of the steps.
            progress: Called with a :class:`~kdemo.callbacks.ProgressEvent` every ``progress_every`` steps.
            progress_every: Report interval in steps.

        Returns:
            The Keras ``History``; ``history.history`` holds ``loss``, ``accuracy``, ``lr``, ``momentum`` and, with
            validation data, ``val_loss`` and ``val_accuracy`` per epoch.

        Raises:
            TrainingError: If ``lr`` or ``epochs`` is not positive.
        """
        if not (isinstance(lr, (int, float)) and 0 < lr < 1):
            raise TrainingError(f"Expected a learning rate between 0 and 1 (e.g. 1e-4). Received: lr={lr!r}.")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise TrainingError(f"Expected epochs to be an integer >= 1. Received: epochs={epochs!r}.")
        train = self._train_batches(class_weight)
        steps = min(steps_per_epoch or len(train), len(train))
        total = steps * int(epochs)
        one_cycle = OneCycle(lr, total, pct_start=pct_start, cycle_momentum=cycle_momentum, max_momentum=max_momentum, min_momentum=min_momentum)
        reporter = ProgressReporter(progress, total, int(epochs), every_n_steps=progress_every)
        stop = StopRequest(self.stop_event)
        extra = list(callbacks or [])
        if checkpoint_folder:
            from kdemo.callbacks.checkpoint import PretrainedCheckpoint

            extra.append(PretrainedCheckpoint(checkpoint_folder))
        self.stop_event.clear()
        self._fresh_optimizer(lr)
        self._fit_calls += 1
        try:
            self.history = self.model.fit(
                train,
                epochs=int(epochs),
                steps_per_epoch=steps_per_epoch,
                validation_data=self._val_batches(),
                callbacks=[one_cycle, reporter, stop, *extra],
                verbose=verbose,
            )
        finally:
            self.step_losses = reporter.step_losses
            self.stopped_early = stop.stopped_at_step is not None
        return self.history

    # ------------------------------------------------------------------ evaluation
    def predict(self, val_data: TextDataset | None = None) -> np.ndarray:
        """Class probabilities for the validation (or given) data.

        Returns:
            Float32 array of shape ``(num_rows, num_classes)``, rows in the data's order.
        """
        from kdemo.inference import predict_logits

        data = val_data if val_data is not None else self.val_data
        if data is None:
            raise TrainingError("No validation data: pass val_data to get_learner() or to this call.")
        logits = predict_logits(self.model.hf_model, data, batch_size=self.eval_batch_size)
        return torch.softmax(torch.from_numpy(logits), dim=-1).numpy()

    def validate(
        self,
        val_data: TextDataset | None = None,
        print_report: bool = True,
        class_names: Sequence[str] | None = None,
    ) -> ClassificationReport:
        """Evaluate on validation data: accuracy, macro-F1, per-class table and confusion matrix.

        Args:
            val_data: Data to evaluate (default: the learner's validation data).
            print_report: Print the report.
            class_names: Label names in id order (default: those of the data).

        Returns:
            A :class:`~kdemo.report.ClassificationReport`.

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        data = val_data if val_data is not None else self.val_data
        if data is None or data.labels is None:
            raise TrainingError("No labelled validation data: pass val_data to get_learner() or to validate().")
        probs = self.predict(data)
        names = list(class_names) if class_names else list(data.class_names)
        report = classification_metrics(data.labels, probs.argmax(axis=1), names)
        if print_report:
            print(report)
        return report


def get_learner(
    model: HFClassifier,
    train_data: TextDataset | None = None,
    val_data: TextDataset | None = None,
    batch_size: int = 32,
    eval_batch_size: int = 64,
    **kwargs,
) -> Learner:
    """Create a :class:`Learner` (ktrain's ``get_learner``).

    Args:
        model: From :meth:`kdemo.Transformer.get_classifier`.
        train_data: From ``preprocess_train`` or ``texts_from_csv``.
        val_data: Optional validation data.
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and prediction.
        **kwargs: ``seed``, ``weight_decay``.

    Returns:
        The learner.

    Raises:
        TypeError: If ``model`` is not an HFClassifier.
        TrainingError: If the data is missing or unlabelled.
    """
    return Learner(model, train_data, val_data, batch_size, eval_batch_size, **kwargs)
