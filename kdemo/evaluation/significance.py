"""Confidence intervals and paired tests of test-set metrics: bootstrap (scipy) and McNemar's exact test (statsmodels).

Every function works on *row indices*: a metric is a function from an index array (the rows of a resample) to a
number, so non-decomposable metrics (macro-F1, entity F1, R²) are bootstrapped as wholes, as Koehn (2004,
"Statistical significance tests for machine translation evaluation") and Berg-Kirkpatrick et al. (2012) do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Resamples of every bootstrap (CIs and paired tests).
N_RESAMPLES = 2000
#: Confidence level of every interval.
CONFIDENCE = 0.95

Metric = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Interval:
    """A metric on the whole test set and its bootstrap confidence interval.

    Attributes:
        value: The metric on all rows.
        low: Lower end of the 95 % interval.
        high: Upper end of the 95 % interval.
    """

    value: float
    low: float
    high: float

    def to_dict(self) -> dict:
        """``{"value", "ci_low", "ci_high"}``."""
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


def _distribution(statistic: Metric, n: int, *, n_resamples: int, seed: int) -> np.ndarray:
    """The statistic on ``n_resamples`` resamples of the rows ``0..n-1`` (with replacement), drawn by
    :func:`scipy.stats.bootstrap`; shape ``(n_resamples,)``."""
    from scipy.stats import bootstrap

    result = bootstrap((np.arange(n),), statistic, vectorized=False, paired=False, n_resamples=n_resamples,
                       confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(seed))
    return np.asarray(result.bootstrap_distribution, dtype=np.float64)


def bootstrap_interval(metric: Metric, n: int, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """Percentile bootstrap 95 % confidence interval of a metric over ``n`` rows (Efron & Tibshirani 1993).

    Args:
        metric: Maps an index array of shape ``(num_rows,)`` to the metric on those rows.
        n: Rows of the test set (at least 2).
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling (the same seed gives the same interval).

    Returns:
        The :class:`Interval`: the metric on all rows, and the 2.5th and 97.5th percentiles of the resampled values.

    Raises:
        ValueError: If ``n`` < 2.
    """
    if n < 2:
        raise ValueError(f"Expected at least 2 rows to bootstrap. Received: {n}.")
    values = _distribution(metric, n, n_resamples=n_resamples, seed=seed)
    low, high = np.nanpercentile(values, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return Interval(float(metric(np.arange(n))), float(low), float(high))


@dataclass(frozen=True)
class PairedTest:
    """Run B minus run A on the same rows: the difference, its interval and the p-value of "no difference".

    Attributes:
        metric: The metric's key (e.g. ``"accuracy"``).
        a: Run A's metric on all rows.
        b: Run B's metric on all rows.
        difference: ``b - a``.
        low: Lower end of the difference's 95 % paired-bootstrap interval.
        high: Upper end.
        test: ``"mcnemar_exact"`` or ``"paired_bootstrap"``.
        p_value: Two-sided p-value.
    """

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    test: str
    p_value: float

    def to_dict(self) -> dict:
        """JSON-ready: ``metric, a, b, difference, ci_low, ci_high, test, p_value``."""
        return {"metric": self.metric, "a": self.a, "b": self.b, "difference": self.difference, "ci_low": self.low,
                "ci_high": self.high, "test": self.test, "p_value": self.p_value}

    def sentence(self, *, name_a: str = "run A", name_b: str = "run B", percent: bool = True,
                 higher_is_better: bool = True, alpha: float = 0.05) -> str:
        """One plain sentence, e.g. "run B is better than run A by 2.1 points of accuracy, 95 % CI 0.4 to 3.8; this
        is unlikely to be chance, p = 0.01".

        Args:
            name_a: How run A is called.
            name_b: How run B is called.
            percent: Show the metric in points (×100), for metrics in 0–1.
            higher_is_better: False for errors (MAE, RMSE).
            alpha: The p-value below which the difference is called unlikely to be chance.
        """
        scale, unit = (100.0, "points of ") if percent else (1.0, "")
        name = self.metric.replace("_", " ").replace("macro f1", "macro-F1").replace("micro f1", "micro-F1")
        if self.difference == 0:
            head = f"{name_b} and {name_a} have the same {name}"
        else:
            better = (self.difference > 0) == higher_is_better
            head = (f"{name_b if better else name_a} is better than {name_a if better else name_b} by "
                    f"{abs(self.difference) * scale:.{1 if percent else 3}f} {unit}{name}")
        ci = f"95 % CI {self.low * scale:.{1 if percent else 3}f} to {self.high * scale:.{1 if percent else 3}f}"
        verdict = ("this is unlikely to be chance" if self.p_value < alpha
                   else "this could well be chance")
        return f"{head}, {ci} ({name_b} − {name_a}); {verdict}, p = {self.p_value:.2g}"


def paired_bootstrap(metric: str, metric_a: Metric, metric_b: Metric, n: int, *, n_resamples: int = N_RESAMPLES,
                     seed: int = 0) -> PairedTest:
    """Paired bootstrap test of ``metric_b - metric_a`` on the same rows (Koehn 2004; Berg-Kirkpatrick et al. 2012).

    Both runs are scored on the same resampled rows. The interval is the percentile interval of the resampled
    differences; the two-sided p-value is twice the smaller share of resampled differences on either side of 0
    (at most 1), i.e. the bootstrap's sign test of "no difference".

    Args:
        metric: The metric's key, for the result.
        metric_a: Run A's metric of an index array of shape ``(num_rows,)``.
        metric_b: Run B's metric of the same.
        n: Rows of the test set (at least 2).
        n_resamples: Resamples.
        seed: Seed of the resampling.

    Returns:
        The :class:`PairedTest` (``test="paired_bootstrap"``).

    Raises:
        ValueError: If ``n`` < 2.
    """
    if n < 2:
        raise ValueError(f"Expected at least 2 rows to bootstrap. Received: {n}.")
    diffs = _distribution(lambda idx: metric_b(idx) - metric_a(idx), n, n_resamples=n_resamples, seed=seed)
    diffs = diffs[np.isfinite(diffs)]
    low, high = np.percentile(diffs, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    p = min(1.0, 2 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    a, b = float(metric_a(np.arange(n))), float(metric_b(np.arange(n)))
    return PairedTest(metric, a, b, b - a, float(low), float(high), "paired_bootstrap", p)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray, *, metric: str = "accuracy",
                  n_resamples: int = N_RESAMPLES, seed: int = 0) -> PairedTest:
    """McNemar's exact test of two runs' per-row correctness (statsmodels' ``mcnemar(exact=True)``, a binomial test
    on the rows where exactly one run is right), with the accuracy difference's paired-bootstrap interval.

    Args:
        correct_a: Whether run A got each row right, bool of shape ``(num_rows,)``.
        correct_b: The same for run B, same rows.
        metric: The metric's key, for the result.
        n_resamples: Resamples of the interval.
        seed: Seed of the resampling.

    Returns:
        The :class:`PairedTest` (``test="mcnemar_exact"``), ``a``/``b`` the accuracies.

    Raises:
        ValueError: If the arrays differ in length or have fewer than 2 rows.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Expected two per-row arrays of one length. Received: shapes {a.shape} and {b.shape}.")
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    p = float(mcnemar(table, exact=True).pvalue)
    boot = paired_bootstrap(metric, lambda idx: float(a[idx].mean()), lambda idx: float(b[idx].mean()), len(a),
                            n_resamples=n_resamples, seed=seed)
    return PairedTest(metric, boot.a, boot.b, boot.difference, boot.low, boot.high, "mcnemar_exact", p)
