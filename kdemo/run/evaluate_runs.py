"""``kdemo.evaluate`` and ``kdemo.compare``: a saved run scored on a labelled test file with 95 % bootstrap
confidence intervals, and two runs compared on the same file with a paired test per metric."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kdemo.errors import DataError
from kdemo.evaluation.row_scores import RowScores
from kdemo.evaluation.significance import N_RESAMPLES, Interval, PairedTest, bootstrap_interval, mcnemar_exact, paired_bootstrap
from kdemo.inference.base import load_predictor


def run_columns(folder: str | os.PathLike) -> dict:
    """The columns a saved run was trained on, from its ``training_params.json`` (``resolved``); empty when absent.

    Returns:
        ``{"text_column", "text_pair_column", "label_columns"}`` (values None/empty where unknown).
    """
    path = Path(folder) / "training_params.json"
    try:
        resolved = json.loads(path.read_text(encoding="utf-8")).get("resolved", {})
    except (OSError, ValueError):
        resolved = {}
    return {"text_column": resolved.get("text_column"), "text_pair_column": resolved.get("text_pair_column"),
            "label_columns": tuple(resolved.get("label_columns") or ())}


@dataclass(frozen=True)
class Evaluation:
    """One run on one test file.

    Attributes:
        run: The run's folder.
        test_file: The test file.
        scores: The per-row scores (:class:`~kdemo.evaluation.row_scores.RowScores`; ``scores.report`` is the full
            report, as for validation).
        intervals: Metric key → :class:`~kdemo.evaluation.significance.Interval` (95 % bootstrap CI).
    """

    run: str
    test_file: str
    scores: RowScores
    intervals: dict

    @property
    def report(self):
        """The task's full report on the test file."""
        return self.scores.report

    def to_dict(self) -> dict:
        """JSON-ready: ``run, test_file, rows, metrics`` (each ``{"value", "ci_low", "ci_high"}``)."""
        return {"run": self.run, "test_file": self.test_file, "rows": self.scores.n,
                "metrics": {k: v.to_dict() for k, v in self.intervals.items()}}

    def __str__(self) -> str:
        lines = [f"{self.run} on {self.test_file} ({self.scores.n} {self.scores.unit}):"]
        for key, ci in self.intervals.items():
            scale = 100 if key in self.scores.percent else 1
            digits = 1 if scale == 100 else 4
            lines.append(f"  {key}: {ci.value * scale:.{digits}f} (95 % CI {ci.low * scale:.{digits}f} to "
                         f"{ci.high * scale:.{digits}f})")
        return "\n".join(lines + ["", str(self.report)])


@dataclass(frozen=True)
class Comparison:
    """Run B against run A on one test file.

    Attributes:
        a: Run A's :class:`Evaluation`.
        b: Run B's :class:`Evaluation`.
        tests: Metric key → :class:`~kdemo.evaluation.significance.PairedTest` (B − A).
    """

    a: Evaluation
    b: Evaluation
    tests: dict

    def sentence(self, metric: str | None = None) -> str:
        """The plain sentence of one metric's test (default: the first, e.g. accuracy)."""
        key = metric or next(iter(self.tests))
        s = self.a.scores
        return self.tests[key].sentence(percent=key in s.percent, higher_is_better=key not in s.lower_is_better)

    def to_dict(self) -> dict:
        """JSON-ready: ``run_a, run_b, test_file, rows`` and per metric ``a, b, difference, ci_low, ci_high, test,
        p_value, sentence``."""
        return {"run_a": self.a.run, "run_b": self.b.run, "test_file": self.a.test_file, "rows": self.a.scores.n,
                "metrics": {k: {**t.to_dict(), "sentence": self.sentence(k)} for k, t in self.tests.items()}}

    def __str__(self) -> str:
        return "\n".join([f"A: {self.a.run}", f"B: {self.b.run}", f"test file: {self.a.test_file} "
                          f"({self.a.scores.n} {self.a.scores.unit})"]
                         + [f"  {k} ({t.test}): {self.sentence(k)}" for k, t in self.tests.items()])


def score_run(run: str | os.PathLike, test_file: str | os.PathLike, *, text_column: str | None = None,
              label_column: str | Sequence[str] | None = None) -> RowScores:
    """Load a saved run and score it on a test file through its task's scorer (``TaskSpec.scorer``).

    Args:
        run: The run's folder (``python -m kdemo train --out``, ``result.save``).
        test_file: The labelled file, with the run's columns (or those given).
        text_column: The text (or question) column, instead of the run's.
        label_column: The label column(s), instead of the run's.

    Returns:
        The :class:`~kdemo.evaluation.row_scores.RowScores`.

    Raises:
        ModelError: If the folder cannot be loaded.
        DataError: If the file lacks the columns or holds unknown labels (the row is named).
    """
    predictor = load_predictor(run)
    columns = run_columns(run)
    if text_column:
        columns["text_column"] = text_column
    if label_column:
        columns["label_columns"] = (label_column,) if isinstance(label_column, str) else tuple(label_column)
    scorer = predictor.spec.load("scorer") if predictor.spec.scorer else None
    if scorer is None:
        raise DataError(f"Expected a task with a test-file scorer. Received: {predictor.task}, which has none yet. "
                        "Use learner.validate() on a validation split instead.")
    return scorer(predictor, test_file, **columns)


def evaluate(run: str | os.PathLike, test_file: str | os.PathLike, *, text_column: str | None = None,
             label_column: str | Sequence[str] | None = None, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Evaluation:
    """Score a saved run on a labelled test file: the full report, every metric with its 95 % bootstrap CI.

    Args:
        run: The run's folder.
        test_file: The labelled file (the run's columns, found as for training, or given).
        text_column: Text column, instead of the run's.
        label_column: Label column(s), instead of the run's.
        n_resamples: Bootstrap resamples (percentile intervals, :func:`scipy.stats.bootstrap`).
        seed: Seed of the resampling.

    Returns:
        The :class:`Evaluation` (``print`` it, or ``to_dict()``).

    Raises:
        ModelError: If the folder cannot be loaded.
        DataError: If the file lacks the columns, has fewer than 2 rows or unknown labels.

    Example:
        >>> kdemo.evaluate("my-model", "test.csv").to_dict()["metrics"]["accuracy"]
        {'value': 0.91, 'ci_low': 0.88, 'ci_high': 0.94}
    """
    scores = score_run(run, test_file, text_column=text_column, label_column=label_column)
    intervals = {k: bootstrap_interval(m, scores.n, n_resamples=n_resamples, seed=seed) for k, m in scores.metrics.items()}
    return Evaluation(str(run), str(test_file), scores, intervals)


def compare(run_a: str | os.PathLike, run_b: str | os.PathLike, test_file: str | os.PathLike, *,
            text_column: str | None = None, label_column: str | Sequence[str] | None = None,
            n_resamples: int = N_RESAMPLES, seed: int = 0) -> Comparison:
    """Compare two saved runs on the same test file: per metric, B − A with its 95 % paired-bootstrap CI and a
    p-value: McNemar's exact test for the per-row right/wrong metric (accuracy, subset accuracy, exact match), a
    paired bootstrap (Koehn 2004) for the others (F1, macro-F1, entity F1, MAE …).

    Args:
        run_a: Run A's folder.
        run_b: Run B's folder (same task).
        test_file: The labelled file.
        text_column: Text column, instead of the runs'.
        label_column: Label column(s), instead of the runs'.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling (both runs see the same resamples).

    Returns:
        The :class:`Comparison` (``sentence()``: "run B is better than run A by 2.1 points of accuracy, …").

    Raises:
        DataError: If the runs score different rows or metrics (different tasks), or as :func:`evaluate`.
    """
    a = evaluate(run_a, test_file, text_column=text_column, label_column=label_column, n_resamples=n_resamples, seed=seed)
    b = evaluate(run_b, test_file, text_column=text_column, label_column=label_column, n_resamples=n_resamples, seed=seed)
    sa, sb = a.scores, b.scores
    if sa.n != sb.n or set(sa.metrics) != set(sb.metrics):
        raise DataError(f"Expected two runs of one task scored on the same rows. Received: {sa.n} rows with "
                        f"{sorted(sa.metrics)} and {sb.n} rows with {sorted(sb.metrics)}. Compare runs of one task.")
    tests: dict[str, PairedTest] = {}
    for key in sa.metrics:
        if key == sa.exact_metric and sa.correct is not None and sb.correct is not None:
            tests[key] = mcnemar_exact(sa.correct, sb.correct, metric=key, n_resamples=n_resamples, seed=seed)
        else:
            tests[key] = paired_bootstrap(key, sa.metrics[key], sb.metrics[key], sa.n, n_resamples=n_resamples, seed=seed)
    return Comparison(a, b, tests)


__all__ = ["Comparison", "Evaluation", "Interval", "compare", "evaluate", "run_columns", "score_run"]
