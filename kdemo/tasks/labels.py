"""How the labels of a table's tasks are recognised (:func:`infer_task`, ktrain's rules) and encoded (multi-hot,
regression targets, positive weights)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdemo.errors import DataError
from kdemo.tasks.task import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task


def infer_task(y, class_names: Sequence[str] | None = None) -> Task:
    """Guess the task from label values, with ktrain's rules (``ktrain/utils.py``: ``YTransform.apply``,
    ``is_multilabel``).

    Args:
        y: Labels: strings (single-label); numbers (regression without ``class_names``, floats such as ``1.0``/``0.0``
            or prices ``10.0``/``15.0`` included; with ``class_names``, integers are class ids: single-label);
            lists/tuples/sets of strings (multi-label); a 2-D 0/1 array of shape ``(num_rows, num_classes)``
            (one-hot: single-label unless a row holds more than one 1 or none).
        class_names: The class names given by the user, if any.

    Returns:
        One of :data:`TASKS`.
    """
    if isinstance(y, np.ndarray) and y.ndim == 2:
        return SINGLE_LABEL if is_one_hot(y) else MULTI_LABEL
    items = list(y)
    if any(isinstance(v, (list, tuple, set, frozenset)) for v in items):
        return MULTI_LABEL
    numbers = [v for v in items if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))]
    if numbers and len(numbers) == len(items):
        if not class_names:
            return REGRESSION
        return SINGLE_LABEL if all(float(v).is_integer() for v in numbers) else REGRESSION
    return SINGLE_LABEL


def is_one_hot(y: np.ndarray) -> bool:
    """Whether a 2-D 0/1 matrix of shape ``(num_rows, num_classes)`` holds exactly one 1 per row (single-label).

    ktrain treats such label columns as single-label unless a row has more than one 1 (``ktrain/utils.py``,
    ``is_multilabel``); a row with no 1 cannot be single-label either, so it makes the matrix multi-label here.
    """
    y = np.asarray(y)
    return bool(y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())


def multi_hot(y: Sequence, class_names: Sequence[str]) -> np.ndarray:
    """Encode multi-label targets as a 0/1 matrix.

    Args:
        y: Per row, a collection of label names (``[]`` for none), or a 2-D 0/1 array already multi-hot.
        class_names: Label names in id order.

    Returns:
        Float32 array of shape ``(num_rows, num_classes)``.

    Raises:
        DataError: On an unknown label (row named) or a matrix of the wrong width.
    """
    if isinstance(y, np.ndarray) and y.ndim == 2:
        if y.shape[1] != len(class_names):
            raise DataError(f"Expected {len(class_names)} label columns. Received: a matrix with {y.shape[1]}.")
        return y.astype(np.float32)
    index = {name: i for i, name in enumerate(class_names)}
    out = np.zeros((len(y), len(class_names)), dtype=np.float32)
    for row, labels in enumerate(y):
        for label in labels:
            key = str(label).strip()
            if key not in index:
                raise DataError(
                    f"Expected labels among the training classes. Received: {label!r} at row {row + 1}. "
                    "Add it to the training data or fix the label."
                )
            out[row, index[key]] = 1.0
    return out


def multi_label_names(y: Sequence) -> list[str]:
    """Sorted distinct label names of multi-label targets (a collection of names per row)."""
    return sorted({str(label).strip() for labels in y for label in labels})


def regression_targets(y: Sequence) -> np.ndarray:
    """Float32 targets of shape ``(num_rows, 1)``.

    Raises:
        DataError: If a value is not a finite number (row named).
    """
    out = np.empty((len(y), 1), dtype=np.float32)
    for row, v in enumerate(y):
        try:
            out[row, 0] = float(v)
        except (TypeError, ValueError):
            raise DataError(f"Expected a number for regression. Received: {v!r} at row {row + 1}.") from None
        if not np.isfinite(out[row, 0]):
            raise DataError(f"Expected a finite number for regression. Received: {v!r} at row {row + 1}.")
    return out


def pos_weights(targets: np.ndarray, clip: tuple[float, float] = (1.0, 30.0)) -> np.ndarray:
    """Per-label positive weights ``negatives / positives`` for binary cross-entropy, clipped.

    Without them, plain mean-reduced BCE on sparse labels collapses to predicting the label priors (measured on
    GoEmotions: micro-F1 0.30, everything predicted ``neutral``).

    Args:
        targets: Multi-hot matrix of shape ``(num_rows, num_classes)``.
        clip: ``(low, high)`` bounds of the weights.

    Returns:
        Float32 array of shape ``(num_classes,)``.
    """
    positives = targets.sum(axis=0)
    negatives = len(targets) - positives
    return np.clip(negatives / np.maximum(positives, 1.0), clip[0], clip[1]).astype(np.float32)
