"""Validation reports for single-label classification, computed with scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


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
