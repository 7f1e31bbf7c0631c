"""Choosing and checking the text and label columns of a table, and splitting off a validation set.

Problems are reported with row numbers (1-based data rows, header not counted); nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from kdemo.data.labels import LABEL_NAME_HINTS, missing_labels
from kdemo.data.tables import format_rows, row_numbers
from kdemo.errors import DataError

__all__ = ["TEXT_NAME_HINTS", "ColumnCheck", "check_columns", "check_texts", "guess_columns", "require_columns",
           "split_train_val"]

TEXT_NAME_HINTS = ("text", "sentence", "review", "content", "message", "body", "document", "comment", "description")


def guess_columns(df: pd.DataFrame) -> tuple[str, str | None]:
    """Propose the text column and the label column.

    Names are matched first (``text``, ``sentence``, ``review``…; ``label``, ``class``, ``category``…), then the
    text column is the one with the longest mean string length and the label column the one with the fewest
    distinct values.

    Args:
        df: The table.

    Returns:
        ``(text_column, label_column)``; the label column is None when the table has a single column.

    Raises:
        DataError: If there are no columns.
    """
    if len(df.columns) == 0:
        raise DataError("Expected at least one column. Received: a table without columns.")
    lower = {c.lower(): c for c in df.columns}
    text_col = next((lower[h] for h in TEXT_NAME_HINTS if h in lower), None)
    if text_col is None:
        lengths = {c: df[c].astype(str).str.len().mean() for c in df.columns}
        text_col = max(lengths, key=lengths.get)
    label_col = next((lower[h] for h in LABEL_NAME_HINTS if h in lower and lower[h] != text_col), None)
    if label_col is None:
        others = [c for c in df.columns if c != text_col]
        if not others:
            return text_col, None
        label_col = min(others, key=lambda c: df[c].nunique(dropna=True))
    return text_col, label_col


@dataclass(frozen=True)
class ColumnCheck:
    """Summary of a text and a label column.

    Attributes:
        num_rows: Rows in the table.
        class_counts: Rows per label, most frequent first.
    """

    num_rows: int
    class_counts: dict[str, int]


def require_columns(df: pd.DataFrame, text_column: str | None, label_columns, text_pair_column: str | None = None,
                    *, table: str = "training") -> None:
    """Check that the chosen columns exist in ``df`` and play one role each: the one check every door runs (the
    Data tab, the doctor, the run's pipeline).

    Args:
        df: The table.
        text_column: The text column.
        label_columns: One label column or several.
        text_pair_column: The second-text column of sentence pairs, or None.
        table: The table's name in messages (``"training"``, ``"validation"``).

    Raises:
        DataError: If a column is missing (the message lists the table's columns), or the text column is also a
            label or second-text column.
    """
    labels = [label_columns] if isinstance(label_columns, str) else list(label_columns or [])
    missing = [c for c in (text_column, text_pair_column, *labels) if c is not None and c not in df.columns]
    if missing:
        raise DataError(f"Expected a column {missing[0]!r}. Received: the columns {missing} in the {table} table are "
                        f"missing; it has {list(df.columns)}. Check the names.")
    if text_column is not None and (text_column in labels or text_column == text_pair_column):
        raise DataError(f"Expected different text, second-text and label columns. Received: {text_column!r} for "
                        "more than one role.")


def check_columns(df: pd.DataFrame, text_column: str, label_column: str) -> ColumnCheck:
    """Check that a table can train a single-label classifier.

    Args:
        df: The table.
        text_column: Column holding the texts.
        label_column: Column holding one label per row.

    Returns:
        A :class:`ColumnCheck`.

    Raises:
        DataError: If a column is missing, texts or labels are empty (rows listed), or fewer than 2 classes occur.
    """
    if label_column not in df.columns:
        raise DataError(
            f"Expected the label column {label_column!r} in the table. Received columns: {list(df.columns)}. "
            "Pick the label column from this list."
        )
    if text_column == label_column:
        raise DataError(f"Expected different text and label columns. Received: {text_column!r} for both.")
    check_texts(df, text_column)
    labels = df[label_column]
    missing = row_numbers(missing_labels(labels))
    if missing:
        raise DataError(
            f"Expected a label in every row of column {label_column!r}. Received: {len(missing)} rows without one "
            f"({format_rows(missing)}). Empty cells and 'NaN'/'None'/'null' count as missing: fill or remove them."
        )
    counts = labels.astype(str).str.strip().value_counts()
    if len(counts) < 2:
        raise DataError(
            f"Expected at least 2 different labels in column {label_column!r}. Received: only {counts.index.tolist()} "
            f"({len(df)} rows). Is this the label column? Available columns: {list(df.columns)}."
        )
    if len(counts) > max(100, len(df) // 2):
        raise DataError(
            f"Expected a label column with a limited set of classes. Received: {len(counts)} distinct values in "
            f"{label_column!r} for {len(df)} rows, which looks like a text or id column. Pick the label column."
        )
    return ColumnCheck(num_rows=len(df), class_counts={str(k): int(v) for k, v in counts.items()})


def split_train_val(
    df: pd.DataFrame, label_column: str, val_pct: float = 0.1, random_state: int | None = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into training and validation, stratified by label when every class has at least 2 rows.

    Args:
        df: The table.
        label_column: Column to stratify on.
        val_pct: Fraction 0–1 of rows for validation.
        random_state: Seed.

    Returns:
        ``(train_df, val_df)``.

    Raises:
        DataError: If ``val_pct`` is outside (0, 1) or the table is too small to split.
    """
    if not 0 < val_pct < 1:
        raise DataError(f"Expected val_pct between 0 and 1 (e.g. 0.1). Received: val_pct={val_pct}.")
    n_val = int(round(len(df) * val_pct))
    if n_val < 1 or len(df) - n_val < 2:
        raise DataError(f"Expected enough rows to split off {val_pct:.0%} for validation. Received: {len(df)} rows.")
    labels = df[label_column].astype(str).str.strip()
    counts = labels.value_counts()
    stratify = labels if counts.min() >= 2 and n_val >= len(counts) else None
    train_df, val_df = train_test_split(df, test_size=n_val, random_state=random_state, stratify=stratify)
    return train_df.reset_index(drop=True), val_df.reset_index(drop=True)


def check_texts(df: pd.DataFrame, text_column: str) -> None:
    """Check that ``text_column`` exists and has a non-blank text in every row.

    Raises:
        DataError: Naming the column and the available ones, or the empty rows (1-based data rows).
    """
    if text_column not in df.columns:
        raise DataError(
            f"Expected the text column {text_column!r} in the table. Received columns: {list(df.columns)}. "
            "Pick the text column from this list."
        )
    texts = df[text_column]
    empty = row_numbers(texts.isna().to_numpy() | (texts.astype(str).str.strip() == "").to_numpy())
    if empty:
        raise DataError(
            f"Expected a text in every row of column {text_column!r}. Received: {len(empty)} empty rows "
            f"({format_rows(empty)}). Fill or remove them."
        )
