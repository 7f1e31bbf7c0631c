"""ktrain-style loaders of extractive question-answering data, in the style of the NER verbs: a file or a table in,
``(trn, val, preproc)`` out, ready for ``question_answerer(preproc)`` and ``get_learner``.

Example:
    >>> from kdemo import text, get_learner
    >>> trn, val, preproc = text.qa_from_squad("train.json", "dev.json", maxlen=384, doc_stride=128)
    >>> learner = get_learner(text.question_answerer(preproc), train_data=trn, val_data=val, batch_size=16)
    >>> learner.fit_onecycle(1e-4, 2)
    >>> learner.validate()                      # SQuAD exact match and F1
    >>> predictor = get_predictor(learner.model, preproc)
    >>> predictor.predict("Who wrote it?", "Ann wrote it in 1999.")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdemo.data.qa_files import QACorpus, align_answers, check_trainable, qa_from_frame, read_qa_file
from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.text.qa.dataset import QADataset
from kdemo.text.qa.preprocessor import DOC_STRIDE, MAXLEN, QAPreprocessor

#: Answer problems named one by one in the error of unusable answers; the rest are counted.
MAX_NAMED = 5


def usable_answers(corpus: QACorpus) -> tuple[QACorpus, list[str]]:
    """The corpus with every repairable answer offset repaired (the answer's text occurs once in its context), and
    the repairs as warnings naming their rows.

    Raises:
        DataError: Naming the answers that are not at their offset and cannot be placed.
    """
    check = align_answers(corpus)
    if check.errors:
        named = "\n".join(f"- {e}" for e in check.errors[:MAX_NAMED])
        more = f"\n… and {len(check.errors) - MAX_NAMED} more." if len(check.errors) > MAX_NAMED else ""
        raise DataError(f"Expected every answer's text at its answer_start in {corpus.name!r}. Received: "
                        f"{len(check.errors)} answer(s) that are not, and cannot be placed:\n{named}{more}")
    return check.corpus, list(check.repairs)


def split_by_context(corpus: QACorpus, val_pct: float, seed: int | None) -> tuple[list[int], list[int]]:
    """Question indices ``(train, val)``: a seeded random ``val_pct`` of the distinct contexts (at least one, and at
    least one kept), with all their questions, held out, so that no validation context is seen in training.

    Raises:
        DataError: With fewer than 2 distinct contexts.
    """
    contexts = list(dict.fromkeys(corpus.contexts))
    if len(contexts) < 2:
        raise DataError(f"Expected at least 2 different contexts to hold some out for validation. Received: "
                        f"{len(contexts)}. Add contexts or give a validation file.")
    k = min(len(contexts) - 1, max(1, round(len(contexts) * val_pct)))
    held = {contexts[i] for i in np.random.default_rng(seed).permutation(len(contexts))[:k].tolist()}
    return ([i for i, c in enumerate(corpus.contexts) if c not in held],
            [i for i, c in enumerate(corpus.contexts) if c in held])


def encode_corpus(preproc: QAPreprocessor, corpus: QACorpus, *, train: bool) -> QADataset:
    """Window and tokenize a corpus with ``preproc`` (``preprocess_train`` for training, else ``preprocess_test``);
    the corpus' reading warnings come first in the dataset's."""
    encode = preproc.preprocess_train if train else preproc.preprocess_test
    data = encode(corpus.questions, corpus.contexts, corpus.answers, ids=corpus.ids, where=corpus.where)
    data.warnings[:0] = list(corpus.warnings)
    return data


def _load(train: QACorpus, val: QACorpus | None, *, val_pct, maxlen, doc_stride, model_name, tokenizer,
          random_state, policy, verbose) -> tuple[QADataset, QADataset | None, QAPreprocessor]:
    train, repairs = usable_answers(train)
    check_trainable(train)
    if val is not None:
        val, more = usable_answers(val)
        repairs += more
    elif val_pct:
        keep, held = split_by_context(train, val_pct, random_state)
        train, val = train.subset(keep), train.subset(held)
    preproc = QAPreprocessor(model_name, maxlen=maxlen, doc_stride=doc_stride, tokenizer=tokenizer, policy=policy)
    trn = encode_corpus(preproc, train, train=True)
    trn.warnings.extend(repairs)
    val_ds = encode_corpus(preproc, val, train=False) if val is not None else None
    if verbose:
        print(f"{trn.nsamples()} training questions ({len(trn)} windows)"
              + (f", {val_ds.nsamples()} validation questions ({len(val_ds)} windows)" if val_ds is not None else ""))
        for note in trn.warnings[:10]:
            print(f"note: {note}")
    return trn, val_ds, preproc


def qa_from_squad(train_filepath, val_filepath=None, val_pct: float = 0.1, verbose: int = 1, *, maxlen: int = MAXLEN,
                  doc_stride: int = DOC_STRIDE, model_name: str | None = None, transformer_model: str | None = None,
                  tokenizer=None, random_state: int | None = 42, encoding: str | None = None,
                  policy: FolderPolicy = DEFAULT_POLICY) -> tuple[QADataset, QADataset | None, QAPreprocessor]:
    """Load SQuAD v1.1/v2.0 JSON (or a table of question, context and answers) for extractive QA.

    Args:
        train_filepath: The training file: SQuAD JSON (``data → paragraphs → qas``), or JSONL/CSV/Parquet with
            ``question``, ``context`` and ``answers`` (HF squad layout) or ``answer_text`` + ``answer_start`` columns.
        val_filepath: The validation file; None holds out ``val_pct`` of the training contexts (all their questions).
        val_pct: Fraction 0–1 of the training contexts held out when ``val_filepath`` is None (0: no validation).
        verbose: Print counts and notes.
        maxlen: Tokens per window (question, context and special tokens; ``run_qa``: 384).
        doc_stride: Context tokens consecutive windows share (``run_qa``: 128).
        model_name: Checkpoint whose tokenizer is used (None: the embedded all-MiniLM-L6-v2).
        transformer_model: ktrain's name of ``model_name`` (used when ``model_name`` is None).
        tokenizer: A fast tokenizer to use instead of loading one.
        random_state: Seed of the validation split.
        encoding: Text encoding of the files; None detects it.
        policy: Which local model folders may be named.

    Returns:
        ``(trn, val, preproc)``: :class:`~kdemo.text.qa.dataset.QADataset` s (``val`` None with ``val_pct=0``) and
        the :class:`~kdemo.text.qa.preprocessor.QAPreprocessor`.

    Raises:
        DataError: If a file cannot be read, a question has no context, an answer is not at its offset and cannot be
            repaired, or no training question has an answer (the messages name the rows).
    """
    train = read_qa_file(train_filepath, encoding=encoding)
    val = read_qa_file(val_filepath, encoding=encoding) if val_filepath is not None else None
    return _load(train, val, val_pct=val_pct, maxlen=maxlen, doc_stride=doc_stride,
                 model_name=model_name or transformer_model, tokenizer=tokenizer, random_state=random_state,
                 policy=policy, verbose=verbose)


def qa_from_df(train_df: pd.DataFrame, val_df: pd.DataFrame | None = None, question_column: str | None = None,
               context_column: str | None = None, answers_column: str | None = None, val_pct: float = 0.1,
               verbose: int = 1, *, maxlen: int = MAXLEN, doc_stride: int = DOC_STRIDE, model_name: str | None = None,
               transformer_model: str | None = None, tokenizer=None, random_state: int | None = 42,
               policy: FolderPolicy = DEFAULT_POLICY) -> tuple[QADataset, QADataset | None, QAPreprocessor]:
    """Load tables of questions, contexts and answers for extractive QA (see :func:`qa_from_squad`).

    Args:
        train_df: Training table: ``question``, ``context`` and ``answers`` (HF squad layout) or ``answer_text`` +
            ``answer_start`` columns (found case-insensitively unless named).
        val_df: Validation table; None holds out ``val_pct`` of the training contexts.
        question_column, context_column, answers_column: Column names, when not the default ones.
        val_pct, verbose, maxlen, doc_stride, model_name, transformer_model, tokenizer, random_state, policy: As
            :func:`qa_from_squad`.

    Returns:
        ``(trn, val, preproc)``.

    Raises:
        DataError: If a column is missing or a row cannot be used (the message names the row).
    """
    columns = {"question_column": question_column, "context_column": context_column, "answers_column": answers_column}
    train = qa_from_frame(train_df, name="training table", **columns)
    val = qa_from_frame(val_df, name="validation table", **columns) if val_df is not None else None
    return _load(train, val, val_pct=val_pct, maxlen=maxlen, doc_stride=doc_stride,
                 model_name=model_name or transformer_model, tokenizer=tokenizer, random_state=random_state,
                 policy=policy, verbose=verbose)
