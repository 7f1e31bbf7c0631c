"""Prediction tables and spreadsheet-safe CSV export."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from kdemo.atomic import atomic_file
from kdemo.data.columns import check_texts, guess_columns
from kdemo.data.tables import as_text
from kdemo.errors import DataError

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralize_cell(value):
    """``'`` + value for a string a spreadsheet would run as a formula; numbers such as ``-1.5`` stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``…) with ``'``.

    See OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection).

    Args:
        df: Any table.

    Returns:
        A copy in which every string cell and header starting with a formula character (and not a plain number)
        begins with a single quote.
    """
    out = df.copy()
    out.columns = [neutralize_cell(str(c)) for c in out.columns]
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(neutralize_cell)
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` as UTF-8 CSV with a BOM and formula cells neutralised (:func:`neutralize_formulas`).

    The byte-order mark (``utf-8-sig``) makes Excel open the file as UTF-8, so Chinese, Japanese, Korean or accented
    texts show as written rather than as mojibake; pandas, Python's ``csv`` and :func:`kdemo.data.tables.read_table`
    skip it.

    The file is written beside ``path`` and renamed into place, so an interrupted export never leaves half a table.
    """
    path = Path(path)
    with atomic_file(path) as tmp:
        neutralize_formulas(df).to_csv(tmp, index=False, encoding="utf-8-sig")
    return path


def predictions_table(predictor, df: pd.DataFrame, text_column: str, text_pair_column: str | None = None) -> pd.DataFrame:
    """Add ``prediction`` and one ``prob_<class>`` column per class to a table of texts.

    Args:
        predictor: A :class:`kdemo.Predictor`.
        df: Table with a text column.
        text_column: Name of that column.
        text_pair_column: Column of the second texts, for a model trained on sentence pairs.

    Returns:
        A copy of ``df`` with the new columns; probabilities (fraction 0–1) sum to 1 per row.

    Raises:
        DataError: If the column is missing or holds empty cells (rows listed).
    """
    check_texts(df, text_column)
    texts = df[text_column].astype(str).tolist()
    if text_pair_column is not None:
        check_texts(df, text_pair_column)
        texts = list(zip(texts, df[text_pair_column].astype(str).tolist()))
    probs = predictor.predict_proba(texts)
    names = predictor.get_classes()
    out = df.copy()
    out["prediction"] = [names[i] for i in probs.argmax(axis=1)]
    for j, name in enumerate(names):
        out[f"prob_{name}"] = probs[:, j].round(6)
    return out


def _holds_text(column: pd.Series) -> bool:
    """Whether a column has at least one non-blank cell that is not a number."""
    cells = as_text(column).str.strip()
    cells = cells[cells != ""]
    return len(cells) > 0 and bool(pd.to_numeric(cells, errors="coerce").isna().any())


def text_column_for(df: pd.DataFrame, preferred: str | None = None, *, name: str = "the file") -> str:
    """The column of texts to predict: ``preferred`` when the table has it, else the guessed text column.

    Args:
        df: The table to predict.
        preferred: The text column the model was trained on, if known.
        name: The file's name, for the message.

    Returns:
        A column name of ``df``.

    Raises:
        DataError: If no column holds text (every column is numbers or empty), naming the columns.
    """
    if preferred and preferred in df.columns:
        return preferred
    texts = [c for c in df.columns if _holds_text(df[c])]
    if not texts:
        trained = f" (it has no column {preferred!r}, the text column of your data)" if preferred else ""
        columns = list(df.columns)
        listed = f"{columns[:20]}{' …' if len(columns) > 20 else ''}"
        raise DataError(
            f"Expected a column of texts in {name!r}{trained}. Received: columns {listed}, none of which holds text "
            f"(only numbers or empty cells). Add the texts in a column named {preferred or 'text'!r}."
        )
    return guess_columns(df[texts])[0]
