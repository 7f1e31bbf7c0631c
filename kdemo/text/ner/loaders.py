"""ktrain's NER data loaders (``ktrain.text.ner.data``): files, DataFrames and arrays -> ``(trn, val, preproc)``.

Same names, positional arguments and defaults as ktrain; ``use_char`` (ktrain's character embeddings for its BiLSTM
models) is accepted and ignored, since transformers read sub-words. kdemo adds keyword-only arguments: ``maxlen``
(sub-word tokens per window), ``model_name`` (ktrain passes ``transformer_model`` to ``sequence_tagger`` instead;
both names are accepted here, because kdemo tokenizes when the data is loaded), ``tokenizer``, ``random_state`` and
``policy``.

Differences from ktrain, on purpose:

- The validation split is reproducible: ``random_state=42`` by default (ktrain's ``train_test_split`` has none).
- Tags are checked and converted to BIO (IOB1, BIOES and IO are recognised), lone ``I-`` tags are repaired, and
  every problem names its line (:mod:`kdemo.data.token_files`); the warnings are printed with ``verbose``.
- Sentences longer than ``maxlen`` are split into windows, never truncated (:mod:`kdemo.text.ner.dataset`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kdemo.data.encodings import detect_and_decode
from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.text.ner.dataset import TokenDataset
from kdemo.data.token_files import TokenCorpus, read_token_file
from kdemo.text.ner.preprocessor import NERPreprocessor, class_names_for
from kdemo.data.tag_schemes import normalize_tags, split_tag

#: ktrain's defaults.
MAXLEN = 128
WORD_COL = "Word"
TAG_COL = "Tag"
SENT_COL = "SentenceID"
DATA_FORMATS = ("conll2003", "gmb")


def entities_from_conll2003(train_filepath, val_filepath=None, use_char=False, encoding=None, val_pct=0.1,
                            verbose=1, *, maxlen: int = MAXLEN, model_name: str | None = None,
                            transformer_model: str | None = None, tokenizer=None, random_state: int | None = 42,
                            policy: FolderPolicy = DEFAULT_POLICY):
    """Load a CoNLL-2003 file (word first, tag last, blank lines between sentences, ``-DOCSTART-`` skipped).

    Args:
        train_filepath: The training file (CoNLL columns or JSON Lines).
        val_filepath: The validation file; None holds out ``val_pct`` of the training sentences.
        use_char: ktrain's character-embedding switch; ignored (transformers read sub-words).
        encoding: Python codec of the files; None detects it.
        val_pct: Fraction 0–1 of training sentences held out when ``val_filepath`` is None (0: no validation).
        verbose: Print counts and warnings.
        maxlen: Sub-word tokens per window, special tokens included.
        model_name: Checkpoint whose tokenizer is used (None: the embedded all-MiniLM-L6-v2).
        transformer_model: ktrain's name of ``model_name`` (used when ``model_name`` is None).
        tokenizer: A fast tokenizer to use instead of loading one.
        random_state: Seed of the validation split (None: a new one each call, as in ktrain).
        policy: Which local model folders may be named.

    Returns:
        ``(trn, val, preproc)``: :class:`~kdemo.text.ner.dataset.TokenDataset` s (``val`` None with
        ``val_pct=0``) and the :class:`~kdemo.text.ner.preprocessor.NERPreprocessor`.

    Raises:
        DataError: If a file cannot be read as token data (the message names the line).
    """
    return entities_from_txt(train_filepath, val_filepath=val_filepath, use_char=use_char, data_format="conll2003",
                             encoding=encoding, val_pct=val_pct, verbose=verbose, maxlen=maxlen, model_name=model_name,
                             transformer_model=transformer_model, tokenizer=tokenizer, random_state=random_state,
                             policy=policy)


def entities_from_gmb(train_filepath, val_filepath=None, use_char=False, word_column=WORD_COL, tag_column=TAG_COL,
                      sentence_column=SENT_COL, encoding=None, val_pct=0.1, verbose=1, **kwargs):
    """Load a Groningen Meaning Bank CSV (one word a row; sentence id, word and tag columns).

    Args: as :func:`entities_from_txt` with ``data_format="gmb"``.

    Returns:
        ``(trn, val, preproc)``.
    """
    return entities_from_txt(train_filepath, val_filepath=val_filepath, use_char=use_char, word_column=word_column,
                             tag_column=tag_column, sentence_column=sentence_column, data_format="gmb",
                             encoding=encoding, val_pct=val_pct, verbose=verbose, **kwargs)


def entities_from_txt(train_filepath, val_filepath=None, use_char=False, word_column=WORD_COL, tag_column=TAG_COL,
                      sentence_column=SENT_COL, data_format="conll2003", encoding=None, val_pct=0.1, verbose=1, *,
                      maxlen: int = MAXLEN, model_name: str | None = None, transformer_model: str | None = None,
                      tokenizer=None, random_state: int | None = 42, policy: FolderPolicy = DEFAULT_POLICY):
    """Load sequence-labelled data from a text file in CoNLL-2003 or GMB format (ktrain's ``entities_from_txt``).

    ``conll2003``: one word a line with its tag last, columns separated by spaces or tabs, blank (or
    whitespace-only) lines between sentences, ``-DOCSTART-`` lines skipped; JSON Lines of ``{"tokens",
    "ner_tags"}`` is recognised too. As in ktrain, the column names are ignored for this format; integer
    ``word_column``/``tag_column`` choose columns by position (0-based, negative from the end).
    ``gmb``: a comma- or tab-separated table with a header, a sentence-id column (filled down where empty), a
    word column and a tag column.

    Args:
        train_filepath: The training file.
        val_filepath: The validation file; None holds out ``val_pct`` of the training sentences.
        use_char: Ignored (ktrain's character embeddings).
        word_column: Column of the words (``gmb``: name; ``conll2003``: position if an int).
        tag_column: Column of the tags (likewise).
        sentence_column: Column of the sentence ids (``gmb`` only).
        data_format: ``"conll2003"`` or ``"gmb"``.
        encoding: Python codec; None detects it.
        val_pct: Fraction 0–1 held out for validation when ``val_filepath`` is None.
        verbose: Print counts and warnings.
        maxlen, model_name, transformer_model, tokenizer, random_state, policy: See
            :func:`entities_from_conll2003`.

    Returns:
        ``(trn, val, preproc)``.

    Raises:
        DataError: For an unknown ``data_format`` or a file that cannot be read as token data.
    """
    if data_format not in DATA_FORMATS:
        raise DataError(f"Expected data_format to be one of {DATA_FORMATS}. Received: {data_format!r}.")
    options = {"maxlen": maxlen, "model_name": model_name or transformer_model, "tokenizer": tokenizer,
                   "random_state": random_state, "policy": policy, "val_pct": val_pct, "verbose": verbose}
    if data_format == "gmb":
        columns = (word_column, tag_column, sentence_column)
        train = _df_corpus(_read_gmb(train_filepath, encoding), *columns, Path(train_filepath).name, first_line=2)
        val = None if val_filepath is None else _df_corpus(_read_gmb(val_filepath, encoding), *columns,
                                                           Path(val_filepath).name, first_line=2)
        return _load(train, val, **options)
    columns = {"word_column": word_column if isinstance(word_column, int) else 0,
                   "tag_column": tag_column if isinstance(tag_column, int) else -1, "encoding": encoding}
    train = read_token_file(train_filepath, **columns)
    val = None if val_filepath is None else read_token_file(val_filepath, **columns)
    return _load(train, val, **options)


def entities_from_jsonl(train_filepath, val_filepath=None, label_list: Sequence[str] | None = None, encoding=None,
                        val_pct=0.1, verbose=1, *, maxlen: int = MAXLEN, model_name: str | None = None,
                        transformer_model: str | None = None, tokenizer=None, random_state: int | None = 42,
                        policy: FolderPolicy = DEFAULT_POLICY):
    """Load JSON Lines of ``{"tokens": [...], "ner_tags": [...]}`` (kdemo's addition; HF datasets' layout).

    Args:
        train_filepath: The training file.
        val_filepath: The validation file; None holds out ``val_pct``.
        label_list: Tag names in id order when ``ner_tags`` are integer ids (else a ``{"label_names": [...]}``
            line in the file is used).
        encoding, val_pct, verbose, maxlen, model_name, transformer_model, tokenizer, random_state, policy: See
            :func:`entities_from_conll2003`.

    Returns:
        ``(trn, val, preproc)``.

    Raises:
        DataError: For invalid JSON, rows whose tokens and tags differ in length, ids without a label list.
    """
    names = list(label_list) if label_list is not None else None
    train = read_token_file(train_filepath, encoding=encoding, label_list=names)
    val = None if val_filepath is None else read_token_file(val_filepath, encoding=encoding, label_list=names)
    return _load(train, val, maxlen=maxlen, model_name=model_name or transformer_model, tokenizer=tokenizer,
                 random_state=random_state, policy=policy, val_pct=val_pct, verbose=verbose)


def entities_from_df(train_df, val_df=None, word_column=WORD_COL, tag_column=TAG_COL, sentence_column=SENT_COL,
                     use_char=False, val_pct=0.1, verbose=1, *, maxlen: int = MAXLEN, model_name: str | None = None,
                     transformer_model: str | None = None, tokenizer=None, random_state: int | None = 42,
                     policy: FolderPolicy = DEFAULT_POLICY):
    """Load entities from a DataFrame of one word a row (ktrain's ``entities_from_df``).

    Rows of a sentence share its id in ``sentence_column`` (empty ids are filled down, as in GMB files);
    sentences keep the order of their first row and words the order of their rows.

    Args:
        train_df: Training rows.
        val_df: Validation rows; None holds out ``val_pct`` of the training sentences.
        word_column: Column of the words.
        tag_column: Column of the tags.
        sentence_column: Column of the sentence ids.
        use_char: Ignored (ktrain's character embeddings).
        val_pct, verbose, maxlen, model_name, transformer_model, tokenizer, random_state, policy: See
            :func:`entities_from_conll2003`.

    Returns:
        ``(trn, val, preproc)``.

    Raises:
        DataError: If a column is missing or a word or tag is empty (the row is named).
    """
    options = {"maxlen": maxlen, "model_name": model_name or transformer_model, "tokenizer": tokenizer,
                   "random_state": random_state, "policy": policy, "val_pct": val_pct, "verbose": verbose}
    train = _df_corpus(train_df, word_column, tag_column, sentence_column, "train_df")
    val = None if val_df is None else _df_corpus(val_df, word_column, tag_column, sentence_column, "val_df")
    return _load(train, val, **options)


def entities_from_array(x_train, y_train, x_test=None, y_test=None, use_char=False, val_pct=0.1, verbose=1, *,
                        maxlen: int = MAXLEN, model_name: str | None = None, transformer_model: str | None = None,
                        tokenizer=None, random_state: int | None = 42, policy: FolderPolicy = DEFAULT_POLICY):
    """Load entities from lists of words and tags (ktrain's ``entities_from_array``).

    Args:
        x_train: Words per sentence: ``[["Hello", "world"], ["I", "love", "Chicago"]]``.
        y_train: Tags per sentence: ``[["O", "O"], ["O", "O", "B-LOC"]]``.
        x_test: Validation words per sentence (with ``y_test``); None holds out ``val_pct``.
        y_test: Validation tags per sentence.
        use_char, val_pct, verbose, maxlen, model_name, transformer_model, tokenizer, random_state, policy: See
            :func:`entities_from_conll2003`.

    Returns:
        ``(trn, val, preproc)``.

    Raises:
        DataError: If the lists differ in length or a sentence's words and tags do (the sentence is named).
    """
    train = _array_corpus(x_train, y_train, "x_train")
    val = None if x_test is None or y_test is None else _array_corpus(x_test, y_test, "x_test")
    return _load(train, val, maxlen=maxlen, model_name=model_name or transformer_model, tokenizer=tokenizer,
                 random_state=random_state, policy=policy, val_pct=val_pct, verbose=verbose)


# ---------------------------------------------------------------------------------------------------- helpers
def _array_corpus(x, y, name: str) -> TokenCorpus:
    if len(x) != len(y):
        raise DataError(f"Expected one tag list per sentence. Received: {len(x)} sentences and {len(y)} tag lists in "
                        f"{name}.")
    words, tags = [], []
    for s, (w, t) in enumerate(zip(x, y)):
        if isinstance(w, str):
            raise DataError(f"Expected each sentence to be a list of words. Received: the string {w[:40]!r} "
                            f"(sentence {s + 1} of {name}). Split it into words first.")
        if len(w) != len(t):
            raise DataError(f"Expected one tag per word. Received: {len(w)} words and {len(t)} tags (sentence {s + 1} "
                            f"of {name}). Give every word exactly one tag.")
        words.append([str(v) for v in w]), tags.append([str(v) for v in t])
    return TokenCorpus(words, tags, list(range(1, len(words) + 1)), source=name)


def _df_corpus(df: pd.DataFrame, word_column, tag_column, sentence_column, name: str,
               first_line: int = 1) -> TokenCorpus:
    """Rows -> sentences; ``first_line`` is the file line of row 0 (2 below a CSV header), for messages."""
    missing = [c for c in (word_column, tag_column, sentence_column) if c not in df.columns]
    if missing:
        raise DataError(f"Expected columns {word_column!r}, {tag_column!r} and {sentence_column!r}. Received: "
                        f"{list(df.columns)} in {name} (missing {missing}). Pass word_column=, tag_column= and "
                        "sentence_column=.")
    ids = df[sentence_column].ffill()
    for column in (word_column, tag_column):
        empty = np.flatnonzero(df[column].isna().to_numpy())
        if len(empty):
            raise DataError(f"Expected a value in column {column!r} on every row. Received: an empty cell (line "
                            f"{int(empty[0]) + first_line} of {name}). Fill it or remove the row.")
    frame = pd.DataFrame({"s": ids.to_numpy(), "w": df[word_column].astype(str).to_numpy(),
                          "t": df[tag_column].astype(str).to_numpy(), "row": np.arange(len(df)) + first_line})
    words, tags, lines = [], [], []
    for _, group in frame.groupby("s", sort=False, dropna=False):
        words.append(group["w"].tolist()), tags.append(group["t"].tolist()), lines.append(int(group["row"].iloc[0]))
    return TokenCorpus(words, tags, lines, source=name)


def _read_gmb(path, encoding) -> pd.DataFrame:
    path = Path(path)
    text = detect_and_decode(path.read_bytes(), path.name, encoding).text
    try:
        return pd.read_csv(io.StringIO(text), sep=None, engine="python", keep_default_na=False,
                           na_values=[""], dtype=str)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"Expected a comma- or tab-separated table with a header. Received: {exc} (in "
                        f"{path.name!r}).") from None


def _load(train: TokenCorpus, val: TokenCorpus | None, *, maxlen, model_name, tokenizer, random_state, policy,
          val_pct, verbose) -> tuple[TokenDataset, TokenDataset | None, NERPreprocessor]:
    """Normalize tags, split off validation sentences, fix the tag list (training and validation types) and
    tokenize."""
    for corpus in (train, val):
        if corpus is not None and corpus.tags is None:
            raise DataError(f"Expected tags (a tag column, or ner_tags). Received: words only in {corpus.source!r}. "
                            "Add a tag after each word (word TAB tag).")
        if corpus is not None and corpus.scheme == "BIO" and not corpus.warnings:  # arrays and frames: not yet checked
            corpus.tags, corpus.scheme, corpus.warnings = normalize_tags(corpus.tags, corpus.line_numbers)
    preproc = NERPreprocessor(model_name, maxlen=maxlen, tokenizer=tokenizer, policy=policy)
    if val is None and val_pct:
        train, val = _split(train, val_pct, random_state)
    unseen = []
    if val is not None:  # the tag list covers validation-only types, so evaluation can report them
        preproc.class_names = class_names_for(train.tags + val.tags)
        unseen = _validation_only(train, val)
    trn = preproc.preprocess_train(train.words, train.tags, line_numbers=train.line_numbers)
    trn.warnings[:0] = train.warnings + unseen
    preproc.warnings = list(trn.warnings)
    val_ds = None
    if val is not None:
        val_ds = preproc.preprocess_test(val.words, val.tags, line_numbers=val.line_numbers)
        val_ds.warnings[:0] = [w for w in val.warnings if w not in train.warnings]
    if verbose:
        _report(train, trn, val_ds, preproc)
    return trn, val_ds, preproc


def _validation_only(train: TokenCorpus, val: TokenCorpus) -> list[str]:
    """A warning per entity type that occurs in the validation data but never in the training data."""
    seen = {split_tag(t)[1] for sentence in train.tags for t in sentence}
    out = {}
    for s, sentence in enumerate(val.tags):
        for t in sentence:
            kind = split_tag(t)[1]
            if kind is not None and kind not in seen and kind not in out:
                out[kind] = (f"Entity type {kind!r} occurs in the validation data (first in sentence starting on line "
                             f"{val.line_numbers[s]} of {val.source!r}) but never in the training data: the model "
                             "cannot learn it. Add training examples of it.")
    return list(out.values())


def _split(corpus: TokenCorpus, val_pct: float, random_state) -> tuple[TokenCorpus, TokenCorpus]:
    if not 0 < val_pct < 1:
        raise DataError(f"Expected val_pct between 0 and 1 (a fraction). Received: {val_pct!r}.")
    n = len(corpus)
    n_val = int(np.ceil(n * val_pct))
    if n < 2 or n_val >= n:
        raise DataError(f"Expected at least 2 training sentences to hold out {val_pct:.0%} for validation. Received: "
                        f"{n}. Add sentences, pass a validation file, or set val_pct=0.")
    order = np.random.default_rng(random_state).permutation(n)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

    def part(idx):
        return TokenCorpus([corpus.words[i] for i in idx], [corpus.tags[i] for i in idx],
                           [corpus.line_numbers[i] for i in idx], corpus.scheme, list(corpus.warnings), corpus.source)

    return part(train_idx), part(val_idx)


def _report(train: TokenCorpus, trn: TokenDataset, val: TokenDataset | None, preproc: NERPreprocessor) -> None:
    """ktrain's printout: sentences, words, tags, longest sentence; then the warnings."""
    print(f"Number of sentences: {trn.nsamples()} (validation: {val.nsamples() if val is not None else 0})")
    print(f"Number of words in the dataset: {len({w for s in trn.words for w in s})}")
    print(f"Tags: {preproc.get_classes()} (scheme in the file: {train.scheme})")
    print(f"Number of Labels: {len(preproc.get_classes())}")
    print(f"Longest sentence: {max(len(s) for s in trn.words)} words")
    for message in trn.warnings + ([] if val is None else val.warnings):
        print(f"warning: {message}")
