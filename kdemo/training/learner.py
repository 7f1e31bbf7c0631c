"""ktrain-style Learner: LR finder, one-cycle / autofit / SGDR training and validation on Keras ``fit``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import keras
import numpy as np

from kdemo.data.bert_arrays import as_dataset
from kdemo.data.dataset import BatchSequence, TextDataset
from kdemo.distributed.context import check_batch_size, setup, to_local_device
from kdemo.distributed.gradients import GradientSync
from kdemo.distributed.sharding import ShardedBatchSequence
from kdemo.errors import TrainingError
from kdemo.modeling import freezing as layers
from kdemo.modeling.classifier import HFClassifier, compile_classifier
from kdemo.tasks import TaskSpec, spec_for
from kdemo.training.callbacks import OneCycle, ProgressEvent
from kdemo.training.callbacks.cyclic_momentum import CyclicMomentum
from kdemo.training.callbacks.lr_schedule import StepSchedule
from kdemo.training.callbacks.resume_checkpoint import DEFAULT_CHECKPOINT_EVERY_S
from kdemo.training.callbacks.step_trace import StepTrace
from kdemo.training.callbacks.triangular import TriangularPolicy
from kdemo.training.evaluator import EvaluationMixin, Evaluator
from kdemo.training.fit_loop import FitLoopMixin, batches_per_epoch
from kdemo.training.lr_find import LRFinderMixin
from kdemo.training.optimizer import FusedAdamW
from kdemo.training.persistence import PersistenceMixin
from kdemo.training.resume import ResumeMixin
from kdemo.training.schedules import monitor_mode, sgdr_cycle_epochs
from kdemo.training.settings import SettingsMixin

ClassWeight = dict[int, float] | str | None
#: Fraction of the transformer blocks frozen (with the embeddings) by ``get_learner`` unless ``freeze_lower`` is
#: given: none. Every layer trains, as in ktrain and HF Trainer.
DEFAULT_FREEZE_LOWER = 0.0
#: The faster option the Train tab offers ("freeze lower layers"): a third of the blocks with the embeddings. It
#: trains in 0.63-0.77x the time of every layer (``python -m bench.freezing``: SST-2 0.63x at -0.1 pt accuracy, AG
#: News 0.77x at +0.2 pt, SMS spam 0.73x at -1.3 pt; bench/RESULTS.md). Pass ``freeze_lower=FAST_FREEZE_LOWER``.
FAST_FREEZE_LOWER = 1 / 3
#: What :meth:`Learner.find_label_issues` runs ("module:function").
LEARNER_LABEL_ISSUES = "kdemo.run.label_issues.learner_issues:learner_label_issues"


class Learner(FitLoopMixin, ResumeMixin, LRFinderMixin, EvaluationMixin, PersistenceMixin, SettingsMixin):
    """Trains an :class:`~kdemo.modeling.classifier.HFClassifier` on a :class:`~kdemo.data.dataset.TextDataset`.

    Create it with :func:`get_learner`. Batches are length-grouped and dynamically padded
    (:class:`~kdemo.data.dataset.BatchSequence`); the optimizer is :class:`~kdemo.training.optimizer.FusedAdamW`. Every fit
    method takes ``class_weight`` (single-label: a ``{class_id: weight}`` dict or ``"balanced"``), a ``progress``
    function receiving :class:`~kdemo.training.callbacks.ProgressEvent`, and honours :meth:`request_stop`.

    Attributes:
        model: The Keras model being trained.
        train_data: Training data.
        val_data: Validation data or None.
        history: The ``keras.callbacks.History`` of the last fit, or None.
        step_losses: Exact training loss of each optimizer step of the last fit.
        stopped_early: Whether the last fit ended on :meth:`request_stop`.
        restored_best_epoch: The 0-based epoch whose weights the model holds when they are not the last epoch's (after a
            stop part-way, or early stopping's restored best), else None.
        accumulation_steps: Batches per optimizer step (1 unless an out-of-memory back-off raised it).
        notices: Messages for the user from the last fits (e.g. out-of-memory retries).
        training_dynamics: The last fit's :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics`
            recorder, or None (set ``record_training_dynamics = True`` to attach one to every fit).
        thresholds: Multi-label: per-label probability thresholds tuned by the last :meth:`validation_report`.
        evaluator: The task's evaluation strategy (``spec.load("evaluator")``, see
            :mod:`kdemo.training.evaluator`): it answers ``predict``, ``validate``, ``top_losses``, … and resolves
            each fit's ``class_weight``.
        frozen_blocks: Transformer blocks frozen at creation (with the embeddings), from ``freeze_lower``.
        dist: This process's :class:`~kdemo.distributed.context.DistributedContext`. Under torchrun with N ranks,
            ``batch_size`` is the global batch: each rank trains on its slice of every batch and the gradients are
            averaged, so the run equals one process's (see :mod:`kdemo.distributed`).
    """

    def __init__(self, model: HFClassifier, train_data: TextDataset, val_data: TextDataset | None = None,
                 batch_size: int = 32, eval_batch_size: int = 64, *, seed: int = 0, weight_decay: float | None = None,
                 freeze_lower: float | None = None):
        train_data, val_data = as_dataset(train_data, model), as_dataset(val_data, model)
        if not isinstance(model, HFClassifier):
            raise TypeError(f"Expected model to be a kdemo HFClassifier (from get_classifier()). Received: {type(model).__name__}.")
        if not callable(getattr(train_data, "collate", None)) or len(train_data) == 0 or train_data.labels is None:
            raise TrainingError("Expected labelled training data from preprocess_train() or texts_from_csv(). Received: none or unlabelled data.")
        if batch_size < 1 or eval_batch_size < 1:
            raise TrainingError(f"Expected batch sizes >= 1. Received: batch_size={batch_size}, eval_batch_size={eval_batch_size}.")
        self.dist = setup()  # joins torchrun's process group, if launched by torchrun
        check_batch_size(int(batch_size), self.dist.world_size)
        to_local_device(model.hf_model)
        self.model = model
        self.train_data = train_data
        self.val_data = val_data
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.seed = seed
        self.weight_decay = weight_decay  # None: plain Adam, as ktrain's default optimizer (get_weight_decay -> None)
        train_data.batch_size = self.batch_size  # ktrain's get_learner sets the dataset's batch size too
        freeze_lower = DEFAULT_FREEZE_LOWER if freeze_lower is None else freeze_lower
        try:
            self.frozen_blocks = layers.freeze_lower(model, float(freeze_lower))
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"Expected freeze_lower to be a fraction between 0 and 1 (0 trains every layer). "
                                f"Received: {freeze_lower!r}.") from exc
        self.freeze_lower = float(freeze_lower)
        self.thresholds: list[float] | None = None
        self.lr_finder = None
        self.evaluator: Evaluator = self.spec.load("evaluator")(self)
        self._init_fit_loop()
        self._keep_original_weights()

    @property
    def task(self) -> str:
        """The model's task: ``"single_label"``, ``"multi_label"``, ``"regression"`` or ``"token_classification"``."""
        return self.model.task

    @property
    def spec(self) -> TaskSpec:
        """The :class:`~kdemo.tasks.TaskSpec` of the model's task."""
        return spec_for(self.model.task)

    # ------------------------------------------------------------------ plumbing
    def _class_weight(self, class_weight: ClassWeight) -> dict[int, float] | None:
        """The fit's ``class_weight`` as the task's evaluator resolves it (once per fit)."""
        return self.evaluator.class_weight(class_weight)

    def balanced_class_weight(self) -> dict[int, float]:
        """``n / (n_classes * count_of_class)`` per class (or tag) id of the training data (scikit-learn's
        ``"balanced"`` rule; rows of a table, labelled words of a token file)."""
        return self.evaluator.balanced_class_weight()

    def _train_batches(self, class_weight: dict[int, float] | None = None) -> BatchSequence:
        seed = self.seed + self._fit_calls
        if self.dist.is_distributed:  # this rank's slice of the global batches one process would see
            return ShardedBatchSequence(self.train_data, self.batch_size, rank=self.dist.rank, world_size=self.dist.world_size,
                                        shuffle=True, seed=seed, class_weight=class_weight,
                                        tag_weights=getattr(self.model, "tag_weights", None))
        return BatchSequence(self.train_data, self.batch_size, shuffle=True, seed=seed, class_weight=class_weight)

    def _val_batches(self) -> BatchSequence | None:
        data = self.val_data
        return None if data is None or data.labels is None else BatchSequence(data, self.eval_batch_size, shuffle=False)

    def _fresh_optimizer(self, lr: float) -> None:
        """(Re)compile with a new FusedAdamW (learning rate per optimizer step), keeping the weights."""
        accumulation = self.accumulation_steps if self.accumulation_steps > 1 else None  # Keras: None or >= 2
        optimizer = FusedAdamW(learning_rate=lr, weight_decay=self.weight_decay, gradient_accumulation_steps=accumulation)
        if self.dist.is_distributed:
            optimizer.gradient_sync = GradientSync(self.stop_event)
        compile_classifier(self.model, optimizer)

    @staticmethod
    def _check_lr_epochs(lr, epochs, *, allow_none_epochs: bool = False) -> None:
        if not (isinstance(lr, (int, float)) and 0 < lr < 1):
            raise TrainingError(f"Expected a learning rate between 0 and 1 (e.g. 1e-4). Received: lr={lr!r}.")
        if epochs is None and allow_none_epochs:
            return
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise TrainingError(f"Expected epochs to be an integer >= 1. Received: epochs={epochs!r}.")

    # ------------------------------------------------------------------ training
    def fit_onecycle(self, lr: float, epochs: int, checkpoint_folder: str | None = None, cycle_momentum: bool = True,
                     max_momentum: float = 0.95, min_momentum: float = 0.85, class_weight: ClassWeight = None,
                     callbacks: Sequence[keras.callbacks.Callback] | None = None, steps_per_epoch: int | None = None,
                     verbose: int = 1, *, pct_start: float = 0.1, progress: Callable[[ProgressEvent], None] | None = None,
                     progress_every: int = 1, checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S) -> keras.callbacks.History:
        """Train with the one-cycle policy (warmup to ``lr``, then cosine decay; momentum cycled inversely).

        Args:
            lr: Peak learning rate, per optimizer step (1e-4 to 5e-5 suits small transformers).
            epochs: Passes over the training data.
            checkpoint_folder: If set, the weights are saved there (``save_pretrained``, ``epoch-N``) after each
                epoch, as in ktrain, and a resume checkpoint (``resume/``) after each epoch, every
                ``checkpoint_every_s`` seconds and on a stop: :meth:`resume` continues the run from it.
            cycle_momentum: Cycle Adam's beta_1 between ``max_momentum`` and ``min_momentum``.
            max_momentum: beta_1 at the ends of the cycle.
            min_momentum: beta_1 at the LR peak.
            class_weight: Single-label ``{class_id: weight}``, token classification ``{tag_id: weight}``, or ``"balanced"``.
            callbacks: Extra Keras callbacks.
            steps_per_epoch: Batches per epoch (default: the whole training set).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            pct_start: Warmup fraction 0–1 of the steps.
            progress: Called with a :class:`~kdemo.training.callbacks.ProgressEvent` every ``progress_every`` steps.
            progress_every: Report interval in steps.
            checkpoint_every_s: With ``checkpoint_folder``: most seconds between two resume checkpoints within an
                epoch (0: after every optimizer step).

        Returns:
            The Keras ``History``: ``loss``, the metric and, with validation data, ``val_loss`` and the validation
            metric per epoch; ``lr``, ``momentum`` and ``iterations`` per optimizer step, as ktrain stores them
            (``max(history.history["lr"]) == lr``).

        Raises:
            TrainingError: If ``lr`` or ``epochs`` is out of range, or ``class_weight`` does not fit the task.
        """
        self._check_lr_epochs(lr, epochs)

        cw = self._class_weight(class_weight)
        plan = {"method": "fit_onecycle", "lr": float(lr), "epochs": int(epochs), "pct_start": pct_start,
                "cycle_momentum": cycle_momentum, "max_momentum": max_momentum, "min_momentum": min_momentum,
                "class_weight": {str(k): v for k, v in cw.items()} if cw else None}

        def schedule_for(train):
            return OneCycle.from_plan(plan, batches_per_epoch(train, steps_per_epoch) * int(epochs))
        return self._traced_fit(lr, epochs, schedule_for, [], class_weight=cw, callbacks=callbacks,
                                steps_per_epoch=steps_per_epoch, verbose=verbose, progress=progress, progress_every=progress_every,
                                checkpoint_folder=checkpoint_folder, plan=plan, checkpoint_every_s=checkpoint_every_s)

    def _traced_fit(self, lr, epochs, schedule_for, policy_callbacks: list, *, callbacks, **kwargs) -> keras.callbacks.History:
        """``_run_fit`` with ``policy_callbacks`` (run right after the schedule) and ktrain's per-step trace stored in
        the history (see :class:`~kdemo.training.callbacks.step_trace.StepTrace`)."""
        trace, schedules = StepTrace(), []

        def traced_schedule(train):
            schedules.append(schedule_for(train))
            return schedules[-1]

        history = self._run_fit(lr, epochs, traced_schedule, callbacks=[*policy_callbacks, trace, *(callbacks or [])], **kwargs)
        exact = getattr(schedules[-1], "lrs", None) if schedules else None
        if exact is not None and len(exact) == len(trace.lrs):
            trace.lrs = [float(v) for v in exact]  # the values the schedule set, before the float32 round trip
        self.history = trace.store(history)
        return self.history

    def autofit(self, lr: float, epochs: int | None = None, early_stopping: int | None = None, reduce_on_plateau: int | None = None,
                reduce_factor: float = 2.0, cycle_momentum: bool = True, max_momentum: float = 0.95, min_momentum: float = 0.85,
                monitor: str = "val_loss", checkpoint_folder: str | None = None,
                class_weight: ClassWeight = None, callbacks: Sequence[keras.callbacks.Callback] | None = None,
                steps_per_epoch: int | None = None, verbose: int = 1, *, max_epochs: int = 1024,
                progress: Callable[[ProgressEvent], None] | None = None, progress_every: int = 1) -> keras.callbacks.History:
        """Train with ktrain's ``autofit`` policy: a triangular LR cycle per epoch, early stopping and plateau cuts.

        With ``epochs=None`` training runs until ``monitor`` stops improving: early stopping after 5 epochs and the
        peak learning rate halved after 2 stalled epochs, unless set otherwise. The best weights (by ``monitor``)
        are restored at the end (``keras.callbacks.EarlyStopping(restore_best_weights=True)``).

        Args:
            lr: Peak learning rate of the triangular cycle, per optimizer step.
            epochs: Epochs to run; None runs until early stopping (at most ``max_epochs``).
            early_stopping: Patience in epochs; None means 5 when ``epochs`` is None, else off.
            reduce_on_plateau: Epochs without improvement before the peak is divided by ``reduce_factor``; None
                means 2 when ``epochs`` is None, else off.
            reduce_factor: Divisor of the peak learning rate on a plateau.
            cycle_momentum: Cycle Adam's beta_1 inversely to the learning rate, as ktrain's ``CyclicLR``.
            max_momentum: beta_1 at the cycle's lowest learning rate.
            min_momentum: beta_1 at the cycle's peak.
            monitor: Validation quantity to watch (``"val_loss"`` or e.g. ``"val_accuracy"``).
            checkpoint_folder: If set, weights are saved there after each epoch.
            class_weight: Single-label ``{class_id: weight}``, token classification ``{tag_id: weight}``, or ``"balanced"``.
            callbacks: Extra Keras callbacks.
            steps_per_epoch: Batches per epoch.
            verbose: Keras verbosity.
            max_epochs: Upper bound when ``epochs`` is None.
            progress: Progress function, as in :meth:`fit_onecycle`.
            progress_every: Report interval in steps.

        Returns:
            The Keras ``History``; ``lr``, ``momentum`` and ``iterations`` hold the per-step trace (as in ktrain).

        Raises:
            TrainingError: If early stopping or plateau reduction is asked for without validation data.
        """
        self._check_lr_epochs(lr, epochs, allow_none_epochs=True)
        if epochs is None:
            early_stopping = 5 if early_stopping is None else early_stopping
            reduce_on_plateau = 2 if reduce_on_plateau is None else reduce_on_plateau
        if (early_stopping or reduce_on_plateau) and self.val_data is None:
            raise TrainingError("Expected validation data for autofit's early stopping or reduce_on_plateau. Received: "
                                "none. Pass val_data to get_learner().")
        cw = self._class_weight(class_weight)

        policies = []

        def policy_for(train):
            policies.append(TriangularPolicy(lr, batches_per_epoch(train, steps_per_epoch), reduce_on_plateau=reduce_on_plateau,
                                             reduce_factor=reduce_factor, monitor=monitor))
            return policies[-1]

        momentum = [CyclicMomentum(lambda: policies[-1].max_lr, max_momentum=max_momentum, min_momentum=min_momentum)] if cycle_momentum else []
        extra = list(callbacks or [])
        stopper = self._early_stopping(early_stopping, monitor, verbose) if early_stopping else None
        history = self._traced_fit(lr, epochs or max_epochs, policy_for, momentum, class_weight=cw,
                                   callbacks=extra + ([stopper] if stopper else []), steps_per_epoch=steps_per_epoch,
                                   verbose=verbose, progress=progress, progress_every=progress_every,
                                   checkpoint_folder=checkpoint_folder)
        self._note_best_epoch(stopper, monitor)
        return history

    def _note_best_epoch(self, stopper: keras.callbacks.EarlyStopping | None, monitor: str) -> None:
        """After a fit with early stopping: which epoch's weights Keras restored (:attr:`restored_best_epoch`), and a
        notice saying so."""
        if stopper is None or stopper.best_weights is None or stopper.best_epoch is None:
            return
        self.restored_best_epoch = int(stopper.best_epoch)
        ran = len((self.history.history if self.history is not None else {}).get("loss", [])) or stopper.best_epoch + 1
        stopped = f"early stopping ended the run after epoch {ran}" if stopper.stopped_epoch > 0 else f"ran {ran} epochs"
        self.notices.append(f"Kept the weights of epoch {stopper.best_epoch + 1}, the best {monitor} "
                            f"({float(stopper.best):.4f}); {stopped}.")

    @staticmethod
    def _early_stopping(patience: int, monitor: str, verbose: int) -> keras.callbacks.EarlyStopping:
        mode = monitor_mode(monitor)
        return keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, mode=mode, restore_best_weights=True,
                                             verbose=min(verbose, 1))

    def fit(self, lr: float, n_cycles: int, cycle_len: int | None = None, cycle_mult: int = 1, lr_decay: float = 1.0,
            checkpoint_folder: str | None = None, early_stopping: int | None = None,
            class_weight: ClassWeight = None, callbacks: Sequence[keras.callbacks.Callback] | None = None,
            steps_per_epoch: int | None = None, verbose: int = 1, *, progress: Callable[[ProgressEvent], None] | None = None,
            progress_every: int = 1) -> keras.callbacks.History:
        """Train at a constant rate, or with SGDR cosine annealing and warm restarts (ktrain's ``fit``).

        With ``cycle_len=None``: ``n_cycles`` epochs at the constant learning rate ``lr``. Otherwise SGDR
        (Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983) through
        ``keras.optimizers.schedules.CosineDecayRestarts``: ``n_cycles`` cosine cycles, the first ``cycle_len``
        epochs long, each next one ``cycle_mult`` times longer.

        Args:
            lr: (Peak) learning rate, per optimizer step.
            n_cycles: Epochs (constant rate) or cycles (SGDR).
            cycle_len: Epochs in the first SGDR cycle; None for a constant rate.
            cycle_mult: Growth factor of the cycle length.
            lr_decay: SGDR: factor applied to the peak learning rate after each cycle (ktrain's ``lr_decay``).
            checkpoint_folder: If set, weights are saved there after each epoch.
            early_stopping: Patience in epochs on ``val_loss``; the best weights are restored (ktrain's
                ``early_stopping``). None: off.
            class_weight: Single-label ``{class_id: weight}``, token classification ``{tag_id: weight}``, or ``"balanced"``.
            callbacks: Extra Keras callbacks.
            steps_per_epoch: Batches per epoch.
            verbose: Keras verbosity.
            progress: Progress function, as in :meth:`fit_onecycle`.
            progress_every: Report interval in steps.

        Returns:
            The Keras ``History``; ``lr``, ``momentum`` and ``iterations`` hold the per-step trace.

        Raises:
            TrainingError: On bad arguments, or ``early_stopping`` without validation data.
        """
        self._check_lr_epochs(lr, n_cycles)
        if early_stopping and self.val_data is None:
            raise TrainingError("Expected validation data for fit(early_stopping=). Received: none. Pass val_data to "
                                "get_learner().")
        cw = self._class_weight(class_weight)
        epochs = n_cycles
        if cycle_len is not None:
            try:
                epochs = sum(sgdr_cycle_epochs(n_cycles, cycle_len, cycle_mult))
            except ValueError as exc:  # bad user input is a TrainingError, like every other fit argument
                raise TrainingError(str(exc)) from exc

        def schedule_for(train):
            if cycle_len is None:
                return StepSchedule(lambda step: lr)
            steps = batches_per_epoch(train, steps_per_epoch)
            return StepSchedule(keras.optimizers.schedules.CosineDecayRestarts(
                lr, first_decay_steps=cycle_len * steps, t_mul=float(cycle_mult), m_mul=float(lr_decay), alpha=0.0))

        stopper = self._early_stopping(early_stopping, "val_loss", verbose) if early_stopping else None
        extra = list(callbacks or []) + ([stopper] if stopper else [])
        history = self._traced_fit(lr, epochs, schedule_for, [], class_weight=cw, callbacks=extra,
                                   steps_per_epoch=steps_per_epoch, verbose=verbose, progress=progress,
                                   progress_every=progress_every, checkpoint_folder=checkpoint_folder)
        self._note_best_epoch(stopper, "val_loss")
        return history

    def find_label_issues(self, **kwargs):
        """Rows whose label the last fit's training dynamics call probably wrong (a data map, Swayamdipta et al. 2020).

        Fit first with ``callbacks=[TrainingDynamics()]`` or ``record_training_dynamics = True``. Loaded by name, as
        task roles are: label issues sit above training.

        Args:
            **kwargs: Passed to :func:`kdemo.run.label_issues.learner_issues.learner_label_issues` (``dynamics``,
                ``texts``, ``seconds``).

        Returns:
            A :class:`~kdemo.run.label_issues.result.LabelIssues` over the learner's training rows.

        Raises:
            TrainingError: If the last fit recorded no training dynamics (the message says how to record them).
            DataError: If the task has no labels to check, or fewer than 2 epochs were recorded.
        """
        module, _, name = LEARNER_LABEL_ISSUES.partition(":")
        return getattr(importlib.import_module(module), name)(self, **kwargs)


def get_learner(model: HFClassifier, train_data: TextDataset | None = None, val_data: TextDataset | None = None,
                batch_size: int = 32, eval_batch_size: int = 64, **kwargs) -> Learner:
    """Create a :class:`Learner` (ktrain's ``get_learner``).

    Args:
        model: From :meth:`kdemo.Transformer.get_classifier`.
        train_data: From ``preprocess_train`` or ``texts_from_csv``.
        val_data: Optional validation data.
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and prediction.
        **kwargs: ``seed``, ``weight_decay`` (None: plain Adam, as in ktrain), and ``freeze_lower``: the fraction
            0–1 of the transformer blocks frozen, with the embeddings, before training (None:
            :data:`DEFAULT_FREEZE_LOWER`, nothing frozen, as in ktrain; :data:`FAST_FREEZE_LOWER`, a third, is the
            Train tab's faster option). ktrain's ``workers``, ``use_multiprocessing`` and ``multigpu`` are accepted
            and ignored.

    Returns:
        The learner.

    Raises:
        TypeError: If ``model`` is not an HFClassifier.
        TrainingError: If the data is missing or unlabelled.
    """
    for ignored in ("workers", "use_multiprocessing", "multigpu"):
        kwargs.pop(ignored, None)
    return Learner(model, train_data, val_data, batch_size, eval_batch_size, **kwargs)
