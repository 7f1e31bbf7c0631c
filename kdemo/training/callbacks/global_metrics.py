"""Data parallelism: training loss and metrics of the whole global batch on every rank, as one process has them."""

from __future__ import annotations

import keras
import numpy as np
import torch

from kdemo.distributed.context import current
from kdemo.distributed.gradients import sum_across_ranks
from kdemo.distributed.sharding import ShardedBatchSequence


class GlobalMetrics(keras.callbacks.Callback):
    """After each batch, make every rank's metric states (the ``loss`` tracker, accuracy, …) those of the global
    batch, and the logs with them.

    Each rank updated its states with its slice only. Its loss was computed with sample weights scaled so that
    the ranks' losses average to the global batch's loss (:class:`~kdemo.distributed.sharding.ShardedBatchSequence`),
    so the ``loss`` tracker's total grew by that scaled loss times the slice's rows: the increment is multiplied by
    ``n_global / (world_size * n_rank)`` (``ShardedBatchSequence.loss_share``). The compiled
    metrics (``compile(metrics=...)``) ignore sample weights, and the tracker counts rows, so their increments are
    used as they are. The increments are summed over the ranks and added to the previous global states: the result
    is what one process holds after the whole batch, so the logs, ``step_losses``, the progress events, the history
    and early stopping see the values of a one-process run. Must come before the callbacks that read the logs.
    Validation (``val_*``): every rank validates on the whole split, and at the end of each epoch all ranks take rank
    0's values, so that decisions made from them (early stopping, plateau cuts, best weights) are the same everywhere
    (a rank that decided otherwise would wait on the others' all-reduce until the time-out). The model's step log
    (:class:`~kdemo.modeling.step.StepLog`) is read after every batch here (the all-reduce syncs anyway), and its
    last loss, the rank's own, becomes the global batch's loss (the loss tracker's global increment per row).

    Args:
        train: The rank's training batches (for each batch's weight factor).
    """

    def __init__(self, train: ShardedBatchSequence):
        super().__init__()
        self.train = train
        self._previous: torch.Tensor | None = None

    def _variables(self) -> tuple[list, list[int], int | None, int | None]:
        """The metrics' state variables, their sizes, and the flat positions of the loss tracker's total and count."""
        variables, total_at, count_at = [], None, None
        for metric in self.model.metrics:
            if metric.name == "loss" and isinstance(metric, keras.metrics.Mean):
                ids = [id(v) for v in metric.variables]
                total_at, count_at = len(variables) + ids.index(id(metric.total)), len(variables) + ids.index(id(metric.count))
            variables.extend(metric.variables)
        sizes = [int(np.prod(v.shape)) for v in variables]
        flat_total = None if total_at is None else sum(sizes[:total_at])
        flat_count = None if count_at is None else sum(sizes[:count_at])
        return variables, sizes, flat_total, flat_count

    def on_train_begin(self, logs=None):
        step_log = getattr(self.model, "step_log", None)
        if step_log is not None:
            step_log.every_step = True

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = None  # Keras has just reset the metrics

    def on_train_batch_end(self, batch, logs=None):
        variables, sizes, total_at, count_at = self._variables()
        if not variables:
            return
        now = torch.from_numpy(np.concatenate(
            [np.asarray(keras.ops.convert_to_numpy(v.value), dtype=np.float64).reshape(-1) for v in variables]))
        previous = torch.zeros_like(now) if self._previous is None else self._previous
        increment = now - previous
        share = self.train.loss_share(batch)
        if share == 0:
            increment.zero_()  # a rank without rows this batch (its stand-in row has weight 0)
        elif total_at is not None:
            increment[total_at] *= share
        summed = sum_across_ranks(increment)
        self._previous = previous + summed
        step_log = getattr(self.model, "step_log", None)
        if step_log is not None and step_log.losses and total_at is not None and summed[count_at] > 0:
            step_log.losses[-1] = float(summed[total_at] / summed[count_at])  # the global batch's loss
        for variable, value in zip(variables, torch.split(self._previous, sizes)):
            variable.assign(value.numpy().reshape(variable.shape).astype(variable.dtype))
        if logs is not None:
            logs.update({k: float(v) for k, v in self.model.get_metrics_result().items()})

    def on_epoch_end(self, epoch, logs=None):
        if not logs:
            return
        keys = sorted(k for k in logs if k.startswith("val_"))
        if not keys:
            return
        values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64)
        if current().rank != 0:
            values.zero_()
        logs.update(zip(keys, sum_across_ranks(values).tolist()))  # rank 0's values on every rank
