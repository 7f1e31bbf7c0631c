"""Sub-word tokens of sentences given as words: one batch call of a fast tokenizer with its word alignment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def batch_encode(tokenizer, words: Sequence[Sequence[str]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One batch call of the fast tokenizer on sentences of words, special tokens included, nothing truncated.

    Returns:
        ``(input_ids, word_ids)``: per sentence, int64 ``(num_tokens,)`` token ids and word indices (-1 for special
        tokens).
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "sequence longer than the model's maximum": windows handle that
    try:
        enc = tokenizer(words, is_split_into_words=True, add_special_tokens=True, truncation=False,
                        return_attention_mask=False, return_token_type_ids=False)
    finally:
        hf_logging.set_verbosity(verbosity)
    ids = [np.asarray(i, dtype=np.int64) for i in enc["input_ids"]]
    wids = [np.asarray([-1 if w is None else w for w in enc.word_ids(i)], dtype=np.int64) for i in range(len(ids))]
    return ids, wids
