"""cleanlab adapter of regression: label quality of numeric targets from out-of-sample predicted values.

cleanlab's regression scores (``cleanlab.regression.rank.get_label_quality_scores``, method ``"outre"``: the
residual of each label, rescaled by how unusual it is among the residuals of its neighbours; Zhou, Wang and Mueller
2023, "Detecting Errors in Numerical Data via any Regression Model") rank the targets. Which ones are flagged follows
cleanlab's own rule for given predictions (Datalab's ``RegressionLabelIssueManager``: a score below
:data:`ISSUE_THRESHOLD` times the median score), so the flag is cleanlab's, not kdemo's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdemo.errors import DataError

#: A label is flagged when its quality is below this multiple of the median quality (cleanlab Datalab's default
#: ``threshold`` of regression label issues found from predictions).
ISSUE_THRESHOLD = 0.05


def format_target(value: float) -> str:
    """A target as a label-issue table writes it: Python's shortest round-tripping ``str(float)`` (``"3.7"``)."""
    return str(float(value))


def regression_scores(labels, predictions, class_names=()) -> pd.DataFrame:
    """Label quality and flagged issues of regression targets.

    Args:
        labels: Given targets, float ``(num_examples,)``.
        predictions: Out-of-sample predicted values, float ``(num_examples,)`` (or ``(num_examples, 1)``).
        class_names: Ignored (a regression has no classes); accepted so that every task's adapter has one signature.

    Returns:
        One row per example, in the order of ``labels``: ``position`` (int), ``given`` (the target,
        :func:`format_target`), ``suggested`` (the prediction, formatted the same way), ``label_quality`` (float
        0–1, lower = more likely mislabeled) and ``is_issue`` (bool: quality below :data:`ISSUE_THRESHOLD` × the
        median quality).

    Raises:
        DataError: If the shapes disagree, there are fewer than 2 examples, or a value is not finite.
    """
    from cleanlab.regression.rank import get_label_quality_scores

    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    pred = np.asarray(predictions, dtype=np.float64)
    pred = pred.reshape(-1) if pred.ndim == 2 and pred.shape[1] == 1 else pred
    if pred.shape != y.shape:
        raise DataError(f"Expected one predicted value per target, shape (num_examples={len(y)},). Received: shape "
                        f"{pred.shape}.")
    if len(y) < 2:
        raise DataError(f"Expected at least 2 examples to find regression label issues. Received: {len(y)}.")
    bad = np.flatnonzero(~(np.isfinite(y) & np.isfinite(pred)))
    if bad.size:
        raise DataError(f"Expected finite targets and predictions. Received: NaN or inf at positions "
                        f"{bad[:10].tolist()}. Check those rows.")
    quality = np.asarray(get_label_quality_scores(y, pred), dtype=float)
    flagged = quality < np.median(quality) * ISSUE_THRESHOLD
    return pd.DataFrame({"position": np.arange(len(y)), "given": [format_target(v) for v in y],
                         "suggested": [format_target(v) for v in pred], "label_quality": quality,
                         "is_issue": flagged})
