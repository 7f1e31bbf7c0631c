"""ktrain's ``texts_from_df`` and ``texts_from_csv``: a labelled table to tokenized datasets and a preprocessor.

Files are read by :func:`kdemo.data.tables.read_table` (re-exported here); columns are checked by
:mod:`kdemo.data.columns`. Problems are reported with row numbers (1-based data rows, header not counted).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from kdemo.data.columns import check_columns, check_texts, guess_columns, split_train_val
from kdemo.data.labels import detect_task, one_hot_columns, parse_labels
from kdemo.data.lengths import suggest_maxlen
from kdemo.data.tables import read_table
from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import REGRESSION, SINGLE_LABEL, check_task

__all__ = ["read_table", "suggest_maxlen", "texts_from_csv", "texts_from_df"]


def texts_from_df(
    train_df: pd.DataFrame,
    text_column: str,
    label_columns: Sequence[str] | str | None = None,
    val_df: pd.DataFrame | None = None,
    max_features: int | None = None,
    maxlen: int | None = None,
    val_pct: float = 0.1,
    ngram_range: int | None = None,
    preprocess_mode: str | None = None,
    lang: str | None = None,
    is_regression: bool = False,
    random_state: int | None = 0,
    verbose: int = 1,
    *,
    model_name: str | None = None,
    task: str | None = None,
    text_pair_column: str | None = None,
    policy: FolderPolicy = DEFAULT_POLICY,
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
        preprocess_mode: ktrain's mode: None or ``"distilbert"`` (datasets), ``"bert"`` (``(x, y)`` arrays),
            ``"standard"`` (ktrain's word ids for its classic models, :mod:`kdemo.text.classic`); see
            :mod:`kdemo.text.modes`.
        max_features: ktrain's vocabulary size of the ``"standard"`` mode; ignored, as ktrain ignores it, for
            transformer modes.
        ngram_range: ktrain's n-gram size of the ``"standard"`` mode; ignored likewise for transformer modes.
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

    def texts(df: pd.DataFrame) -> list:
        first = df[text_column].astype(str).tolist()
        return first if text_pair_column is None else list(zip(first, df[text_pair_column].astype(str).tolist()))

    if preprocess_mode == "standard":  # ktrain's classic models: word ids, no tokenizer to load
        from kdemo.text.classic import standard_data

        return standard_data(texts(train_df), train_labels, texts(val_df), val_labels,
                             class_names if task != REGRESSION else [], task, maxlen=maxlen, max_features=max_features,
                             ngram_range=ngram_range, lang=lang, verbose=verbose)
    preproc = Transformer(model_name, maxlen=maxlen or 512, class_names=class_names, task=task, policy=policy)

    train_texts = texts(train_df)
    if maxlen is None:
        preproc.maxlen = suggest_maxlen(preproc.tokenizer, train_texts, cap=preproc.maxlen)
    trn = preproc.preprocess_train(train_texts, train_labels, verbose=verbose)
    val = preproc.preprocess_test(texts(val_df), val_labels, verbose=verbose)
    return ktrain_result(trn, val, preproc, preprocess_mode)


def texts_from_csv(
    train_filepath: str | os.PathLike,
    text_column: str,
    label_columns: Sequence[str] | str | None = None,
    val_filepath: str | os.PathLike | None = None,
    max_features: int | None = None,
    maxlen: int | None = None,
    val_pct: float = 0.1,
    ngram_range: int | None = None,
    preprocess_mode: str | None = None,
    encoding: str | None = None,
    lang: str | None = None,
    sep: str | None = None,
    is_regression: bool = False,
    random_state: int | None = 0,
    verbose: int = 1,
    *,
    model_name: str | None = None,
    task: str | None = None,
    text_pair_column: str | None = None,
    policy: FolderPolicy = DEFAULT_POLICY,
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
        task: As in :func:`texts_from_df` (None detects it from the labels).
        text_pair_column: Column with the second texts of sentence pairs, as in :func:`texts_from_df`.
        policy: Which local model folders ``model_name`` may name, as in :func:`texts_from_df`.

    Returns:
        ``(trn, val, preproc)`` as :func:`texts_from_df`.

    Raises:
        DataError: If a file cannot be read or its columns cannot be used.
        ModelError: If the model cannot be loaded.
    """
    train_df = read_table(train_filepath, sep=sep, encoding=encoding)
    val_df = read_table(val_filepath, sep=sep, encoding=encoding) if val_filepath else None
    return texts_from_df(train_df, text_column, label_columns, val_df, maxlen=maxlen, val_pct=val_pct,
                         max_features=max_features, ngram_range=ngram_range, lang=lang,
                         preprocess_mode=preprocess_mode, is_regression=is_regression, random_state=random_state,
                         verbose=verbose, model_name=model_name, task=task, text_pair_column=text_pair_column,
                         policy=policy)
