"""Text lengths for the data doctor and the runs' maxlen suggestion (:func:`suggest_maxlen`): in the model's tokens, or (no tokenizer) in words that count every Chinese,
Japanese and Korean character, since those scripts do not put spaces between words."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdemo.data.dataset import maxlen_covering
from kdemo.data.languages import count_words
from kdemo.data.tables import format_rows

#: Rows tokenized at most for the length histogram and maxlen (a random sample beyond, seed 0).
MAX_TOKENIZED_ROWS = 10_000


def token_lengths(texts: list[str], tokenizer) -> np.ndarray:
    """Tokens per text, special tokens included (without a tokenizer: words split on whitespace, every Chinese,
    Japanese or Korean character counting as a word, since those scripts do not separate words)."""
    if tokenizer is None:
        return np.array([count_words(t) for t in texts], dtype=np.int64)
    ids = tokenizer(texts, truncation=False, add_special_tokens=True, return_attention_mask=False,
                    return_token_type_ids=False)["input_ids"]
    return np.array([len(x) for x in ids], dtype=np.int64)




def length_findings(texts: list[str], tokenizer) -> tuple[dict, list[tuple[str, str, tuple[int, ...]]]]:
    """Length histogram, 95th percentile, suggested maxlen, and every text the model will truncate.

    Returns ``(found, notes)``: the :class:`~kdemo.data.doctor.DataReport` length fields, and ``(kind, message,
    rows)`` of the doctor's info notes.

    The histogram and percentile come from at most :data:`MAX_TOKENIZED_ROWS` random rows. For truncation, every
    row with more UTF-8 bytes than the model maximum minus 8 is tokenized: no tokenizer makes more tokens than
    bytes plus special tokens.
    """
    index = np.arange(len(texts))
    if len(texts) > MAX_TOKENIZED_ROWS:
        index = np.sort(np.random.default_rng(0).choice(len(texts), MAX_TOKENIZED_ROWS, replace=False))
    lengths = token_lengths([texts[i] for i in index], tokenizer)
    counts, edges = np.histogram(lengths, bins=min(30, max(1, int(lengths.max(initial=1)))))
    found = {"length_unit": "words" if tokenizer is None else "tokens", "length_hist_counts": tuple(map(int, counts)),
             "length_hist_edges": tuple(map(float, edges)), "length_p95": int(np.ceil(np.quantile(lengths, 0.95))),
             "length_max": int(lengths.max()), "suggested_maxlen": None, "model_max_length": None}
    problems = []
    if len(index) < len(texts):
        sampled = f"Text lengths were measured on a random sample of {len(index):,} of {len(texts):,} rows."
        problems.append(("file_note", sampled, ()))
    if tokenizer is not None:
        model_max = int(getattr(tokenizer, "model_max_length", 512) or 512)
        found["model_max_length"] = model_max = model_max if model_max < 100_000 else 512
        found["suggested_maxlen"] = maxlen_covering(lengths, cap=model_max)
        candidates = [i for i, t in enumerate(texts) if len(t.encode("utf-8")) + 8 > model_max]
        long_lengths = token_lengths([texts[i] for i in candidates], tokenizer) if candidates else np.zeros(0, np.int64)
        found["length_max"] = int(max(found["length_max"], long_lengths.max(initial=0)))
        too_long = [i + 1 for i, n in zip(candidates, long_lengths) if n > model_max]
        if too_long:
            cut = (f"{len(too_long)} texts are longer than the model's maximum of {model_max} tokens and will be cut "
                   f"({format_rows(too_long)}).")
            problems.append(("truncated", cut, tuple(too_long)))
    return found, problems


def suggest_maxlen(tokenizer, texts: Sequence[str], *, coverage: float = 0.95, cap: int = 512, sample: int = 5000) -> int:
    """The smallest token length (multiple of 8) that covers ``coverage`` of the texts, capped.

    Args:
        tokenizer: The model's tokenizer.
        texts: Texts, or ``(text, text_pair)`` sentence pairs, tokenized as the model reads them (a pair with its
            separator tokens); a random sample of at most ``sample`` is tokenized.
        coverage: Fraction 0–1 of texts that should fit untruncated.
        cap: Upper bound (the model's maximum).

    Returns:
        The suggested maxlen in tokens, special tokens included.
    """
    texts = list(texts)
    if len(texts) > sample:
        rng = np.random.default_rng(0)
        texts = [texts[i] for i in rng.choice(len(texts), sample, replace=False)]
    if texts and not isinstance(texts[0], str):  # sentence pairs: both texts count, as the model reads them
        encoded = tokenizer([str(a) for a, _ in texts], [str(b) for _, b in texts], truncation=False)
    else:
        encoded = tokenizer(texts, truncation=False, add_special_tokens=True)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    return maxlen_covering(lengths, coverage=coverage, cap=cap)


def count_longer(texts: Sequence[str], tokenizer, maxlen: int, *,
                 sample: int = MAX_TOKENIZED_ROWS) -> tuple[int, int, bool]:
    """How many texts are longer than ``maxlen`` tokens (special tokens included), i.e. cut when a model reads them
    at that maxlen.

    Args:
        texts: The training texts.
        tokenizer: The chosen model's tokenizer (None: words, as :func:`token_lengths` counts them).
        maxlen: The chosen maxlen in tokens.
        sample: Texts tokenized at most (a random sample, seed 0, beyond: the count is then scaled up).

    Returns:
        ``(longer, total, estimated)``: texts over ``maxlen`` (estimated from the sample when ``estimated``), and
        the number of texts.
    """
    texts = list(texts)
    total = len(texts)
    # no tokenizer makes more tokens than UTF-8 bytes plus special tokens: shorter texts cannot be over maxlen
    index = [i for i, t in enumerate(texts) if len(t.encode("utf-8")) + 8 > maxlen]
    candidates = len(index)
    estimated = candidates > sample
    if estimated:
        index = sorted(np.random.default_rng(0).choice(index, sample, replace=False).tolist())
    lengths = token_lengths([texts[i] for i in index], tokenizer) if index else np.zeros(0, np.int64)
    longer = int((lengths > maxlen).sum())
    if estimated:
        longer = int(round(longer * candidates / sample))
    return longer, total, estimated
