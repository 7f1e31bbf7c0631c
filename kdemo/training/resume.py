"""Continue an interrupted ``fit_onecycle`` from its checkpoint: :meth:`ResumeMixin.resume`.

``learner.fit_onecycle(lr, epochs, checkpoint_folder=folder)`` writes, besides ktrain's per-epoch weights
(``folder/epoch-N``), a resume checkpoint (``folder/resume``, see :mod:`kdemo.training.checkpoint_state`) after
every epoch, at least every ``checkpoint_every_s`` seconds and when stopped. ``learner.resume(folder)`` on a
learner built the same way (same model, data, batch size and seed; in a new process after a crash, too) loads the
weights, the optimizer state, the random states and the batch order, and runs the rest of the planned fit: the same
one-cycle schedule over the same total steps, the loss history continuing. On the CPU in fp32 the result equals an
uninterrupted run (``tests/training/test_resume.py``). This is Hugging Face Trainer's ``resume_from_checkpoint``.

A checkpoint taken inside an epoch resumes with two Keras fits: the rest of that epoch (:class:`EpochRemainder`),
then the following epochs; that epoch's logged loss and metrics then cover only its resumed batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from kdemo.data.dataset import BatchSequence
from kdemo.errors import TrainingError
from kdemo.training.callbacks import OneCycle, ProgressEvent
from kdemo.training.callbacks.resume_checkpoint import DEFAULT_CHECKPOINT_EVERY_S
from kdemo.training.checkpoint_state import read_state

#: The fit methods whose checkpoints :meth:`ResumeMixin.resume` can continue.
RESUMABLE = ("fit_onecycle",)


class EpochRemainder(keras.utils.PyDataset):
    """The batches of the current epoch of ``train`` from ``skip`` on (the rest of an interrupted epoch).

    Its end of epoch is ``train``'s (the next epoch's order is drawn as in an uninterrupted run).

    Args:
        train: The training batches, in the interrupted epoch's order.
        skip: Batches of the epoch already trained.
    """

    def __init__(self, train: BatchSequence, skip: int):
        super().__init__()
        self.train = train
        self.skip = int(skip)

    def __len__(self) -> int:
        return len(self.train) - self.skip

    def __getitem__(self, index: int):
        return self.train[index + self.skip]

    def batch_rows(self, index: int):
        """The rows of batch ``index`` of the remainder (batch ``index + skip`` of ``train``)."""
        return self.train.batch_rows(index + self.skip)

    def on_epoch_end(self):
        self.train.on_epoch_end()


def merge_histories(first: keras.callbacks.History, second: keras.callbacks.History) -> keras.callbacks.History:
    """``second`` with ``first``'s epochs put before its own (the two fits of a resumed interrupted epoch)."""
    for key, values in first.history.items():
        second.history[key] = list(values) + list(second.history.get(key, []))
    second.epoch = list(first.epoch) + list(second.epoch)
    return second


class ResumeMixin:
    """:meth:`resume` for :class:`kdemo.training.learner.Learner` (relies on its ``_traced_fit``)."""

    def resume(self, checkpoint_folder: str, *, callbacks: Sequence[keras.callbacks.Callback] | None = None,
               verbose: int = 1, progress: Callable[[ProgressEvent], None] | None = None, progress_every: int = 1,
               checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S) -> keras.callbacks.History:
        """Continue the ``fit_onecycle`` whose ``checkpoint_folder`` this is, to its planned end.

        The learner must be built as the interrupted one was (same model, training data, batch size and seed);
        its current weights are replaced by the checkpoint's. The run keeps writing checkpoints into the same
        folder, so it can be interrupted and resumed again.

        Args:
            checkpoint_folder: The folder given to ``fit_onecycle(checkpoint_folder=...)``.
            callbacks: Extra Keras callbacks.
            verbose: Keras verbosity.
            progress: Called with a :class:`~kdemo.training.callbacks.ProgressEvent` every ``progress_every``
                steps; its ``step`` and ``total_steps`` count the whole run (the steps before the interruption too).
            progress_every: Report interval in optimizer steps.
            checkpoint_every_s: Most seconds between two checkpoints within an epoch.

        Returns:
            The Keras ``History`` of the resumed part (epochs from the interrupted one on). :attr:`step_losses`
            holds the loss of every optimizer step of the whole run.

        Raises:
            TrainingError: If there is no checkpoint, it is of another fit method, it has already finished, or it
                was written for other training data.
        """
        state = read_state(checkpoint_folder)
        plan = state.plan
        if plan.get("method") not in RESUMABLE:
            raise TrainingError(f"Expected a checkpoint of {' or '.join(RESUMABLE)}. Received: one of {plan.get('method')!r}. "
                                "Run that fit method again instead.")
        if state.finished:
            raise TrainingError(f"Expected an unfinished run in {checkpoint_folder}. Received: a run that reached its "
                                f"planned end ({plan['epochs']} epochs). Load its weights from epoch-{plan['epochs']} instead.")
        if plan.get("train_rows") not in (None, len(self.train_data)):
            raise TrainingError(f"Expected the training data of the checkpointed run ({plan['train_rows']} rows). "
                                f"Received: {len(self.train_data)} rows. Build the learner with the same data.")
        self.batch_size = int(plan["batch_size"])
        self.accumulation_steps = int(plan.get("accumulation_steps", 1))
        class_weight = {int(k): float(v) for k, v in plan["class_weight"].items()} if plan.get("class_weight") else None

        def schedule_for(train):
            return OneCycle.from_plan(plan, plan["total_steps"], step=state.schedule_step)

        return self._traced_fit(plan["lr"], int(plan["epochs"]), schedule_for, [], class_weight=class_weight,
                                callbacks=callbacks, steps_per_epoch=None, verbose=verbose, progress=progress,
                                progress_every=progress_every, checkpoint_folder=checkpoint_folder, plan=plan,
                                resume_state=state, checkpoint_every_s=checkpoint_every_s)
