"""Torch versions of the Keras losses and metrics kdemo compiles, for the training step's hot path.

A Keras loss call (``CompileLoss`` → ``LossFunctionWrapper`` → ``reduce_weighted_values``) costs about 0.2 ms of
Python per step and a metric update about 0.1 ms, against a few microseconds for the same torch ops; on a GPU,
where a small model's step takes a few milliseconds, that is several percent. Each function here computes exactly
what Keras computes (same formula, same reduction: the sum of the per-row values times their sample weights,
divided by the number of rows, Keras' ``"sum_over_batch_size"``), and only for the exact Keras classes and
settings listed; anything else (another loss, ``ignore_class``, weighted metrics, other shapes) returns None and
the step uses Keras' own path. ``tests/modeling/test_train_step.py`` checks both give the same values.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor | None]


def _weighted_mean(values: torch.Tensor, sample_weight: torch.Tensor | None) -> torch.Tensor:
    """Keras' ``sum_over_batch_size``: ``sum(values * sample_weight) / rows`` for per-row ``values``."""
    if sample_weight is not None:
        values = values * sample_weight.to(values.dtype).reshape(values.shape)
    return values.sum() / values.shape[0]


def _sparse_ce(y, y_pred, sample_weight):
    if y.dim() != 1 or y_pred.dim() != 2:
        return None
    return _weighted_mean(F.cross_entropy(y_pred.float(), y.long(), reduction="none"), sample_weight)


def _mse(y, y_pred, sample_weight):
    if y.shape != y_pred.shape or y_pred.dim() != 2:
        return None
    return _weighted_mean((y.to(y_pred.dtype) - y_pred).square().mean(dim=-1), sample_weight)


def torch_loss_for(loss: object) -> LossFn | None:
    """A torch function ``(y, y_pred, sample_weight) -> loss`` equal to the Keras loss object ``loss``.

    Args:
        loss: What was passed to ``compile(loss=...)``.

    Returns:
        The function (it returns None for inputs it does not cover, e.g. other shapes), or None when ``loss`` is
        not one it reproduces: ``SparseCategoricalCrossentropy(from_logits=True)`` without ``ignore_class`` and
        ``MeanSquaredError()``, each with Keras' default reduction, and kdemo's losses that have a ``torch_loss``
        method (``MaskedSparseCrossentropy``, which computes its value itself).
    """
    torch_loss = getattr(loss, "torch_loss", None)  # kdemo's own torch-native losses (the token classifier's)
    if torch_loss is not None and type(loss).__module__.startswith("kdemo."):
        return torch_loss
    if getattr(loss, "reduction", None) != "sum_over_batch_size":
        return None
    kwargs = getattr(loss, "_fn_kwargs", None)
    if type(loss) is keras.losses.SparseCategoricalCrossentropy:
        if kwargs == {"from_logits": True, "ignore_class": None, "axis": -1}:
            return _sparse_ce
    elif type(loss) is keras.losses.MeanSquaredError and not kwargs:
        return _mse
    return None


def _row_values(metric, y, y_pred) -> torch.Tensor | None:
    """The per-row values Keras' ``MeanMetricWrapper`` would average for ``metric``, or None."""
    kwargs = getattr(metric, "_fn_kwargs", {})
    kind = type(metric)
    if kind is keras.metrics.SparseCategoricalAccuracy and y.dim() == 1 and y_pred.dim() == 2:
        return (y_pred.argmax(dim=-1) == y.long()).float()
    if kind is keras.metrics.BinaryAccuracy and y.shape == y_pred.shape:
        return ((y_pred > kwargs.get("threshold", 0.5)).to(y.dtype) == y).float().mean(dim=-1)
    if kind is keras.metrics.MeanAbsoluteError and y.shape == y_pred.shape and y_pred.dim() == 2:
        return (y.to(y_pred.dtype) - y_pred).abs().mean(dim=-1)
    return None


def torch_metrics_update(compile_metrics) -> Callable[[torch.Tensor, torch.Tensor], bool] | None:
    """An in-place torch update of Keras' compiled metrics, equal to ``compile_metrics.update_state(y, y_pred)``.

    Keras' compiled (unweighted) metrics ignore sample weights; each ``MeanMetricWrapper`` adds the sum of its
    per-row values to ``total`` and the number of rows to ``count``.

    Args:
        compile_metrics: The model's ``_compile_metrics`` (built after the first Keras update).

    Returns:
        ``update(y, y_pred) -> bool`` (False: inputs it does not cover, nothing updated), or None when a metric is
        not one it reproduces (``SparseCategoricalAccuracy``, ``BinaryAccuracy``, ``MeanAbsoluteError``) or there
        are weighted metrics.
    """
    if compile_metrics is None or not getattr(compile_metrics, "built", False):
        return None
    lists = [m for m in getattr(compile_metrics, "_flat_metrics", None) or [] if m is not None]
    weighted = [m for m in getattr(compile_metrics, "_flat_weighted_metrics", None) or [] if m is not None]
    if weighted or len(lists) != 1:  # one output with unweighted metrics (Keras' MetricsList)
        return None
    metrics = list(getattr(lists[0], "metrics", None) or [])
    if len(metrics) == 1 and type(metrics[0]).__module__.startswith("kdemo.") and hasattr(metrics[0], "torch_update"):
        return metrics[0].torch_update  # kdemo's own metrics with an in-place torch update (token accuracy)
    if len(metrics) != 1 or not isinstance(metrics[0], keras.metrics.MeanMetricWrapper):
        return None
    metric = metrics[0]
    if type(metric) not in (keras.metrics.SparseCategoricalAccuracy, keras.metrics.BinaryAccuracy,
                            keras.metrics.MeanAbsoluteError):
        return None
    total, count = metric.total.value, metric.count.value

    def update(y: torch.Tensor, y_pred: torch.Tensor) -> bool:
        values = _row_values(metric, y, y_pred)
        if values is None:
            return False
        total.add_(values.sum().to(total.dtype))
        count.add_(values.shape[0])
        return True

    return update
