"""cleanlab adapters of the classification tasks: single-label (one class per row) and multi-label (any classes).

Confident learning (Northcutt, Jiang and Chuang 2021, "Confident Learning: Estimating Uncertainty in Dataset
Labels", JAIR 70, https://arxiv.org/abs/1911.00068) estimates the joint distribution of given and true labels from
out-of-sample predicted probabilities and flags the examples it counts as off-diagonal; cleanlab
(https://github.com/cleanlab/cleanlab) implements it, and its multi-label variant (Thyagarajan et al. 2023, "Identifying
Incorrect Annotations in Multi-Label Classification Data") runs it one-vs-rest per class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kdemo.errors import DataError

#: Probability at or above which a class is part of a multi-label suggestion.
MULTI_LABEL_THRESHOLD = 0.5
#: Separator of the class names of one multi-label cell in a label-issue table.
NAMES_SEPARATOR = ", "


def _check(labels: np.ndarray, probs: np.ndarray, class_names: Sequence[str], layout: str) -> None:
    n, num_classes = len(labels), len(class_names)
    if probs.ndim != 2 or probs.shape != (n, num_classes):
        raise DataError(f"Expected {layout} predictions of shape (num_examples={n}, num_classes={num_classes}). "
                        f"Received: shape {probs.shape}. Pass out-of-sample probabilities with one column per class.")
    if n == 0:
        raise DataError("Expected at least one example to score. Received: none. Add rows.")
    if not np.isfinite(probs).all():
        raise DataError(f"Expected finite {layout} probabilities. Received: NaN or inf in rows "
                        f"{np.flatnonzero(~np.isfinite(probs).all(axis=1))[:10].tolist()}. Check the model's outputs.")


def single_label_scores(labels, predictions, class_names: Sequence[str]) -> pd.DataFrame:
    """Label quality and confident-learning issues of single-label examples.

    Runs ``cleanlab.filter.find_label_issues`` (prune by noise rate) and ``cleanlab.rank.get_label_quality_scores``
    (self-confidence: the out-of-sample probability of the given class).

    Args:
        labels: Given class ids, int ``(num_examples,)`` in ``[0, num_classes)``.
        predictions: Out-of-sample class probabilities, float ``(num_examples, num_classes)`` (rows are renormalised
            to sum to 1).
        class_names: Class names in id order, ``(num_classes,)``.

    Returns:
        One row per example, in the order of ``labels``: ``position`` (int, index into ``labels``), ``given`` (the
        given class name), ``suggested`` (the most probable class's name), ``label_quality`` (float 0–1, lower =
        more likely mislabeled) and ``is_issue`` (bool, cleanlab's flag).

    Raises:
        DataError: If the shapes disagree, a label is out of range, fewer than 2 classes occur, or a probability is
            not finite.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    probs = np.asarray(predictions, dtype=np.float64)
    _check(labels, probs, class_names, "single-label")
    bad = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
    if bad.size:
        raise DataError(f"Expected class ids in [0, {len(class_names)}). Received: {labels[bad[:10]].tolist()} at "
                        f"positions {bad[:10].tolist()}.")
    if np.unique(labels).size < 2:
        raise DataError(f"Expected at least 2 classes among the given labels to find label issues. Received: only "
                        f"{class_names[int(labels[0])]!r}. Add rows of other classes.")
    probs = np.clip(probs, 0.0, None)
    probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    quality = get_label_quality_scores(labels, probs)
    flagged = find_label_issues(labels, probs, n_jobs=1)
    names = [str(c) for c in class_names]
    return pd.DataFrame({"position": np.arange(len(labels)), "given": [names[i] for i in labels],
                         "suggested": [names[i] for i in probs.argmax(axis=1)],
                         "label_quality": np.asarray(quality, dtype=float), "is_issue": np.asarray(flagged, dtype=bool)})


def join_names(flags, class_names: Sequence[str]) -> str:
    """The names of the classes whose flag is set, joined by :data:`NAMES_SEPARATOR` (empty string for none).

    Args:
        flags: One 0/1 (or bool) per class, ``(num_classes,)``.
        class_names: Class names in id order, ``(num_classes,)``.
    """
    return NAMES_SEPARATOR.join(str(n) for n, on in zip(class_names, flags) if on)


def multi_label_scores(labels, predictions, class_names: Sequence[str]) -> pd.DataFrame:
    """Label quality and confident-learning issues of multi-label examples.

    Runs ``cleanlab.multilabel_classification.filter.find_label_issues`` (an example is flagged when any of its
    classes looks mis-annotated) and ``cleanlab.multilabel_classification.rank.get_label_quality_scores``
    (per-class self-confidence, aggregated by an exponential moving average of the sorted scores).

    Args:
        labels: Given labels, multi-hot int ``(num_examples, num_classes)``.
        predictions: Out-of-sample per-class sigmoid probabilities, float ``(num_examples, num_classes)``.
        class_names: Class names in id order, ``(num_classes,)``.

    Returns:
        As :func:`single_label_scores`; ``given`` joins the given classes' names with ``", "`` (empty for none) and
        ``suggested`` those whose probability is at least :data:`MULTI_LABEL_THRESHOLD`.

    Raises:
        DataError: If the shapes disagree, a label is not 0/1, or a probability is not finite.
    """
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    hot = np.asarray(labels)
    probs = np.clip(np.asarray(predictions, dtype=np.float64), 0.0, 1.0)
    if hot.ndim != 2 or hot.shape[1] != len(class_names):
        raise DataError(f"Expected multi-hot labels of shape (num_examples, num_classes={len(class_names)}). "
                        f"Received: shape {hot.shape}.")
    _check(hot, probs, class_names, "multi-label")
    if not np.isin(hot, (0, 1)).all():
        raise DataError("Expected multi-hot labels of 0 and 1. Received: other values. Pass one 0/1 per class.")
    if len(class_names) < 2:
        raise DataError(f"Expected at least 2 classes to find multi-label issues. Received: {list(class_names)}.")
    given = [np.flatnonzero(row).tolist() for row in hot]
    quality = get_label_quality_scores(given, probs)
    flagged = find_label_issues(given, probs, n_jobs=1)
    return pd.DataFrame({"position": np.arange(len(given)), "given": [join_names(row, class_names) for row in hot],
                         "suggested": [join_names(row >= MULTI_LABEL_THRESHOLD, class_names) for row in probs],
                         "label_quality": np.asarray(quality, dtype=float), "is_issue": np.asarray(flagged, dtype=bool)})
