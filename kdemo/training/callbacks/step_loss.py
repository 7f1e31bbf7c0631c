"""Recover each batch's own training loss from Keras' running epoch mean (not a callback; used by callbacks)."""

from __future__ import annotations

import keras


class StepLossReader:
    """Exact loss of each training batch, from the totals of Keras' ``loss`` metric.

    In ``on_train_batch_end``, ``logs["loss"]`` is the epoch's running mean *weighted by batch size* (Keras' torch
    trainer calls ``loss_tracker.update_state(loss, sample_weight=batch_size)``), so with unequal batches (the last
    one, length buckets) ``mean_b * (b + 1) - mean_{b-1} * b`` is wrong. The ``loss`` metric keeps ``total`` (sum
    of ``loss * rows``) and ``count`` (rows); batch b's loss is ``(total_b - total_{b-1}) / (count_b - count_{b-1})``.
    Both are read in one host transfer, as the ``float(logs["loss"])`` it replaces. Models without that metric
    fall back to the equal-batch formula.

    Call :meth:`reset` at the start of each epoch (Keras resets its metrics then) and :meth:`read` once per batch.
    """

    def __init__(self):
        self._total = 0.0
        self._count = 0.0
        self._prev_mean = 0.0
        self._batch = 0
        self._metric: keras.metrics.Mean | None | bool = False  # False: not looked up yet this epoch

    def reset(self) -> None:
        """Start a new epoch."""
        self._total = self._count = self._prev_mean = 0.0
        self._batch = 0
        self._metric = False

    @staticmethod
    def _loss_metric(model: keras.Model) -> keras.metrics.Mean | None:
        for metric in getattr(model, "metrics", []):
            if metric.name == "loss" and isinstance(metric, keras.metrics.Mean):
                return metric
        return None

    def read(self, model: keras.Model, logs: dict) -> float:
        """The loss of the batch that just ended.

        Args:
            model: The model being trained.
            logs: The logs of ``on_train_batch_end``.

        Returns:
            The batch's mean loss (its rows weighted as in the loss function).
        """
        if self._metric is False:
            self._metric = self._loss_metric(model)
        metric = self._metric
        self._batch += 1
        if metric is None:
            mean = float(logs["loss"])
            loss = mean * self._batch - self._prev_mean * (self._batch - 1)
            self._prev_mean = mean
            return loss
        total, count = keras.ops.convert_to_numpy(keras.ops.stack([metric.total.value, metric.count.value])).tolist()
        rows = count - self._count
        loss = (total - self._total) / rows if rows > 0 else float("nan")
        self._total, self._count = total, count
        return loss
