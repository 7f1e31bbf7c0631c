"""Evaluation of a trained model on labelled data: task-aware outputs, reports and top losses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from kdemo.data.dataset import TextDataset
from kdemo.evaluation.report import (
    ClassificationReport,
    MultiLabelReport,
    RegressionReport,
    classification_metrics,
    multilabel_metrics,
    regression_metrics,
    tune_thresholds,
)
from kdemo.modeling.batched import predict_logits
from kdemo.tasks import MULTI_LABEL, REGRESSION


def outputs_from_logits(logits: np.ndarray, task: str) -> np.ndarray:
    """Turn logits into the task's outputs.

    Args:
        logits: Float array of shape ``(num_rows, num_outputs)``.
        task: ``"single_label"`` (softmax probabilities), ``"multi_label"`` (sigmoid probabilities) or
            ``"regression"`` (the raw value).

    Returns:
        Float32 array of shape ``(num_rows, num_outputs)``.
    """
    t = torch.from_numpy(np.asarray(logits, dtype=np.float32))
    if task == MULTI_LABEL:
        return torch.sigmoid(t).numpy()
    if task == REGRESSION:
        return t.numpy()
    return torch.softmax(t, dim=-1).numpy()


def predict_outputs(hf_model, data: TextDataset, task: str, batch_size: int = 64) -> np.ndarray:
    """Probabilities (or regression values) of every row, in the data's order; see :func:`outputs_from_logits`."""
    return outputs_from_logits(predict_logits(hf_model, data, batch_size=batch_size), task)


def evaluate(
    hf_model, data: TextDataset, task: str, *, class_names: Sequence[str] | None = None, batch_size: int = 64,
    thresholds: Sequence[float] | None = None,
) -> ClassificationReport | MultiLabelReport | RegressionReport:
    """Evaluate on labelled data.

    Args:
        hf_model: The model.
        data: Labelled rows.
        task: The task.
        class_names: Label names in id order (default: the data's).
        batch_size: Rows per forward pass.
        thresholds: Multi-label only: per-label thresholds; None tunes them on ``data`` (per-label F1-optimal).

    Returns:
        A :class:`~kdemo.evaluation.report.ClassificationReport`, :class:`~kdemo.evaluation.report.MultiLabelReport` or
        :class:`~kdemo.evaluation.report.RegressionReport`.
    """
    out = predict_outputs(hf_model, data, task, batch_size)
    names = list(class_names) if class_names else list(data.class_names)
    if task == REGRESSION:
        return regression_metrics(data.labels, out)
    if task == MULTI_LABEL:
        th = list(thresholds) if thresholds is not None else tune_thresholds(data.labels, out)
        return multilabel_metrics(data.labels, out, names, th)
    return classification_metrics(data.labels, out.argmax(axis=1), names)


def per_row_losses(outputs: np.ndarray, labels: np.ndarray, task: str) -> np.ndarray:
    """The training loss of each row (cross-entropy, binary cross-entropy or squared error).

    Args:
        outputs: Task outputs from :func:`outputs_from_logits`, shape ``(num_rows, num_outputs)``.
        labels: Targets as stored in :class:`~kdemo.data.dataset.TextDataset`.
        task: The task.

    Returns:
        Float array of shape ``(num_rows,)``.
    """
    eps = 1e-7
    if task == REGRESSION:
        return ((outputs.reshape(-1) - labels.reshape(-1)) ** 2).astype(np.float64)
    if task == MULTI_LABEL:
        p = np.clip(outputs, eps, 1 - eps)
        return -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean(axis=1)
    return -np.log(np.clip(outputs[np.arange(len(labels)), labels], eps, 1.0))


def _describe(row_out: np.ndarray, row_label, task: str, names: Sequence[str], thresholds=None) -> tuple[str, str]:
    if task == REGRESSION:
        return f"{float(np.ravel(row_label)[0]):.4g}", f"{float(row_out[0]):.4g}"
    if task == MULTI_LABEL:
        th = np.asarray(thresholds if thresholds is not None else 0.5)
        true = ", ".join(n for n, y in zip(names, row_label) if y >= 0.5) or "(none)"
        pred = ", ".join(n for n, p, t in zip(names, row_out, np.broadcast_to(th, row_out.shape)) if p >= t) or "(none)"
        return true, pred
    return names[int(row_label)], f"{names[int(row_out.argmax())]} ({row_out.max():.2f})"


def top_losses(
    hf_model, data: TextDataset, task: str, n: int = 4, *, batch_size: int = 64, thresholds: Sequence[float] | None = None
) -> pd.DataFrame:
    """The ``n`` rows the model gets most wrong (highest loss), as ktrain's ``top_losses``.

    Args:
        hf_model: The model.
        data: Labelled rows; ``data.labels`` as :class:`~kdemo.data.dataset.TextDataset` stores them per task:
            int64 class ids of shape ``(num_rows,)`` (single-label), float32 multi-hot of shape
            ``(num_rows, num_classes)`` (multi-label), float32 of shape ``(num_rows, 1)`` or ``(num_rows,)``
            (regression).
        task: The task (:class:`~kdemo.tasks.Task`).
        n: Rows to return.
        batch_size: Rows per forward pass.
        thresholds: Multi-label: per-label probability thresholds, shape ``(num_classes,)``, used to list the
            predicted labels (0.5 when None).

    Returns:
        DataFrame with ``row`` (1-based position in ``data``), ``text``, ``true``, ``predicted``, ``loss``, sorted
        by loss, highest first. ``loss`` is the row's training loss: cross-entropy (single-label), mean binary
        cross-entropy over the labels (multi-label) or squared error (regression). ``true``/``predicted`` are a
        class name (the predicted one followed by its probability, ``"pos (0.93)"``), comma-joined label names
        (``"(none)"`` for none), or the number formatted with 4 significant digits.
    """
    out = predict_outputs(hf_model, data, task, batch_size)
    losses = per_row_losses(out, data.labels, task)
    order = np.argsort(-losses)[:n]
    rows = []
    for i in order:
        true, pred = _describe(out[i], data.labels[i], task, data.class_names, thresholds)
        rows.append({"row": int(i) + 1, "text": data.texts[i], "true": true, "predicted": pred, "loss": round(float(losses[i]), 4)})
    return pd.DataFrame(rows, columns=["row", "text", "true", "predicted", "loss"])
