"""The core every fit method shares: Keras ``fit`` with the stop flag, out-of-memory back-off and memory release.

Out of memory: the error is caught, the training state is freed, the batch is halved and the gradients of
``accumulation_steps`` batches are averaged (the optimizer's ``gradient_accumulation_steps``, with Keras'
semantics) so that one optimizer step still sees the same number of rows, and the fit starts again (the longest
batch runs first, so this normally happens before the first update). Below a batch of 1 the learner gives up
with a message saying what to change. This is the back-off of Hugging Face Accelerate's
``find_executable_batch_size`` (https://huggingface.co/docs/accelerate/usage_guides/memory), with gradient
accumulation added to keep the effective batch.

Stop: :meth:`FitLoopMixin.request_stop` sets a flag read by :class:`~kdemo.training.callbacks.StopRequest` after each batch.
When a multi-epoch run with validation data is stopped part-way, the weights of the best finished epoch are put
back if they validate better than the weights at the stop.

Steps: progress events, the ETA and ``step_losses`` count optimizer steps; with gradient accumulation above 1
one optimizer step is ``accumulation_steps`` batches (learning-rate schedules still advance per batch, as Keras'
schedules see every batch). ``history.history["learning_rate"]`` holds the learning rate at each epoch's end.
Each step's loss stays on the device and is read in chunks (:class:`kdemo.modeling.step.StepLog`: at least once a
second and at each epoch's end), so a step costs no host synchronisation; the progress events of the steps since the
last read then arrive together, in order, and a stop asked for from one of them takes effect after the batch in
flight.

After every fit the optimizer state, gradients and cached allocator blocks are released, so memory returns to
what the model alone needs (``torch.cuda.memory_allocated`` on a GPU, RSS on a CPU).

Checkpoints and resume: with a ``checkpoint_folder``, the weights are saved after every epoch (``epoch-N``, ktrain's
meaning; copied to host memory on the training thread and written in the background, see
:mod:`kdemo.training.checkpoint_writer`) and, for the fit methods that pass a ``plan`` (``fit_onecycle``), a resume checkpoint is written too
(:class:`~kdemo.training.callbacks.resume_checkpoint.ResumeCheckpoint`); a fit given a ``resume_state`` loads it and
starts where it ended (:mod:`kdemo.training.resume`).

Data parallelism (under torchrun, see :mod:`kdemo.distributed`): every fit starts from rank 0's weights, the
training loss and metrics are those of the global batch on every rank (``GlobalMetrics``), only rank 0 shows
Keras' progress bar and writes checkpoints, and an out-of-memory error ends the run (the ranks cannot
agree on a smaller batch mid-run).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence

import keras

from kdemo.data.dataset import BatchSequence
from kdemo.distributed.context import current
from kdemo.distributed.gradients import broadcast_weights
from kdemo.distributed.sharding import ShardedBatchSequence
from kdemo.errors import TrainingError
from kdemo.memory import is_out_of_memory, release_memory
from kdemo.training.callbacks import ProgressEvent, ProgressReporter, StopRequest
from kdemo.training.callbacks.progress import SAVE_BYTES_PER_S
from kdemo.training.callbacks.best_weights import BestWeights
from kdemo.training.callbacks.global_metrics import GlobalMetrics
from kdemo.training.callbacks.learning_rate_log import LearningRateLogger
from kdemo.training.callbacks.resume_checkpoint import DEFAULT_CHECKPOINT_EVERY_S, ResumeCheckpoint
from kdemo.training.callbacks.training_dynamics import TrainingDynamics
from kdemo.training.checkpoint_state import TrainingState, load_checkpoint, restore_rng
from kdemo.training.checkpoint_writer import CheckpointWriter
from kdemo.training.resume import EpochRemainder, merge_histories

log = logging.getLogger("kdemo.training.learner")

#: Builds the learning-rate schedule callback for a given sequence of training batches.
ScheduleFactory = Callable[[BatchSequence], keras.callbacks.Callback]


def batches_per_epoch(train: BatchSequence, steps_per_epoch: int | None) -> int:
    """Batches one epoch runs: all of ``train``, or ``steps_per_epoch`` of them when that is given and smaller."""
    return min(steps_per_epoch or len(train), len(train))


def _rng_restorer(state: TrainingState, torch_rng) -> keras.callbacks.Callback:
    """Put the checkpoint's random states back when the resumed fit starts, so the dropout masks continue as they
    would have. Keras' torch loop draws a DataLoader seed from torch's generator as each epoch's iteration starts:
    an epoch-boundary checkpoint (taken before that draw) is restored at ``on_train_begin``, after Keras' symbolic
    build; a mid-epoch one (taken after it) right before the first resumed batch, after the remainder's own draw."""
    done = []

    def restore(*_, **__):
        if not done:
            done.append(True)
            restore_rng(state, torch_rng)

    if state.batch:
        return keras.callbacks.LambdaCallback(on_train_batch_begin=restore)
    return keras.callbacks.LambdaCallback(on_train_begin=restore)


class FitLoopMixin:
    """``_run_fit``, ``request_stop`` and ``release_training_memory`` for :class:`kdemo.training.learner.Learner`.

    Relies on the learner's ``model``, ``batch_size``, ``val_data``, ``_train_batches()``, ``_val_batches()`` and
    ``_fresh_optimizer()``.

    Attributes:
        accumulation_steps: Batches whose gradients make one optimizer step (raised by the OOM back-off).
        notices: Messages for the user from the last fits (e.g. an out-of-memory retry), oldest first.
        stop_event: The flag :meth:`request_stop` sets.
    """

    accumulation_steps: int = 1
    #: Write checkpoints in the background (:mod:`kdemo.training.checkpoint_writer`); False writes them on the
    #: training thread, as before (``bench/checkpoint_cost.py`` compares both).
    async_checkpoints: bool = True
    #: Whether ``fit_onecycle(checkpoint_folder=...)`` also writes a resume checkpoint (transformer classifiers);
    #: the learner of plain Keras models saves the per-epoch weights only.
    resumable: bool = True
    #: Attach a fresh :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics` recorder to every fit
    #: (for ``find_label_issues``); a recorder passed in ``callbacks`` is used instead.
    record_training_dynamics: bool = False

    def _init_fit_loop(self) -> None:
        self.accumulation_steps = 1
        self.notices: list[str] = []
        self.stop_event = self._own_stop_event = threading.Event()
        self.history: keras.callbacks.History | None = None
        self.step_losses: list[float] = []
        self.stopped_early = False
        self.restored_best_epoch: int | None = None
        self._fit_calls = 0
        self.training_dynamics: TrainingDynamics | None = None

    def _reset_stop(self) -> None:
        """Clear a stop left over from an earlier fit of this learner. An event the caller assigned
        (``learner.stop_event = event``, as :func:`kdemo.train` does) is the caller's: it is never cleared, so a stop
        set on it before the fit starts ends the fit after its first batch."""
        if self.stop_event is self._own_stop_event:
            self.stop_event.clear()

    def request_stop(self) -> None:
        """Ask a running fit or lr_find to stop after the current batch (thread-safe)."""
        self.stop_event.set()

    @property
    def effective_batch_size(self) -> int:
        """Rows per optimizer step: ``batch_size * accumulation_steps``."""
        return self.batch_size * self.accumulation_steps

    def release_training_memory(self, *, full_collect: bool = True) -> None:
        """Free what training holds beyond the model: Adam's moments, accumulated and per-parameter gradients,
        and cached allocator blocks. The next fit builds a fresh optimizer anyway.

        Args:
            full_collect: Run a full garbage collection (see :func:`kdemo.memory.release_memory`); after a fit that
                ended normally on a CPU the young generations are enough, after an error the traceback's frames
                may hold activations in cycles.
        """
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "reset_state"):
            optimizer.reset_state()
        for variable in self.model.weights:
            value = getattr(variable, "value", None)
            if getattr(value, "grad", None) is not None:
                value.grad = None
        release_memory(self.model.device_type, full_collect=full_collect)

    def _back_off(self, exc: BaseException) -> None:
        """Halve the batch after an out-of-memory error, or raise TrainingError when it is already 1 (the caller
        releases the failed attempt's memory)."""
        effective = self.effective_batch_size
        if self.batch_size <= 1:
            raise TrainingError(
                f"Out of memory even at batch size 1 ({type(exc).__name__}). Expected the model and one text to fit "
                f"on {self.model.device_type}. Use a shorter maxlen, a smaller model, bf16 precision, or a device with "
                "more memory."
            ) from exc
        old = self.batch_size
        self.batch_size = max(1, old // 2)
        self.accumulation_steps = math.ceil(effective / self.batch_size)
        message = (
            f"Out of memory at batch size {old}: retrying with batch size {self.batch_size} × "
            f"{self.accumulation_steps} gradient-accumulation steps (effective batch {self.effective_batch_size})."
        )
        self.notices.append(message)
        log.warning(message)

    def _run_fit(self, lr: float, epochs: int, schedule_for: ScheduleFactory, *, class_weight: dict[int, float] | None,
                 callbacks: Sequence[keras.callbacks.Callback] | None, steps_per_epoch: int | None, verbose: int,
                 progress: Callable[[ProgressEvent], None] | None, progress_every: int,
                 checkpoint_folder: str | None, plan: dict | None = None, resume_state: TrainingState | None = None,
                 checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S) -> keras.callbacks.History:
        """Run ``model.fit`` with the shared callbacks, retrying with smaller batches on out-of-memory errors.

        Args:
            lr: Learning rate the optimizer starts with (the schedule then sets it per step).
            epochs: Epochs to run.
            schedule_for: Builds the schedule callback for the batches (called again after a back-off).
            class_weight: ``{class_id: weight}`` or None (already resolved).
            callbacks: Extra callbacks.
            steps_per_epoch: Batches per epoch, or None for all.
            verbose: Keras verbosity.
            progress: Progress function.
            progress_every: Report interval in steps.
            checkpoint_folder: Folder for per-epoch ``save_pretrained`` checkpoints, or None.
            plan: How a resumable fit method was called (``method``, ``lr``, ``epochs``, schedule arguments); with
                ``checkpoint_folder``, resume checkpoints are written too (:class:`ResumeCheckpoint`).
            resume_state: Continue from the resume checkpoint in ``checkpoint_folder`` at this position.
            checkpoint_every_s: Most seconds between two resume checkpoints within an epoch.

        Returns:
            The Keras ``History``.

        Raises:
            TrainingError: If memory runs out even at batch size 1.
        """
        self._reset_stop()
        self.restored_best_epoch = None
        dist = current()
        broadcast_weights([w.value for w in self.model.weights])  # every rank starts from rank 0's weights
        while True:
            train = self._train_batches(class_weight)
            failed = True
            try:
                history = self._fit_once(lr, epochs, train, schedule_for(train), callbacks=callbacks, steps_per_epoch=steps_per_epoch,
                                         verbose=verbose, progress=progress, progress_every=progress_every,
                                         checkpoint_folder=checkpoint_folder, plan=plan, resume_state=resume_state,
                                         checkpoint_every_s=checkpoint_every_s)
                failed = False
                return history
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                if dist.is_distributed:  # the ranks cannot agree on a back-off mid-run
                    raise TrainingError(
                        f"Out of memory on rank {dist.rank} of {dist.world_size} ({type(exc).__name__}). Expected one "
                        f"slice of the global batch ({self.batch_size} rows / {dist.world_size} ranks) to fit. Use a "
                        "smaller batch size, a shorter maxlen or bf16 precision; the run stops on every rank."
                    ) from exc
                self._back_off(exc)
            finally:
                self.release_training_memory(full_collect=failed)

    def _fit_once(self, lr, epochs, train: BatchSequence, schedule, *, callbacks, steps_per_epoch, verbose, progress,
                  progress_every, checkpoint_folder, plan=None, resume_state=None,
                  checkpoint_every_s=DEFAULT_CHECKPOINT_EVERY_S) -> keras.callbacks.History:
        # Optimizer steps, the unit of progress events and the ETA: with accumulation, a step is
        # `accumulation_steps` batches, and Keras drops an incomplete group at the end.
        total = batches_per_epoch(train, steps_per_epoch) * int(epochs) // self.accumulation_steps
        main = current().is_main  # other ranks of a data-parallel run print and write nothing
        verbose = verbose if main else 0
        weights = sum(w.value.numel() * w.value.element_size() for w in self.model.weights)  # bytes saved at the end
        reporter = ProgressReporter(progress, total, int(epochs), every_n_steps=progress_every,
                                    val_rows=len(self.val_data) if self.val_data is not None else 0,
                                    rows_per_step=self.batch_size, evals_after_fit=1 if self.val_data is not None else 0,
                                    save_s=weights / SAVE_BYTES_PER_S)  # the ETA: validation passes and saving too
        best = BestWeights() if self.val_data is not None and int(epochs) > 1 else None
        extra = ([best] if best else []) + list(callbacks or [])  # best first: it sees the epoch's own weights
        recorders = [c for c in extra if isinstance(c, TrainingDynamics)]
        if self.record_training_dynamics and not recorders:
            recorders = [TrainingDynamics()]
            extra.extend(recorders)
        self.training_dynamics = recorders[-1] if recorders else None  # find_label_issues reads the last fit's
        writer = None
        if checkpoint_folder and main:
            writer = CheckpointWriter(checkpoint_folder, blocking=not self.async_checkpoints)
            extra.append(self._epoch_checkpoint(checkpoint_folder, writer))
            if plan is not None and steps_per_epoch is None and self.resumable:
                plan = {**plan, "batch_size": self.batch_size, "accumulation_steps": self.accumulation_steps,
                        "total_steps": int(schedule.total_steps), "train_rows": len(self.train_data)}
                start = (resume_state.epoch, resume_state.batch) if resume_state else (0, 0)
                extra.append(ResumeCheckpoint(checkpoint_folder, train, reporter, schedule, plan, every_s=checkpoint_every_s,
                                              start=start, val_points=resume_state.val_points if resume_state else None,
                                              writer=writer))
        self._fresh_optimizer(lr)
        first_callbacks = []
        if resume_state is not None:
            _, torch_rng = load_checkpoint(checkpoint_folder, self.model)
            reporter.step_losses = list(resume_state.step_losses)
            train.restore_order(resume_state.order_state)
            first_callbacks.append(_rng_restorer(resume_state, torch_rng))
        sync = getattr(self.model.optimizer, "gradient_sync", None)  # data parallelism: stop when the ranks agree
        stop = StopRequest(self.stop_event if sync is None else sync.agreed_stop)
        self._fit_calls += 1
        val = self._val_batches()
        try:
            synced = [GlobalMetrics(train)] if isinstance(train, ShardedBatchSequence) else []  # first: others read it
            every = [*synced, schedule, LearningRateLogger(), reporter, stop, *extra]
            self.history = self._fit_from(train, int(epochs), resume_state, steps_per_epoch=steps_per_epoch, val=val,
                                          callbacks=every, first_callbacks=first_callbacks, stop=stop, verbose=verbose)
            if stop.stopped_at_step is not None and best is not None and best.has_weights:
                self._keep_better(best, val)
        finally:
            self.step_losses = reporter.step_losses
            self.stopped_early = stop.stopped_at_step is not None
            if best is not None:
                best.clear()
            if writer is not None:
                writer.close()  # every checkpoint of this fit is on disk when it returns (or raises)
        return self.history

    def _epoch_checkpoint(self, folder: str, writer: CheckpointWriter) -> keras.callbacks.Callback:
        """ktrain's per-epoch weights callback (``folder/epoch-N``) for this learner's model."""
        from kdemo.training.callbacks.checkpoint import PretrainedCheckpoint

        return PretrainedCheckpoint(folder, writer)

    def _fit_from(self, train: BatchSequence, epochs: int, resume_state, *, steps_per_epoch, val, callbacks, first_callbacks,
                  stop: StopRequest, verbose) -> keras.callbacks.History:
        """``model.fit`` from the start, or from a resume checkpoint's position: the rest of an interrupted epoch
        (:class:`~kdemo.training.resume.EpochRemainder`), then the epochs after it."""
        epoch, batch = (resume_state.epoch, resume_state.batch) if resume_state else (0, 0)
        # shuffle=False: BatchSequence already shuffles with the learner's seed (longest batch first); Keras'
        # default shuffle=True would reorder the batches again with Python's unseeded `random`.
        fit = dict(shuffle=False, validation_data=val, verbose=verbose)
        if not batch:
            return self.model.fit(train, epochs=epochs, initial_epoch=epoch, steps_per_epoch=steps_per_epoch,
                                  callbacks=[*first_callbacks, *callbacks], **fit)
        first = self.model.fit(EpochRemainder(train, batch), epochs=epoch + 1, initial_epoch=epoch,
                               callbacks=[*first_callbacks, *callbacks], **fit)
        if stop.stopped_at_step is not None or epoch + 1 >= epochs:
            return first
        train.restore_order(train.order_state)  # the next fit's start redraws the order the remainder's end drew
        return merge_histories(first, self.model.fit(train, epochs=epochs, initial_epoch=epoch + 1, callbacks=callbacks, **fit))

    def _keep_better(self, best: BestWeights, val: BatchSequence) -> None:
        """After a stop mid-run: restore the best finished epoch's weights if they validate better than now."""
        now = self.model.evaluate(val, verbose=0, return_dict=True)["loss"]
        if best.best < now:
            best.restore()
            self.restored_best_epoch = best.best_epoch
            self.notices.append(
                f"Stopped part-way: kept the weights of epoch {best.best_epoch + 1} (validation loss {best.best:.4f}), "
                f"which beat the weights at the stop ({now:.4f})."
            )
