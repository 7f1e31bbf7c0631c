"""Which task a table's label columns describe, and parsing them into per-row labels.

Label formats recognised (task names are those of :mod:`kdemo.tasks`):

* ``single_label``: one column of strings or integers (``pos``/``neg``, ``0``/``1``/``2``; ``"1"``, ``1`` and
  ``"1.0"`` are the same class).
* ``multi_label``: one column of labels joined by ``|`` (``"joy|surprise"``), or list cells (from JSON/Parquet),
  or several columns of 0/1 values (one column per label; ``true``/``false`` also accepted).
* ``regression``: one float column (``1.0``/``0.0`` and ``10.0``/``15.0`` too, as in ktrain), or numbers of which
  at least one is not a whole number (``0.25``, ``3.7``).
* one-hot ``single_label``: several 0/1 columns with exactly one 1 per row (``label_columns=["neg", "pos"]``);
  the classes are the columns, in the order given.

Row numbers in messages follow :mod:`kdemo.data.tables` (data rows from 1, header not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kdemo.data.tables import format_rows, row_numbers
from kdemo.errors import DataError
from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, check_task, multi_label_names

#: Column names taken for the label column, in order of preference.
LABEL_NAME_HINTS = ("label", "labels", "class", "category", "target", "sentiment", "y", "tag")
#: Separator of labels joined in one cell (multi-label).
LABEL_SEPARATOR = "|"
#: Cell values that mean "no label" (compared case-insensitively, after stripping), besides empty cells.
MISSING_MARKERS = frozenset({"nan", "none", "null"})
_TRUE, _FALSE = {"1", "1.0", "true", "yes"}, {"0", "0.0", "false", "no"}


@dataclass(frozen=True)
class LabelIssue:
    """A label problem that stops training.

    Attributes:
        kind: ``"missing_label"`` (empty cell) or ``"bad_label"`` (a value the task cannot use).
        message: Expected / received / what to do, rows included.
        rows: 1-based data rows concerned.
    """

    kind: str
    message: str
    rows: tuple[int, ...]


def label_key(value) -> str:
    """Canonical string form of a label value (``1``, ``1.0`` and ``"1"`` are the same class)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value).strip()


def sorted_class_names(labels: Sequence) -> list[str]:
    """Distinct labels, sorted so that ids are deterministic (numerically when every label is an integer).

    Args:
        labels: Label values (strings or numbers).

    Returns:
        The distinct labels as strings, sorted.
    """
    keys = {label_key(v) for v in labels}
    if all(k.lstrip("-").isdigit() for k in keys):
        return sorted(keys, key=int)
    return sorted(keys)


def _columns(df: pd.DataFrame, label_columns: Sequence[str] | str) -> list[str]:
    cols = [label_columns] if isinstance(label_columns, str) else list(label_columns or [])
    if not cols:
        raise DataError("Expected at least one label column. Received: none. Pick the column(s) holding the labels.")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"Expected the label column(s) {missing} in the table. Received columns: {list(df.columns)}. "
                        "Pick the label column(s) from this list.")
    return cols


def missing_labels(series: pd.Series) -> np.ndarray:
    """Boolean mask of label cells that hold no label.

    Args:
        series: A label column.

    Returns:
        True for NaN/None, strings that are empty or whitespace only, and :data:`MISSING_MARKERS` such as ``"NaN"``
        (what pandas and spreadsheets write for a missing value). List cells are never missing.
    """
    return np.array([v is None or (isinstance(v, float) and np.isnan(v))
                     or (isinstance(v, str) and (not v.strip() or v.strip().lower() in MISSING_MARKERS))
                     for v in series.tolist()], dtype=bool)


def _as_float(value) -> float | None:
    try:
        out = float(str(value).strip())
    except ValueError:
        return None
    return out if np.isfinite(out) else None


def _binary(value) -> bool | None:
    key = str(value).strip().lower()
    return True if key in _TRUE else False if key in _FALSE else None


def detect_task(df: pd.DataFrame, label_columns: Sequence[str] | str) -> str:
    """Detect the task from the label column(s); missing cells are ignored (see :func:`find_label_issues`).

    Rules, in order (ktrain's, ``ktrain/utils.py``): several 0/1 columns → ``single_label`` when every row has
    exactly one 1 (one-hot), else ``multi_label``; list cells or a ``|`` in any cell → ``multi_label``; a float
    column without missing cells (whole numbers such as ``10.0`` too) or numbers of which one is not whole →
    ``regression``; else ``single_label`` (integers and strings are class names).

    Args:
        df: The table.
        label_columns: One column name or a list of names.

    Returns:
        ``"single_label"``, ``"multi_label"`` or ``"regression"``.

    Raises:
        DataError: If a column is missing.
    """
    cols = _columns(df, label_columns)
    if len(cols) > 1:
        return SINGLE_LABEL if one_hot_columns(df, cols) else MULTI_LABEL
    series = df[cols[0]][~missing_labels(df[cols[0]])]
    values = series.tolist()
    if any(isinstance(v, list) for v in values) or any(LABEL_SEPARATOR in str(v) for v in values):
        return MULTI_LABEL
    if values and pd.api.types.is_float_dtype(df[cols[0]].dtype) and len(series) == len(df):
        return REGRESSION  # a float column (10.0, 15.0 too) holds numeric targets, as in ktrain (utils.py)
    numbers = [_as_float(v) for v in values]
    if values and all(n is not None for n in numbers) and not all(n.is_integer() for n in numbers):
        return REGRESSION
    return SINGLE_LABEL


def one_hot_columns(df: pd.DataFrame, cols: Sequence[str]) -> bool:
    """Whether several 0/1 label columns hold exactly one 1 per row (ktrain: single-label one-hot columns).

    Args:
        df: The table.
        cols: Two or more label columns.

    Returns:
        True when every cell is 0/1 (``true``/``false`` too) and every row has exactly one 1.
    """
    if len(cols) < 2:
        return False
    flags = [[_binary(v) for v in df[c].tolist()] for c in cols]
    if any(f is None for col in flags for f in col):
        return False
    return bool((np.array(flags, dtype=bool).sum(axis=0) == 1).all())


def find_label_issues(df: pd.DataFrame, label_columns: Sequence[str] | str, task: str) -> list[LabelIssue]:
    """Every label problem that stops training for ``task``, with rows; [] when the labels can be parsed.

    Args:
        df: The table.
        label_columns: One column name or a list of names.
        task: One of ``"single_label"``, ``"multi_label"``, ``"regression"``.

    Returns:
        Issues: empty cells (any task; in 0/1 columns too), several columns for a single-label or regression task,
        values other than 0/1 in multi-label columns, non-numbers for regression.

    Raises:
        DataError: If a column is missing or the task is unknown.
    """
    cols, task = _columns(df, label_columns), check_task(task)
    issues = []
    missing = np.zeros(len(df), dtype=bool)
    for col in cols:
        missing |= missing_labels(df[col])
    if missing.any():
        rows = row_numbers(missing)
        where = f"column {cols[0]!r}" if len(cols) == 1 else f"columns {cols}"
        issues.append(LabelIssue(
            "missing_label", f"Expected a label in every row of {where}. Received: {len(rows)} rows without one "
            f"({format_rows(rows)}). Empty cells and 'NaN'/'None'/'null' count as missing: fill or remove them.",
            tuple(rows)))
    if len(cols) > 1 and task != MULTI_LABEL and not (task == SINGLE_LABEL and one_hot_columns(df, cols)):
        issues.append(LabelIssue("bad_label", f"Expected exactly one label column for {task}, or one-hot 0/1 "
                                 f"columns with one 1 per row. Received: {cols}. Pick one column, or choose the "
                                 "multi_label task for one 0/1 column per label.", ()))
        return issues
    if len(cols) > 1:
        for col in cols:
            bad = ~missing & np.array([_binary(v) is None for v in df[col].tolist()])
            if bad.any():
                rows = row_numbers(bad)
                issues.append(LabelIssue(
                    "bad_label", f"Expected 0 or 1 in each label column (multi-label, one column per label). Received: "
                    f"{df[col][bad].iloc[0]!r} in column {col!r} ({format_rows(rows)}). Use 0/1, or pick only the "
                    "0/1 columns as labels.", tuple(rows)))
    elif task == REGRESSION:
        bad = ~missing & np.array([_as_float(v) is None for v in df[cols[0]].tolist()])
        if bad.any():
            rows = row_numbers(bad)
            issues.append(LabelIssue(
                "bad_label", f"Expected a number in every row of {cols[0]!r} for regression. Received: "
                f"{df[cols[0]][bad].iloc[0]!r} ({format_rows(rows)}). Fix these values, or choose a classification "
                "task.", tuple(rows)))
    return issues


def _single_key(value) -> str:
    text = str(value).strip()
    number = _as_float(text)
    return str(int(number)) if number is not None and number.is_integer() and "." in text else text


def _split(value) -> list[str]:
    parts = value if isinstance(value, list) else str(value).split(LABEL_SEPARATOR)
    return list(dict.fromkeys(p.strip() for p in map(str, parts) if p.strip()))  # order kept, duplicates dropped


def parse_labels(
    df: pd.DataFrame, label_columns: Sequence[str] | str, task: str | None = None
) -> tuple[list[str] | list[list[str]] | np.ndarray, list[str]]:
    """Per-row labels and the sorted class names, for ``task``.

    Args:
        df: The table, one row per text.
        label_columns: One column name, or a list of names (several 0/1 columns: multi-label).
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``; None uses :func:`detect_task`.

    Returns:
        ``(labels, class_names)``, with ``num_rows = len(df)``:

        * ``single_label``: ``labels`` is a list of ``num_rows`` strings (stripped; whole numbers written without
          ``.0``); ``class_names`` are the distinct labels sorted by
          :func:`kdemo.text.preprocessor.sorted_class_names` (numerically when all are integers).
        * ``multi_label``: ``labels`` is a list of ``num_rows`` lists of strings: the ``|``-separated parts of
          one column (stripped, repeats dropped), list cells, or the names of the 0/1 columns holding 1
          (``[]`` when all are 0); ``class_names`` are the 0/1 columns in the order given (every one is a class,
          even if never 1; ktrain's order), or the sorted distinct labels of a single column.
        * one-hot ``single_label`` (several 0/1 columns, one 1 per row): ``labels`` is the name of the column
          holding the 1; ``class_names`` are the columns in the order given.
        * ``regression``: ``labels`` is a float64 array of shape ``(num_rows,)``; ``class_names`` is
          ``[label_column]`` (the name of the one output).

    Raises:
        DataError: On a missing column, an unknown task, or any issue of :func:`find_label_issues` (the first
            one's message, which names the rows).
    """
    cols = _columns(df, label_columns)
    task = check_task(task) if task else detect_task(df, cols)
    issues = find_label_issues(df, cols, task)
    if issues:
        raise DataError(issues[0].message)
    if task == REGRESSION:
        return np.array([_as_float(v) for v in df[cols[0]].tolist()], dtype=np.float64), [cols[0]]
    if task == SINGLE_LABEL and len(cols) > 1:  # one-hot columns: the name of the column holding the 1
        flags = np.array([[bool(_binary(v)) for v in df[c].tolist()] for c in cols]).T
        return [str(cols[int(row.argmax())]) for row in flags], [str(c) for c in cols]
    if task == SINGLE_LABEL:
        labels = [_single_key(v) for v in df[cols[0]].tolist()]
        return labels, sorted_class_names(labels)
    if len(cols) > 1:  # one 0/1 column per label: classes in the order of label_columns (ktrain's order)
        flags = np.array([[bool(_binary(v)) for v in df[c].tolist()] for c in cols]).T
        labels = [[c for c, on in zip(cols, row) if on] for row in flags]
        return labels, [str(c) for c in cols]
    labels = [_split(v) for v in df[cols[0]].tolist()]
    return labels, multi_label_names(labels)


def guess_label_columns(df: pd.DataFrame, text_column: str, label_column: str | None) -> list[str]:
    """Propose the label column(s): several 0/1 columns when no column has a label-like name.

    Args:
        df: The table.
        text_column: The text column (never proposed).
        label_column: The single column :func:`kdemo.data.columns.guess_columns` proposed (None if there is none).

    Returns:
        ``[label_column]`` when its name is label-like (``label``, ``class``…) or fewer than two other columns
        hold only 0/1; otherwise every 0/1 column (multi-label), in table order.
    """
    if label_column is not None and label_column.lower() in LABEL_NAME_HINTS:
        return [label_column]
    binary = []
    for col in df.columns:
        values = df[col][~missing_labels(df[col])].tolist()
        if col != text_column and values and all(not isinstance(v, list) and _binary(v) is not None for v in values):
            binary.append(col)
    if len(binary) >= 2:
        return binary
    return [label_column] if label_column is not None else []
