"""What a task's test-file scorer returns: the full report, and every metric as a function of row indices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: A metric of a subset of the test rows: index array of shape ``(num_rows,)`` → number.
Metric = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class RowScores:
    """One run's predictions on a test file, ready to bootstrap.

    Attributes:
        report: The task's full report on all rows, as for validation (``ClassificationReport``, ``NERReport`` …).
        n: Rows (sentences, questions) of the test file, the unit that bootstrap resamples.
        metrics: Metric key → function of a row-index array (see :data:`Metric`).
        correct: Whether each row is right, bool of shape ``(n,)``, for McNemar's test of :attr:`exact_metric`;
            None where the task has no per-row right or wrong (regression).
        exact_metric: The metric that is the mean of :attr:`correct` (``"accuracy"``, ``"subset_accuracy"``,
            ``"exact_match"``), or None.
        percent: Metric keys in 0–1 (shown in points); others are shown as they are.
        lower_is_better: Metric keys where lower is better (MAE, RMSE).
        unit: What one row is (``"rows"``, ``"sentences"``, ``"questions"``).
    """

    report: object
    n: int
    metrics: Mapping[str, Metric]
    correct: np.ndarray | None = None
    exact_metric: str | None = None
    percent: frozenset = field(default_factory=frozenset)
    lower_is_better: frozenset = field(default_factory=frozenset)
    unit: str = "rows"
