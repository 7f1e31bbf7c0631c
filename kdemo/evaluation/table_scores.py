"""Test-file scores of the table tasks (single-label, multi-label, regression), per row, for bootstrapping."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kdemo.data.tables import read_table
from kdemo.errors import DataError
from kdemo.evaluation.report import classification_metrics, multilabel_metrics, regression_metrics
from kdemo.evaluation.row_scores import RowScores


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Macro-F1 over ``k`` classes from the confusion counts (scikit-learn's ``f1_score(average="macro",
    labels=range(k), zero_division=0)``, fast enough to bootstrap).

    Args:
        y_true: Class ids, int array of shape ``(num_rows,)``.
        y_pred: Predicted class ids, same shape.
        k: Number of classes.
    """
    cm = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    denom = (cm.sum(0) + cm.sum(1)).astype(np.float64)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)))


def multilabel_f1(y_true: np.ndarray, y_pred: np.ndarray, average: str) -> float:
    """Micro- or macro-F1 of multi-hot rows (scikit-learn's ``f1_score(average=..., zero_division=0)``).

    Args:
        y_true: 0/1 array of shape ``(num_rows, num_labels)``.
        y_pred: 0/1 array, same shape.
        average: ``"micro"`` or ``"macro"``.
    """
    tp = (y_true & y_pred).sum(0).astype(np.float64)
    denom = (y_true.sum(0) + y_pred.sum(0)).astype(np.float64)
    if average == "micro":
        return float(2 * tp.sum() / denom.sum()) if denom.sum() else 0.0
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)))


def _texts(df: pd.DataFrame, text_column: str, pair_column: str | None) -> list:
    texts = df[text_column].fillna("").astype(str).tolist()
    if pair_column:
        return list(zip(texts, df[pair_column].fillna("").astype(str).tolist()))
    return texts


def _class_ids(values: pd.Series, names: Sequence[str], column: str) -> np.ndarray:
    index = {str(n): i for i, n in enumerate(names)}
    ids = []
    for row, value in enumerate(values.tolist()):
        key = str(value).strip()
        if key.endswith(".0") and key[:-2] in index:  # integer labels read as floats
            key = key[:-2]
        if key not in index:
            raise DataError(f"Expected a class the model knows ({', '.join(map(str, names))}) in column {column!r}. "
                            f"Received: {value!r} on row {row + 2}. Fix or drop that row.")
        ids.append(index[key])
    return np.asarray(ids, dtype=np.int64)


def _multi_hot(df: pd.DataFrame, columns: Sequence[str], names: Sequence[str]) -> np.ndarray:
    if len(columns) > 1:
        return (df[list(columns)].astype(float).to_numpy() >= 0.5).astype(np.int64)
    index = {str(n): i for i, n in enumerate(names)}
    out = np.zeros((len(df), len(names)), dtype=np.int64)
    for row, cell in enumerate(df[columns[0]].fillna("").astype(str).tolist()):
        for label in filter(None, (part.strip() for part in cell.split("|"))):
            if label not in index:
                raise DataError(f"Expected labels the model knows ({', '.join(names)}) in column {columns[0]!r}. "
                                f"Received: {label!r} on row {row + 2}. Fix or drop that row.")
            out[row, index[label]] = 1
    return out


def table_scores(predictor, path, *, text_column: str | None = None, text_pair_column: str | None = None,
                 label_columns: Sequence[str] = (), frame: pd.DataFrame | None = None) -> RowScores:
    """Predict every row of a labelled table and score it as validation does, with per-row metric functions.

    Args:
        predictor: A loaded table predictor (:func:`kdemo.load_predictor`).
        path: The table (CSV, TSV, JSONL, Parquet, XLSX); ignored when ``frame`` is given.
        text_column: Column of the texts (the run's).
        text_pair_column: Column of the second texts (runs trained on pairs), or None.
        label_columns: The label column(s) (the run's).
        frame: The table already read, instead of ``path``.

    Returns:
        :class:`~kdemo.evaluation.row_scores.RowScores`: single-label ``accuracy`` (McNemar) and ``macro_f1``;
        multi-label ``micro_f1``, ``macro_f1`` and ``subset_accuracy`` (McNemar on exact rows), at the saved
        thresholds; regression ``mae``, ``rmse`` and ``r2``.

    Raises:
        DataError: If a column is missing, the table has fewer than 2 rows, or a label is unknown (row named).
    """
    df = read_table(path) if frame is None else frame
    missing = [c for c in (text_column, text_pair_column, *label_columns) if c and c not in df.columns]
    if missing or not text_column or not label_columns:
        raise DataError(f"Expected the run's columns (text {text_column!r}, labels {list(label_columns)}) in the test "
                        f"file. Received: columns {list(df.columns)}. Give --text-column/--label-column.")
    if len(df) < 2:
        raise DataError(f"Expected at least 2 labelled rows in the test file. Received: {len(df)}.")
    probs = np.asarray(predictor.predict_proba(_texts(df, text_column, text_pair_column)))
    names = predictor.get_classes()
    layout = predictor.spec.label_layout
    if layout == "target":
        y = df[label_columns[0]].astype(float).to_numpy()
        p = probs.reshape(len(df), -1)[:, 0].astype(np.float64)

        def r2(idx):
            t = y[idx]
            ss = float(((t - t.mean()) ** 2).sum())
            return 1 - float(((t - p[idx]) ** 2).sum()) / ss if ss > 0 else float("nan")

        metrics = {"mae": lambda idx: float(np.abs(y[idx] - p[idx]).mean()),
                   "rmse": lambda idx: float(np.sqrt(((y[idx] - p[idx]) ** 2).mean())), "r2": r2}
        return RowScores(regression_metrics(y, p), len(df), metrics, lower_is_better=frozenset({"mae", "rmse"}))
    if layout == "multi_hot":
        y = _multi_hot(df, label_columns, names)
        th = np.asarray(getattr(predictor, "thresholds", None) or [0.5] * len(names))
        pred = (probs >= th).astype(np.int64)
        correct = (pred == y).all(axis=1)
        metrics = {"micro_f1": lambda idx: multilabel_f1(y[idx], pred[idx], "micro"),
                   "macro_f1": lambda idx: multilabel_f1(y[idx], pred[idx], "macro"),
                   "subset_accuracy": lambda idx: float(correct[idx].mean())}
        return RowScores(multilabel_metrics(y, probs, names, th), len(df), metrics, correct=correct,
                         exact_metric="subset_accuracy", percent=frozenset(metrics))
    y = _class_ids(df[label_columns[0]], names, label_columns[0])
    pred = probs.argmax(axis=1)
    correct = pred == y
    metrics = {"accuracy": lambda idx: float(correct[idx].mean()),
               "macro_f1": lambda idx: macro_f1(y[idx], pred[idx], len(names))}
    return RowScores(classification_metrics(y, pred, names), len(df), metrics, correct=correct, exact_metric="accuracy",
                     percent=frozenset(metrics))
