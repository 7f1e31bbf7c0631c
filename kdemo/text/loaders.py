"""Choosing and checking text/label columns, splitting, and ktrain's ``texts_from_df/csv/folder``.

Files are read by :func:`kdemo.data.tables.read_table` (re-exported here). Problems are reported with row numbers
(1-based data rows, header not counted); nothing is dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from kdemo.data.dataset import maxlen_covering
from kdemo.data.labels import LABEL_NAME_HINTS, detect_task, missing_labels, one_hot_columns, parse_labels
from kdemo.data.tables import READ_INFO_KEY, SUPPORTED_SUFFIXES, decode_bytes, format_rows, read_table, row_numbers
from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import REGRESSION, SINGLE_LABEL, check_task

__all__ = [
    "LABEL_NAME_HINTS", "SUPPORTED_SUFFIXES", "TEXT_NAME_HINTS", "ColumnCheck", "check_columns", "guess_columns",
    "maxlen_covering", "read_folder", "read_table", "split_train_val", "suggest_maxlen", "texts_from_csv",
    "texts_from_df", "texts_from_folder",
]

TEXT_NAME_HINTS = ("text", "sentence", "review", "content", "message", "body", "document", "comment", "description")
FOLDER_TEXT_SUFFIXES = (".txt",)


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
    return maxlen_covering(lengths, coverage=coverage, cap=cap)


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
    task: str | None = None,
    *,
    text_pair_column: str | None = None,
    policy: FolderPolicy = DEFAULT_POLICY,
    preprocess_mode: str | None = None,
    max_features: int | None = None,
    ngram_range: int | None = None,
    is_regression: bool = False,
    lang: str | None = None,
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
        task: None detects it (:func:`kdemo.data.labels.detect_task`); ``"single_label"`` forces one class per row
            (e.g. to treat ``"a|b"`` as a class of its own); ``"multi_label"`` (``|``-joined labels or several 0/1
            columns) and ``"regression"`` (a column of numbers) train too.
        text_pair_column: Column with the second text of sentence pairs (kdemo's extension): each row is then
            tokenized as the pair ``(text, text_pair)``, as ``preprocess_train([(a, b), ...])`` does.
        policy: Which local model folders ``model_name`` may name (:class:`kdemo.modeling.sources.FolderPolicy`).
        preprocess_mode: ktrain's mode: None or ``"distilbert"`` (datasets), ``"bert"`` (``(x, y)`` arrays); see
            :mod:`kdemo.text.modes` (``"standard"`` raises: kdemo covers the transformer path).
        max_features: ktrain's vocabulary size of the ``"standard"`` mode; ignored, as ktrain ignores it for
            transformer modes.
        ngram_range: ktrain's n-gram size of the ``"standard"`` mode; ignored likewise.
        is_regression: ktrain's flag: treat integer targets as numbers (regression) instead of class ids.
        lang: ktrain's language hint; ignored (the tokenizer decides).

    Returns:
        ``(trn, val, preproc)``: two :class:`~kdemo.data.dataset.TextDataset` and the
        :class:`~kdemo.text.preprocessor.Transformer` (call ``preproc.get_classifier()`` for the model); with
        ``preprocess_mode="bert"``, ``trn`` and ``val`` are ``(x, y)`` pairs as in ktrain.

    Raises:
        DataError: On missing columns, empty texts or labels (rows named), or a single class.
        ModelError: If the model cannot be loaded.
    """
    from kdemo.text.modes import check_preprocess_mode, ktrain_result
    from kdemo.text.preprocessor import Transformer

    check_preprocess_mode(preprocess_mode)
    task = REGRESSION if is_regression else task
    if isinstance(label_columns, str):
        label_columns = [label_columns]
    if label_columns is None:
        label_columns = [guess_columns(train_df)[1]]
    if any(c is None for c in label_columns):
        raise DataError(f"Expected a label column. Received: {label_columns}. Name the label column.")
    task = check_task(task) if task else detect_task(train_df, label_columns)
    if task == SINGLE_LABEL and len(label_columns) > 1 and one_hot_columns(train_df, label_columns):
        check_texts(train_df, text_column)  # one-hot label columns (ktrain): checked by parse_labels
    elif task == SINGLE_LABEL:
        if len(label_columns) != 1:
            raise DataError(
                f"Expected one label column for single-label classification. Received: {label_columns}. "
                "Several 0/1 columns are multi-label: pass task='multi_label' (or leave task=None to detect it)."
            )
        check_columns(train_df, text_column, label_columns[0])
    else:
        check_texts(train_df, text_column)
    if text_pair_column is not None:
        check_texts(train_df, text_pair_column)
    if val_df is None:
        train_df, val_df = split_train_val(train_df, label_columns[0], val_pct, random_state)
    else:
        if task == SINGLE_LABEL and len(label_columns) == 1:
            check_columns(val_df, text_column, label_columns[0])
        else:
            check_texts(val_df, text_column)
        if text_pair_column is not None:
            check_texts(val_df, text_pair_column)
    train_labels, class_names = parse_labels(train_df, label_columns, task)
    val_labels, _ = parse_labels(val_df, label_columns, task)
    preproc = Transformer(model_name, maxlen=maxlen or 512, class_names=class_names, task=task, policy=policy)

    def texts(df: pd.DataFrame) -> list:
        first = df[text_column].astype(str).tolist()
        return first if text_pair_column is None else list(zip(first, df[text_pair_column].astype(str).tolist()))

    train_texts = texts(train_df)
    if maxlen is None:
        joined = [t if isinstance(t, str) else f"{t[0]} {t[1]}" for t in train_texts]  # a pair's tokens count together
        preproc.maxlen = suggest_maxlen(preproc.tokenizer, joined, cap=preproc.maxlen)
    trn = preproc.preprocess_train(train_texts, train_labels, verbose=verbose)
    val = preproc.preprocess_test(texts(val_df), val_labels, verbose=verbose)
    return ktrain_result(trn, val, preproc, preprocess_mode)


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
    *,
    preprocess_mode: str | None = None,
    max_features: int | None = None,
    ngram_range: int | None = None,
    is_regression: bool = False,
    lang: str | None = None,
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
        encoding: Python codec of the files, as ktrain's ``encoding=`` (``"gbk"``, ``"shift_jis"`` …); None detects it
            (:mod:`kdemo.data.encodings`).
        verbose: 1 prints a summary.
        preprocess_mode: ktrain's mode, as in :func:`texts_from_df`.
        max_features: Ignored for transformer modes, as in ktrain.
        ngram_range: Ignored for transformer modes, as in ktrain.
        is_regression: Treat integer targets as numbers, as in :func:`texts_from_df`.
        lang: Ignored.

    Returns:
        ``(trn, val, preproc)`` as :func:`texts_from_df`.

    Raises:
        DataError: If a file cannot be read or its columns cannot be used.
        ModelError: If the model cannot be loaded.
    """
    train_df = read_table(train_filepath, sep=sep, encoding=encoding)
    val_df = read_table(val_filepath, sep=sep, encoding=encoding) if val_filepath else None
    return texts_from_df(train_df, text_column, label_columns, val_df, val_pct, model_name, maxlen, random_state, verbose,
                         preprocess_mode=preprocess_mode, is_regression=is_regression)


def _class_folders(folder: Path, classes: Sequence[str] | None) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        if len(found) < 2:
            raise DataError(
                f"Expected one subfolder per class (at least 2) in {str(folder)!r}, each holding .txt files. "
                f"Received: {[p.name for p in found]}. Put each class's texts in a folder named after the class."
            )
        return found
    names = {p.name: p for p in found}
    missing = [c for c in classes if c not in names]
    if missing:
        raise DataError(f"Expected class folders {missing} in {str(folder)!r}. Received folders: {sorted(names)}. "
                        "Fix classes= or the folder names.")
    return [names[c] for c in classes]


def read_folder(
    folder: str | os.PathLike, classes: Sequence[str] | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read one folder per class, one ``.txt`` file per text (the layout of ktrain's ``texts_from_folder``).

    Args:
        folder: Holds a subfolder per class (``folder/pos/1.txt``, ``folder/neg/7.txt``…).
        classes: Class folders to read, in this order; None reads every non-hidden subfolder (sorted).
        encoding: Codec of the files; None detects it per file (:func:`kdemo.data.tables.decode_bytes`).

    Returns:
        A DataFrame with columns ``text``, ``label`` (the folder name) and ``file`` (path relative to ``folder``),
        sorted by class then file name. ``df.attrs`` records notes as :func:`kdemo.data.tables.read_table` does
        (files read as Latin-1, other files skipped).

    Raises:
        DataError: If the folder is missing, has fewer than 2 class folders, a class folder has no ``.txt``
            file, or a file is empty or binary (files named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Expected a folder with one subfolder per class. Received: {str(folder)!r}, which is not a "
                        "folder.")
    rows, notes, empty, skipped, encodings = [], [], [], [], set()
    for class_dir in _class_folders(folder, classes):
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in FOLDER_TEXT_SUFFIXES)
        skipped += [p for p in class_dir.iterdir() if p not in files and not p.name.startswith(".")]
        if not files:
            raise DataError(f"Expected .txt files in the class folder {str(class_dir)!r}. Received: none. "
                            "Add the class's texts or remove the folder.")
        for path in files:
            rel = str(path.relative_to(folder))
            text, enc, file_notes = decode_bytes(path.read_bytes(), rel, encoding)
            encodings.add(enc)
            notes += file_notes
            if not text.strip():
                empty.append(rel)
            rows.append({"text": text.strip(), "label": class_dir.name, "file": rel})
    if empty:
        raise DataError(f"Expected text in every file. Received: {len(empty)} empty file(s): {empty[:10]}. "
                        "Delete them or add their text.")
    if len(notes) > 3:
        notes = notes[:3] + [f"… and {len(notes) - 3} more files were not UTF-8."]
    if skipped:
        names = [str(p.relative_to(folder)) for p in skipped[:5]]
        notes.append(f"Skipped {len(skipped)} entries that are not .txt files: {names}.")
    df = pd.DataFrame(rows)
    df.attrs[READ_INFO_KEY] = {"file": folder.name, "format": "folder", "encoding": ", ".join(sorted(encodings)),
                               "delimiter": None, "notes": notes}
    return df


def texts_from_folder(
    datadir: str | os.PathLike,
    classes: Sequence[str] | None = None,
    model_name: str | None = None,
    maxlen: int | None = None,
    train_test_names: Sequence[str] = ("train", "test"),
    val_pct: float = 0.1,
    random_state: int | None = 0,
    encoding: str | None = None,
    verbose: int = 1,
    *,
    preprocess_mode: str | None = None,
    max_features: int | None = None,
    ngram_range: int | None = None,
    lang: str | None = None,
):
    """Prepare training and validation data from a folder of text files (ktrain's ``texts_from_folder``).

    Two layouts are accepted: ``datadir/<train>/<class>/*.txt`` with an optional ``datadir/<test>/<class>/*.txt``
    used for validation (ktrain's layout; names from ``train_test_names``), or ``datadir/<class>/*.txt`` from which
    ``val_pct`` is split off (stratified).

    Args:
        datadir: The folder.
        classes: Class folder names to use; None uses every subfolder.
        model_name: Hub id or local folder; None is the embedded all-MiniLM-L6-v2.
        maxlen: Maximum tokens per text; None covers 95 % of training texts.
        train_test_names: Names of the training and validation subfolders.
        val_pct: Fraction 0–1 held out when there is no validation subfolder.
        random_state: Seed of the split.
        encoding: Codec of the files; None detects it per file.
        verbose: 1 prints a summary.
        preprocess_mode: ktrain's mode, as in :func:`texts_from_df`.
        max_features: Ignored for transformer modes, as in ktrain.
        ngram_range: Ignored for transformer modes, as in ktrain.
        lang: Ignored.

    Returns:
        ``(trn, val, preproc)`` as :func:`texts_from_df`; class names are the folder names, sorted.

    Raises:
        DataError: See :func:`read_folder`; also if the validation folder has classes the training one lacks.
        ModelError: If the model cannot be loaded.
    """
    datadir = Path(datadir)
    train_dir, test_dir = (datadir / name for name in train_test_names)
    if train_dir.is_dir():
        train_df = read_folder(train_dir, classes, encoding)
        val_df = read_folder(test_dir, classes, encoding) if test_dir.is_dir() else None
    else:
        train_df, val_df = read_folder(datadir, classes, encoding), None
    return texts_from_df(train_df, "text", ["label"], val_df, val_pct, model_name, maxlen, random_state, verbose,
                         task=SINGLE_LABEL, preprocess_mode=preprocess_mode)
