"""Reading labelled text tables, choosing columns, checking them, and splitting (ktrain's ``texts_from_*``).

Files are parsed with pandas. Problems are reported with row numbers (1-based data rows, header not counted);
nothing is dropped silently.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from kdemo.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json")
TEXT_NAME_HINTS = ("text", "sentence", "review", "content", "message", "body", "document", "comment", "description")
LABEL_NAME_HINTS = ("label", "labels", "class", "category", "target", "sentiment", "y", "tag")


def read_table(path: str | os.PathLike, *, sep: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV, TSV or JSONL file into a DataFrame of strings.

    Args:
        path: The file. The format is chosen from the suffix (``.csv``, ``.tsv``, ``.txt``, ``.jsonl``/``.json``);
            for CSV/TXT the delimiter is sniffed unless ``sep`` is given.
        sep: Column delimiter for CSV/TSV.
        encoding: Text encoding; default UTF-8 (a byte-order mark is accepted).

    Returns:
        The table, header whitespace trimmed.

    Raises:
        DataError: If the file is missing, empty, not valid text in the encoding, not parseable, or has no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Expected a data file. Received: {str(path)!r}, which does not exist.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"Expected a .csv, .tsv or .jsonl file. Received: {path.name!r}. Save the table in one of these formats."
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"Expected a table with a header row and data rows. Received: {path.name!r} is empty.")
    enc = encoding or "utf-8-sig"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"Expected {enc.replace('-sig', '')} text. Received: byte 0x{raw[exc.start]:02x} on line {line} of "
            f"{path.name!r} is not valid {enc.replace('-sig', '')}. Re-save the file as UTF-8 (in Excel: "
            f"'CSV UTF-8'), or pass encoding= (e.g. 'latin-1')."
        ) from exc
    if "\x00" in text:
        raise DataError(f"Expected a text file. Received: {path.name!r} contains binary (NUL) bytes.")
    try:
        if suffix in (".jsonl", ".json"):
            import io

            df = pd.read_json(io.StringIO(text), lines=suffix == ".jsonl" or text.lstrip().startswith("{"), dtype=False)
        else:
            if sep is None:
                sep = "\t" if suffix == ".tsv" else _sniff_delimiter(text)
            import io

            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                             skipinitialspace=False, on_bad_lines="error")
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"Could not parse {path.name!r} as a {suffix.lstrip('.').upper()} table: {str(exc).strip()[:300]}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if len(df.columns) == 0 or len(df) == 0:
        raise DataError(f"Expected a header row and at least one data row. Received: {path.name!r} has no data rows.")
    return df


def _sniff_delimiter(text: str) -> str:
    sample = text[:20000]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _is_numberlike(series: pd.Series) -> bool:
    return pd.to_numeric(series.dropna(), errors="coerce").notna().all()


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
    for role, col in (("text", text_column), ("label", label_column)):
        if col not in df.columns:
            raise DataError(
                f"Expected the {role} column {col!r} in the table. Received columns: {list(df.columns)}. "
                f"Pick the {role} column from this list."
            )
    if text_column == label_column:
        raise DataError(f"Expected different text and label columns. Received: {text_column!r} for both.")
    texts = df[text_column]
    empty = np.flatnonzero(texts.isna().to_numpy() | (texts.astype(str).str.strip() == "").to_numpy()) + 1
    if len(empty):
        raise DataError(
            f"Expected a text in every row of column {text_column!r}. Received: {len(empty)} empty rows "
            f"(rows {empty[:10].tolist()}{'…' if len(empty) > 10 else ''}). Fill or remove them."
        )
    labels = df[label_column]
    missing = np.flatnonzero(labels.isna().to_numpy() | (labels.astype(str).str.strip() == "").to_numpy()) + 1
    if len(missing):
        raise DataError(
            f"Expected a label in every row of column {label_column!r}. Received: {len(missing)} rows without one "
            f"(rows {missing[:10].tolist()}{'…' if len(missing) > 10 else ''}). Fill or remove them."
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


def suggest_maxlen(tokenizer, texts: Sequence[str], *, coverage: float = 0.95, cap: int = 512, sample: int = 5000) -> int:
    """The smallest token length (multiple of 8) that covers ``coverage`` of the texts, capped.

    Args:
        tokenizer: The model's tokenizer.
        texts: Texts (a random sample of at most ``sample`` is tokenized).
        coverage: Fraction 0–1 of texts that should fit untruncated.
        cap: Upper bound (the model's maximum).

    Returns:
        The suggested maxlen in tokens, special tokens included.
    """
    texts = list(texts)
    if len(texts) > sample:
        rng = np.random.default_rng(0)
        texts = [texts[i] for i in rng.choice(len(texts), sample, replace=False)]
    lengths = [len(ids) for ids in tokenizer(texts, truncation=False, add_special_tokens=True)["input_ids"]]
    needed = int(np.ceil(np.quantile(lengths, coverage))) if lengths else 128
    return int(min(cap, max(16, -(-needed // 8) * 8)))


def texts_from_df(
    train_df: pd.DataFrame,
    text_column: str,
    label_columns: Sequence[str] | str | None = None,
    val_df: pd.DataFrame | None = None,
    val_pct: float = 0.1,
    model_name: str | None = None,
    maxlen: int | None = None,
    random_state: int | None = 0,
    verbose: int = 1,
):
    """Prepare training and validation data from DataFrames (ktrain's ``texts_from_df``).

    Args:
        train_df: Training table.
        text_column: Column with the texts.
        label_columns: The label column (a name or a one-element list). Default: guessed.
        val_df: Validation table; when None, ``val_pct`` of ``train_df`` is split off (stratified).
        val_pct: Fraction 0–1 held out for validation when ``val_df`` is None.
        model_name: Hub id or local folder; None is the embedded all-MiniLM-L6-v2.
        maxlen: Maximum tokens per text; None picks the length that covers 95 % of training texts (≤ 512).
        random_state: Seed of the split.
        verbose: 1 prints a summary.

    Returns:
        ``(trn, val, preproc)``: two :class:`~kdemo.dataset.TextDataset` and the
        :class:`~kdemo.preprocessor.Transformer` (call ``preproc.get_classifier()`` for the model).

    Raises:
        DataError: On missing columns, empty texts or labels, a single class, or several label columns (multi-label
            is not supported yet).
        ModelError: If the model cannot be loaded.
    """
    from kdemo.preprocessor import Transformer

    if isinstance(label_columns, str):
        label_columns = [label_columns]
    if label_columns is None:
        label_columns = [guess_columns(train_df)[1]]
    if len(label_columns) != 1 or label_columns[0] is None:
        raise DataError(
            f"Expected exactly one label column (single-label classification). Received: {label_columns}. "
            "Multi-label training is not supported yet: join labels into one column per row."
        )
    label_column = label_columns[0]
    check_columns(train_df, text_column, label_column)
    if val_df is None:
        train_df, val_df = split_train_val(train_df, label_column, val_pct, random_state)
    else:
        check_columns(val_df, text_column, label_column)
    preproc = Transformer(model_name, maxlen=maxlen or 512)
    if maxlen is None:
        preproc.maxlen = suggest_maxlen(preproc.tokenizer, train_df[text_column].astype(str).tolist(), cap=preproc.maxlen)
    trn = preproc.preprocess_train(train_df[text_column].astype(str).tolist(), train_df[label_column].astype(str).str.strip().tolist(), verbose=verbose)
    val = preproc.preprocess_test(val_df[text_column].astype(str).tolist(), val_df[label_column].astype(str).str.strip().tolist(), verbose=verbose)
    return trn, val, preproc


def texts_from_csv(
    train_filepath: str | os.PathLike,
    text_column: str,
    label_columns: Sequence[str] | str | None = None,
    val_filepath: str | os.PathLike | None = None,
    val_pct: float = 0.1,
    model_name: str | None = None,
    maxlen: int | None = None,
    random_state: int | None = 0,
    sep: str | None = None,
    encoding: str | None = None,
    verbose: int = 1,
):
    """Prepare training and validation data from CSV/TSV/JSONL files (ktrain's ``texts_from_csv``).

    Args:
        train_filepath: Training file.
        text_column: Column with the texts.
        label_columns: The label column (a name or a one-element list). Default: guessed.
        val_filepath: Validation file; when None, ``val_pct`` of the training file is split off (stratified).
        val_pct: Fraction 0–1 held out for validation.
        model_name: Hub id or local folder; None is the embedded all-MiniLM-L6-v2.
        maxlen: Maximum tokens per text; None picks the length covering 95 % of training texts.
        random_state: Seed of the split.
        sep: Delimiter (sniffed when None).
        encoding: Encoding (UTF-8 when None).
        verbose: 1 prints a summary.

    Returns:
        ``(trn, val, preproc)`` as :func:`texts_from_df`.

    Raises:
        DataError: If a file cannot be read or its columns cannot be used.
        ModelError: If the model cannot be loaded.
    """
    train_df = read_table(train_filepath, sep=sep, encoding=encoding)
    val_df = read_table(val_filepath, sep=sep, encoding=encoding) if val_filepath else None
    return texts_from_df(train_df, text_column, label_columns, val_df, val_pct, model_name, maxlen, random_state, verbose)
