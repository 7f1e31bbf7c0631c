"""Sub-word lengths of extractive question-answering data and the windows its contexts need.

A context longer than what a window leaves it is read in overlapping windows, as Hugging Face's ``run_qa.py``
example tokenizes: ``tokenizer(question, context, truncation="only_second", max_length=maxlen, stride=doc_stride,
return_overflowing_tokens=True)``. :func:`count_windows` is the same count from the token lengths alone (the rule of
HF tokenizers' ``Encoding.truncate``); :func:`qa_lengths` measures a corpus for :mod:`kdemo.data.qa_doctor`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from kdemo.data.languages import count_words
from kdemo.data.token_doctor import TOKENS_PER_WORD

#: Questions above which windows are counted from the token counts by the tokenizers' rule (:func:`count_windows`)
#: instead of one tokenizer call on every (question, context) pair; both give the same numbers.
MAX_PAIR_CALL = 20_000
#: Special tokens of a pair assumed without a tokenizer (BERT's [CLS] q [SEP] c [SEP]).
PAIR_SPECIAL_TOKENS = 3


def count_windows(question_tokens, context_tokens, maxlen: int, doc_stride: int,
                  special_tokens: int = PAIR_SPECIAL_TOKENS) -> np.ndarray:
    """Windows per (question, context) pair as a fast tokenizer makes them with ``truncation="only_second"``.

    The context gets ``room = maxlen - question - special_tokens`` tokens per window; window ``k`` starts at
    ``k * (room - doc_stride)`` (the rule of HF tokenizers' ``Encoding.truncate``), so a context of ``c > room``
    tokens needs ``1 + ceil((c - room) / (room - doc_stride))``.

    Args:
        question_tokens: ``(num_pairs,)`` question lengths in tokens, special tokens excluded.
        context_tokens: ``(num_pairs,)`` context lengths in tokens, special tokens excluded.
        maxlen: Tokens per window, special tokens included.
        doc_stride: Tokens shared by consecutive windows.
        special_tokens: Special tokens of one pair (``tokenizer.num_special_tokens_to_add(pair=True)``).

    Returns:
        ``(num_pairs,)`` int64 windows; 0 where the pair cannot be windowed (the context overflows and the room is
        not larger than ``doc_stride``: the tokenizer fails on it).
    """
    q = np.asarray(question_tokens, dtype=np.int64)
    c = np.asarray(context_tokens, dtype=np.int64)
    room = maxlen - q - special_tokens
    over = c > room
    step = np.maximum(room - doc_stride, 1)
    windows = np.where(over, 1 + -(-(c - room) // step), 1)
    return np.where(over & (room <= doc_stride), 0, windows).astype(np.int64)


@contextlib.contextmanager
def _quiet():
    """Silence transformers' "sequence longer than the model's maximum" warning: windows handle that."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def _answer_tokens(spans, offsets) -> np.ndarray:
    """Tokens each ``(context index, start, end)`` character span covers, from the contexts' offset mappings."""
    out = []
    for k, start, end in spans:
        off = offsets[k]
        out.append(int(((off[:, 0] < end) & (off[:, 1] > start)).sum()) if len(off) else 0)
    return np.asarray(out, dtype=np.int64)


def qa_lengths(questions: Sequence[str], contexts: Sequence[str], ctx_of: np.ndarray, spans, tokenizer,
               maxlen: int | None, doc_stride: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Token lengths of contexts, questions and answers, and windows per question, as run_qa.py tokenizes them.

    Each distinct context is tokenized once. With a tokenizer, the windows come from one batch call on every
    (question, context) pair that can be windowed (``truncation="only_second"``, ``return_overflowing_tokens=True``;
    context first and ``only_first`` for a tokenizer that pads on the left), or from :func:`count_windows` above
    :data:`MAX_PAIR_CALL` questions. Without one, every length is :data:`~kdemo.data.token_doctor.TOKENS_PER_WORD`
    tokens per word (:func:`~kdemo.data.languages.count_words`) and a pair has :data:`PAIR_SPECIAL_TOKENS`.

    Args:
        questions: ``(num_questions,)`` question texts (left-stripped here, as run_qa.py does).
        contexts: ``(num_contexts,)`` distinct contexts.
        ctx_of: ``(num_questions,)`` index into ``contexts`` of each question's context.
        spans: ``(num_answers,)`` ``(context index, start, end)`` character spans of the answers to measure.
        tokenizer: A fast tokenizer, or None to estimate from words.
        maxlen: Tokens per window, special tokens included; None: no windows.
        doc_stride: Tokens consecutive windows share.

    Returns:
        ``(context_tokens (num_contexts,), question_tokens (num_questions,), answer_tokens (num_answers,),
        special tokens per pair, windows (num_questions,) or None)``; lengths exclude special tokens; windows are 0
        where the pair cannot be windowed (see :func:`count_windows`).
    """
    questions = [q.lstrip() for q in questions]  # run_qa.py strips the questions' leading whitespace
    if tokenizer is None:
        c_len = np.ceil(np.asarray([count_words(c) for c in contexts]) * TOKENS_PER_WORD).astype(np.int64)
        q_len = np.ceil(np.asarray([count_words(q) for q in questions]) * TOKENS_PER_WORD).astype(np.int64)
        a_len = np.ceil(np.asarray([count_words(contexts[k][s:e]) for k, s, e in spans]) * TOKENS_PER_WORD)
        special = PAIR_SPECIAL_TOKENS
        windows = count_windows(q_len, c_len[ctx_of], maxlen, doc_stride, special) if maxlen else None
        return c_len, q_len, a_len.astype(np.int64), special, windows
    special = tokenizer.num_special_tokens_to_add(pair=True)
    with _quiet():
        enc = tokenizer(list(contexts), add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                        return_attention_mask=False, return_token_type_ids=False)
        q_ids = tokenizer(questions, add_special_tokens=False, truncation=False, return_attention_mask=False,
                          return_token_type_ids=False)["input_ids"]
    c_len = np.asarray([len(i) for i in enc["input_ids"]], dtype=np.int64)
    q_len = np.asarray([len(i) for i in q_ids], dtype=np.int64)
    offsets = [np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in enc["offset_mapping"]]
    a_len = _answer_tokens(spans, offsets)
    if not maxlen:
        return c_len, q_len, a_len, special, None
    windows = count_windows(q_len, c_len[ctx_of], maxlen, doc_stride, special)
    ok = np.flatnonzero(windows > 0)
    if len(ok) and len(questions) <= MAX_PAIR_CALL:  # count them exactly as run_qa.py tokenizes
        right = getattr(tokenizer, "padding_side", "right") == "right"
        first, second = [questions[i] for i in ok], [contexts[ctx_of[i]] for i in ok]
        with _quiet():
            pairs = tokenizer(first if right else second, second if right else first,
                              truncation="only_second" if right else "only_first", max_length=maxlen,
                              stride=doc_stride, return_overflowing_tokens=True, return_attention_mask=False,
                              return_token_type_ids=False)
        windows[ok] = np.bincount(np.asarray(pairs["overflow_to_sample_mapping"]), minlength=len(ok))
    return c_len, q_len, a_len, special, windows
