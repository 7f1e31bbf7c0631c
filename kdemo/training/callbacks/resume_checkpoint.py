"""Write a resumable checkpoint at the end of every epoch and at least every few minutes during one."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from kdemo.data.dataset import BatchSequence
from kdemo.training.checkpoint_state import TrainingState, capture_rng, snapshot_checkpoint
from kdemo.training.checkpoint_writer import CheckpointWriter

#: Seconds between two checkpoints inside an epoch, unless the fit is given another ``checkpoint_every_s``.
DEFAULT_CHECKPOINT_EVERY_S = 180.0


class ResumeCheckpoint(keras.callbacks.Callback):
    """Save everything a fit needs to continue (:mod:`kdemo.training.checkpoint_state`) into ``folder/resume``.

    A checkpoint is written after every epoch (after its validation), after a batch once ``every_s`` seconds have
    passed since the last one (only between optimizer steps: never inside a gradient-accumulation group), and
    when the fit is stopped part-way (:meth:`kdemo.training.learner.Learner.request_stop`), so that a stopped run
    can be resumed from the batch it stopped after. Each write replaces the previous checkpoint atomically.

    The state is copied to host memory on the training thread and written by ``writer`` in the background
    (:class:`~kdemo.training.checkpoint_writer.CheckpointWriter`); a mid-epoch write is skipped while another is
    in flight. The fit closes the writer when it ends.

    Must run after the schedule and the :class:`~kdemo.training.callbacks.ProgressReporter` (it reads their
    positions). Resuming is :meth:`kdemo.training.learner.Learner.resume`.

    Args:
        folder: The fit's ``checkpoint_folder``.
        train: The training batches (their order state is saved).
        reporter: The fit's progress reporter (its per-step losses are saved).
        schedule: The learning-rate schedule callback; its ``step`` attribute is saved.
        plan: How the fit was called (see :class:`~kdemo.training.checkpoint_state.TrainingState`).
        every_s: Most seconds between two checkpoints within an epoch; 0 writes one after every optimizer step.
        start: ``(epoch, batch)`` the fit starts at (a resumed fit: batches of that epoch already done).
        val_points: ``(step, val_loss)`` of the epochs before ``start``.
        writer: The fit's checkpoint writer (None: a blocking one of its own).
    """

    def __init__(self, folder: str | Path, train: BatchSequence, reporter, schedule, plan: dict, *,
                 every_s: float = DEFAULT_CHECKPOINT_EVERY_S, start: tuple[int, int] = (0, 0),
                 val_points: list[tuple[int, float]] | None = None, writer: CheckpointWriter | None = None):
        super().__init__()
        if every_s < 0:
            raise ValueError(f"Expected checkpoint_every_s >= 0. Received: {every_s}.")
        self.folder = Path(folder)
        self.train = train
        self.reporter = reporter
        self.schedule = schedule
        self.plan = dict(plan)
        self.every_s = float(every_s)
        self.start = start
        self.val_points = list(val_points or [])
        self.writer = writer or CheckpointWriter(folder, blocking=True)
        self.written: list[tuple[int, int]] = []  # (epoch, batch) of every checkpoint written, for tests and logs
        self._epoch = 0
        self._batch = 0
        self._last = time.monotonic()
        self._rng_after_batch: dict | None = None

    def on_train_begin(self, logs=None):
        self._last = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._batch = self.start[1] if epoch == self.start[0] else 0

    def _write(self, epoch: int, batch: int, finished: bool = False, rng: dict | None = None,
               required: bool = True) -> None:
        if not required and self.writer.busy:
            self.writer.skipped += 1
            return
        self._catch_up()
        state = TrainingState(
            plan=self.plan, epoch=epoch, batch=batch, step=len(self.reporter.step_losses),
            schedule_step=int(getattr(self.schedule, "step", 0)), step_losses=list(self.reporter.step_losses),
            val_points=list(self.val_points), order_state=self.train.order_state, finished=finished,
        )
        write = snapshot_checkpoint(self.model, state, rng)
        folder = self.folder
        self.writer.submit(lambda: write(folder), required=required)
        self.written.append((epoch, batch))
        self._last = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self._batch += 1
        # after a Stop, Keras still validates (which draws from torch's generator) before the epoch-end checkpoint
        self._rng_after_batch = capture_rng()
        mid_group = getattr(self.model.optimizer, "_micro_steps", 0)  # a gradient-accumulation group not applied yet
        if not mid_group and time.monotonic() - self._last >= self.every_s and self._batch < len(self.train):
            self._write(self._epoch, self._batch, required=False)

    def _catch_up(self) -> None:
        # the reporter reads the step losses from the device in chunks: read the ones still pending first
        catch_up = getattr(self.reporter, "catch_up", None)
        if catch_up is not None:
            catch_up()

    def on_epoch_end(self, epoch, logs=None):
        self._catch_up()
        if self._batch < len(self.train):  # stopped part-way: Keras still ends the epoch; the order is this epoch's
            if not self.written or self.written[-1] != (epoch, self._batch):
                self._write(epoch, self._batch, rng=self._rng_after_batch)
            return
        if logs and "val_loss" in logs:
            self.val_points.append((len(self.reporter.step_losses), float(logs["val_loss"])))
        if self.model.stop_training:  # stopped after the last batch: Keras left the epoch's iterator unfinished
            self.train.on_epoch_end()  # so draw the next epoch's order as it would have
        # the sequence has drawn the next epoch's order (Keras ends the epoch's iterator before this call)
        self._write(epoch + 1, 0, finished=epoch + 1 >= int(self.plan["epochs"]))
