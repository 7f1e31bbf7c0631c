"""Prediction tables and spreadsheet-safe CSV export."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from kdemo.data import check_texts

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
    """Write ``df`` as UTF-8 CSV with formula cells neutralised (:func:`neutralize_formulas`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    neutralize_formulas(df).to_csv(path, index=False)
    return path


def predictions_table(predictor, df: pd.DataFrame, text_column: str) -> pd.DataFrame:
    """Add ``prediction`` and one ``prob_<class>`` column per class to a table of texts.

    Args:
        predictor: A :class:`kdemo.Predictor`.
        df: Table with a text column.
        text_column: Name of that column.

    Returns:
        A copy of ``df`` with the new columns; probabilities (fraction 0–1) sum to 1 per row.

    Raises:
        DataError: If the column is missing or holds empty cells (rows listed).
    """
    check_texts(df, text_column)
    probs = predictor.predict_proba(df[text_column].astype(str).tolist())
    names = predictor.get_classes()
    out = df.copy()
    out["prediction"] = [names[i] for i in probs.argmax(axis=1)]
    for j, name in enumerate(names):
        out[f"prob_{name}"] = probs[:, j].round(6)
    return out
