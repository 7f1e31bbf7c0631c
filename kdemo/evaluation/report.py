"""Validation reports for single-label classification, computed with scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)


@dataclass(frozen=True)
class ClassificationReport:
    """Validation metrics of a classifier.

    Attributes:
        accuracy: Fraction 0–1 of rows predicted right.
        macro_f1: Unweighted mean of the per-class F1 scores, fraction 0–1.
        per_class: DataFrame indexed by class name with ``precision``, ``recall``, ``f1-score``, ``support``.
        confusion_matrix: Int array of shape ``(num_classes, num_classes)``; rows are true classes, columns
            predicted classes, both in ``class_names`` order.
        class_names: Label names in id order.
        num_rows: Rows evaluated.
    """

    accuracy: float
    macro_f1: float
    per_class: pd.DataFrame
    confusion_matrix: np.ndarray
    class_names: list[str]
    num_rows: int

    def __str__(self) -> str:
        table = self.per_class.to_string(float_format=lambda v: f"{v:.3f}")
        return f"accuracy {self.accuracy:.4f}  macro-F1 {self.macro_f1:.4f}  ({self.num_rows} rows)\n{table}"

    def to_dict(self) -> dict:
        """JSON-ready form (for ``training_params.json`` and model cards)."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "num_rows": self.num_rows,
            "class_names": self.class_names,
            "per_class": self.per_class.reset_index(names="class").to_dict(orient="records"),
            "confusion_matrix": self.confusion_matrix.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ClassificationReport:
        """The report :meth:`to_dict` wrote (e.g. read back from JSON), equal to the original."""
        return cls(
            accuracy=float(data["accuracy"]),
            macro_f1=float(data["macro_f1"]),
            per_class=_table(data["per_class"], "class"),
            confusion_matrix=np.asarray(data["confusion_matrix"], dtype=np.int64).reshape(
                len(data["class_names"]), len(data["class_names"])),
            class_names=list(data["class_names"]),
            num_rows=int(data["num_rows"]),
        )


def _table(records: list[dict], key: str) -> pd.DataFrame:
    """A per-class table from ``to_dict``'s records: indexed by the ``key`` column (unnamed), ``support`` as int."""
    table = pd.DataFrame.from_records(records).set_index(key).rename_axis(None)
    table["support"] = table["support"].astype(int)
    return table


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> ClassificationReport:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    Args:
        y_true: True class ids, shape ``(num_rows,)``.
        y_pred: Predicted class ids, shape ``(num_rows,)``.
        class_names: Label names in id order.

    Returns:
        A :class:`ClassificationReport`.
    """
    labels = list(range(len(class_names)))
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    table = classification_report(
        y_true, y_pred, labels=labels, target_names=list(class_names), output_dict=True, zero_division=0
    )
    per_class = pd.DataFrame({name: table[name] for name in class_names}).T
    per_class["support"] = per_class["support"].astype(int)
    return ClassificationReport(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        per_class=per_class,
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=labels),
        class_names=list(class_names),
        num_rows=int(len(y_true)),
    )


@dataclass(frozen=True)
class MultiLabelReport:
    """Validation metrics of a multi-label classifier.

    Attributes:
        micro_f1: F1 over all (row, label) decisions, fraction 0–1.
        macro_f1: Unweighted mean of the per-label F1 scores, fraction 0–1.
        subset_accuracy: Fraction 0–1 of rows whose whole label set is right.
        per_label: DataFrame indexed by label with ``precision``, ``recall``, ``f1-score``, ``support``,
            ``threshold``.
        thresholds: Probability threshold (0–1) per label, in ``class_names`` order.
        class_names: Label names in id order.
        num_rows: Rows evaluated.
    """

    micro_f1: float
    macro_f1: float
    subset_accuracy: float
    per_label: pd.DataFrame
    thresholds: list[float]
    class_names: list[str]
    num_rows: int

    def __str__(self) -> str:
        table = self.per_label.to_string(float_format=lambda v: f"{v:.3f}")
        return (
            f"micro-F1 {self.micro_f1:.4f}  macro-F1 {self.macro_f1:.4f}  subset accuracy {self.subset_accuracy:.4f}"
            f"  ({self.num_rows} rows)\n{table}"
        )

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "subset_accuracy": self.subset_accuracy,
            "thresholds": self.thresholds,
            "num_rows": self.num_rows,
            "class_names": self.class_names,
            "per_label": self.per_label.reset_index(names="label").to_dict(orient="records"),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MultiLabelReport:
        """The report :meth:`to_dict` wrote (e.g. read back from JSON), equal to the original."""
        return cls(
            micro_f1=float(data["micro_f1"]),
            macro_f1=float(data["macro_f1"]),
            subset_accuracy=float(data["subset_accuracy"]),
            per_label=_table(data["per_label"], "label"),
            thresholds=[float(t) for t in data["thresholds"]],
            class_names=list(data["class_names"]),
            num_rows=int(data["num_rows"]),
        )


def tune_thresholds(
    y_true: np.ndarray, probs: np.ndarray, grid: Sequence[float] | None = None, *, min_positives: int = 10
) -> list[float]:
    """Probability thresholds for multi-label predictions, tuned on validation data.

    First one global threshold is chosen to maximise micro-F1 over all labels; then each label with at least
    ``min_positives`` positive rows gets its own F1-maximising threshold. Rarer labels keep the global one, because
    a threshold fitted to a handful of examples does not carry over to new data.

    Args:
        y_true: Multi-hot targets, shape ``(num_rows, num_classes)``.
        probs: Sigmoid probabilities, shape ``(num_rows, num_classes)``.
        grid: Candidate thresholds (default 0.05, 0.10, …, 0.95).
        min_positives: Positive rows a label needs in ``y_true`` to get its own threshold.

    Returns:
        One threshold (0–1) per label.
    """
    grid = np.arange(0.05, 0.96, 0.05) if grid is None else np.asarray(grid)
    y_true = np.asarray(y_true).astype(int)
    micro = [f1_score(y_true, (probs >= t).astype(int), average="micro", zero_division=0) for t in grid]
    global_t = float(round(grid[int(np.argmax(micro))], 2))
    out = []
    for j in range(y_true.shape[1]):
        if y_true[:, j].sum() < min_positives:
            out.append(global_t)
            continue
        scores = [f1_score(y_true[:, j], probs[:, j] >= t, zero_division=0) for t in grid]
        out.append(float(round(grid[int(np.argmax(scores))], 2)))
    return out


def multilabel_metrics(
    y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], thresholds: Sequence[float] | float = 0.5
) -> MultiLabelReport:
    """Micro/macro F1, subset accuracy and per-label scores at the given thresholds.

    Args:
        y_true: Multi-hot targets, shape ``(num_rows, num_classes)``.
        probs: Probabilities, shape ``(num_rows, num_classes)``.
        class_names: Label names in id order.
        thresholds: One threshold (0–1) for all labels, or one per label.

    Returns:
        A :class:`MultiLabelReport`.
    """
    th = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (probs.shape[1],))
    y_pred = (probs >= th).astype(int)
    y_true = y_true.astype(int)
    table = classification_report(y_true, y_pred, target_names=list(class_names), output_dict=True, zero_division=0)
    per_label = pd.DataFrame({name: table[name] for name in class_names}).T
    per_label["support"] = per_label["support"].astype(int)
    per_label["threshold"] = th
    return MultiLabelReport(
        micro_f1=float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        macro_f1=float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        subset_accuracy=float(accuracy_score(y_true, y_pred)),
        per_label=per_label,
        thresholds=[float(t) for t in th],
        class_names=list(class_names),
        num_rows=int(len(y_true)),
    )


@dataclass(frozen=True)
class RegressionReport:
    """Validation metrics of a regression model.

    Attributes:
        mae: Mean absolute error, in the target's units.
        rmse: Root mean squared error, in the target's units.
        r2: Coefficient of determination (1 is perfect, 0 is predicting the mean).
        y_true: True values, shape ``(num_rows,)``.
        y_pred: Predicted values, shape ``(num_rows,)``.
        num_rows: Rows evaluated.
    """

    mae: float
    rmse: float
    r2: float
    y_true: np.ndarray
    y_pred: np.ndarray
    num_rows: int

    def __str__(self) -> str:
        return f"MAE {self.mae:.4f}  RMSE {self.rmse:.4f}  R² {self.r2:.4f}  ({self.num_rows} rows)"

    def to_dict(self, values: bool = False) -> dict:
        """JSON-ready form.

        Args:
            values: Also write ``y_true`` and ``y_pred`` (lists of ``num_rows`` floats), so that :meth:`from_dict`
                gives back the whole report (the app's store); False (model cards, records) leaves them out.
        """
        out = {"mae": self.mae, "rmse": self.rmse, "r2": self.r2, "num_rows": self.num_rows}
        if values:
            out.update(y_true=self.y_true.tolist(), y_pred=self.y_pred.tolist())
        return out

    @classmethod
    def from_dict(cls, data: dict) -> RegressionReport:
        """The report :meth:`to_dict` wrote; without its per-row values, ``y_true`` and ``y_pred`` are empty."""
        return cls(
            mae=float(data["mae"]),
            rmse=float(data["rmse"]),
            r2=float(data["r2"]),
            y_true=np.asarray(data.get("y_true", []), dtype=np.float64),
            y_pred=np.asarray(data.get("y_pred", []), dtype=np.float64),
            num_rows=int(data["num_rows"]),
        )


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> RegressionReport:
    """MAE, RMSE and R² (scikit-learn).

    Args:
        y_true: True values, shape ``(num_rows,)`` or ``(num_rows, 1)``.
        y_pred: Predictions, same shape.

    Returns:
        A :class:`RegressionReport`.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    return RegressionReport(
        mae=float(mean_absolute_error(t, p)),
        rmse=float(np.sqrt(mean_squared_error(t, p))),
        r2=float(r2_score(t, p)) if len(t) > 1 else float("nan"),
        y_true=t,
        y_pred=p,
        num_rows=int(len(t)),
    )
