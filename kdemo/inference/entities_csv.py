"""Entities of many texts as a table and a spreadsheet-safe CSV: one row per entity."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from kdemo.data.encodings import detect_and_decode
from kdemo.data.tables import read_table
from kdemo.errors import DataError
from kdemo.inference.predictions_csv import text_column_for, write_csv

#: The columns of :func:`entities_table`, in order.
COLUMNS = ["text_id", "entity", "type", "start", "end", "score"]


def entities_table(predictor, texts: Sequence[str]) -> pd.DataFrame:
    """One row per entity found in ``texts`` by a token classifier.

    Args:
        predictor: A :class:`~kdemo.inference.ner_predictor.NERPredictor`.
        texts: The texts; a text's ``text_id`` is its 1-based position.

    Returns:
        DataFrame with ``text_id`` (1-based), ``entity`` (the text between ``start`` and ``end``), ``type``,
        ``start``/``end`` (character offsets, end exclusive) and ``score`` (the mean tag probability of the entity's
        tokens, 0–1, as ``pipeline(aggregation_strategy="simple")`` scores it). Texts without entities add no row.

    Raises:
        DataError: If ``texts`` is one string or holds a non-string.
    """
    if isinstance(texts, str):
        raise DataError("Expected a list of texts. Received: one string. Wrap it in a list.")
    bad = [i + 1 for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise DataError(f"Expected texts as strings. Received: non-text values at rows {bad[:10]}.")
    rows = []
    for text_id, (text, entities) in enumerate(zip(texts, predictor.predict_entities(list(texts))), start=1):
        for e in entities:
            rows.append({"text_id": text_id, "entity": text[e["start"]:e["end"]], "type": e["entity_group"],
                         "start": int(e["start"]), "end": int(e["end"]), "score": round(float(e["score"]), 6)})
    return pd.DataFrame(rows, columns=COLUMNS)


def read_texts(path: str | os.PathLike, text_column: str | None = None) -> list[str]:
    """The texts of a file: a ``.txt`` file holds one text per non-blank line; a table (CSV, TSV, Excel, Parquet…)
    its text column (``text_column`` or the guessed one).

    Raises:
        DataError: If the file cannot be read or holds no text.
    """
    path = Path(path)
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in detect_and_decode(path.read_bytes(), path.name).text.splitlines()]
        texts = [line for line in lines if line]
    else:
        df = read_table(path)
        column = text_column_for(df, text_column, name=path.name)
        texts = [str(t) for t in df[column].fillna("").astype(str).tolist() if str(t).strip()]
    if not texts:
        raise DataError(f"Expected at least one text in {path.name!r}. Received: an empty file. Put one text per line.")
    return texts


def write_entities_csv(predictor, texts: Sequence[str], path: str | os.PathLike) -> Path:
    """Write :func:`entities_table` of ``texts`` as UTF-8 CSV (BOM, formula cells neutralised, atomic).

    Args:
        predictor: A :class:`~kdemo.inference.ner_predictor.NERPredictor`.
        texts: The texts.
        path: The CSV file to write.

    Returns:
        ``path``.
    """
    return write_csv(entities_table(predictor, texts), path)
