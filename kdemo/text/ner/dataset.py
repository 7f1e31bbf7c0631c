"""Tokenized token-classification data: sentences cut into windows of at most ``maxlen`` sub-word tokens.

A transformer reads at most ``maxlen`` sub-word tokens, special tokens included. A sentence that needs more is
**split into consecutive windows at word boundaries** (no word is split across windows, nothing is dropped), and
predictions are put back together per sentence with :attr:`TokenDataset.window_sentence` and
:attr:`TokenDataset.word_ids` (:meth:`TokenDataset.words_from_windows`). Only a single word longer than a whole
window loses sub-words: its first ones are kept, which is all the labels use, and a warning says so.

Labels follow Hugging Face's convention (the ``run_ner.py`` example, ``label_all_tokens=False``): the word's tag id on
its **first** sub-word, -100 (ignored by the loss) on its other sub-words and on special tokens.

Tokenizing uses the fast tokenizer's batch call with ``is_split_into_words=True`` and its ``word_ids()``, so all of
CoNLL-2003 train (14,041 sentences) takes seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kdemo.data.dataset import pad_rows
from kdemo.data.subwords import batch_encode
from kdemo.errors import DataError

#: Label of positions the loss ignores (special tokens, non-first sub-words, padding); PyTorch's ``ignore_index``.
IGNORE = -100
#: Messages listed one by one at most per kind; the rest are counted.
MAX_WARNINGS = 20


@dataclass
class TokenDataset:
    """Sentences, their windows of sub-word ids and (optionally) their per-token labels.

    Attributes:
        words: Words per sentence, ``(num_sentences, num_words)`` (ragged).
        tags: BIO tag names per sentence (same shape as ``words``), or None without labels.
        class_names: Tag names in id order.
        input_ids: Per window, int64 ``(window_len,)`` token ids, special tokens included.
        word_ids: Per window, int64 ``(window_len,)``: index of each token's word in its sentence, -1 for special
            tokens.
        labels: Per window, int64 ``(window_len,)``: the tag id on each word's first sub-word, -100 elsewhere; None
            without tags.
        window_sentence: int64 ``(num_windows,)``: the sentence each window belongs to (windows of a sentence are
            consecutive and in order).
        pad_token_id: Token id used for padding.
        has_token_type_ids: Whether the tokenizer's model takes ``token_type_ids`` (all 0 for single sentences).
        line_numbers: 1-based line (or row) of each sentence in its file, or None.
        warnings: Windowing and unknown-word notes, each naming the sentence (and line).
        batch_size: ktrain's ``NERSequence.batch_size`` (batches are made by ``get_learner``).
        lengths: Per window, its token count (computed), ``(num_windows,)``.
    """

    words: list[list[str]]
    tags: list[list[str]] | None
    class_names: list[str]
    input_ids: list[np.ndarray]
    word_ids: list[np.ndarray]
    labels: list[np.ndarray] | None
    window_sentence: np.ndarray
    pad_token_id: int = 0
    has_token_type_ids: bool = False
    line_numbers: list[int] | None = None
    warnings: list[str] = field(default_factory=list)
    batch_size: int = 32
    lengths: np.ndarray = field(init=False)

    def __post_init__(self):
        self.window_sentence = np.asarray(self.window_sentence, dtype=np.int64)
        self.lengths = np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))
        if len(self.window_sentence) != len(self.input_ids):
            raise ValueError(f"Expected one sentence index per window. Received: {len(self.input_ids)} windows and "
                             f"{len(self.window_sentence)} indices.")

    def __len__(self) -> int:
        """Number of windows (the rows the model sees); :meth:`nsamples` counts sentences."""
        return len(self.input_ids)

    # ------------------------------------------------------------------ ktrain's NERSequence interface
    @property
    def x(self) -> list[list[str]]:
        """ktrain's ``NERSequence.x``: the words per sentence."""
        return self.words

    @property
    def y(self) -> list[list[str]] | None:
        """ktrain's ``NERSequence.y``: the tags per sentence."""
        return self.tags

    def get_y(self) -> list[list[str]] | None:
        """ktrain's ``get_y``: the BIO tags per sentence (None without labels)."""
        return self.tags

    def nsamples(self) -> int:
        """ktrain's ``nsamples``: the number of sentences."""
        return len(self.words)

    def nclasses(self) -> int:
        """ktrain's ``nclasses``: the number of tags."""
        return len(self.class_names)

    def ondisk(self) -> bool:
        """ktrain's ``ondisk``: always False (in memory)."""
        return False

    # ------------------------------------------------------------------ batches
    def collate(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Pad the windows at ``indices`` to the longest of them.

        Returns:
            ``{"input_ids", "attention_mask"[, "token_type_ids"]}``, int64 arrays ``(batch, seq_len)``.
        """
        return pad_rows(self.input_ids, self.lengths, indices, self.pad_token_id,
                        zero_token_types=self.has_token_type_ids)

    def batch_labels(self, indices: Sequence[int]) -> np.ndarray:
        """Labels of the windows at ``indices``, int64 ``(batch, seq_len)`` padded with -100 (as :meth:`collate`).

        Raises:
            DataError: If the dataset has no labels.
        """
        if self.labels is None:
            raise DataError("Expected labelled data (tags). Received: a dataset without tags. Load a file with a tag "
                            "column or pass tags to preprocess_test.")
        idx = list(indices)
        out = np.full((len(idx), int(self.lengths[idx].max())), IGNORE, dtype=np.int64)
        for row, i in enumerate(idx):
            out[row, : self.lengths[i]] = self.labels[i]
        return out

    def subset(self, window_indices: Sequence[int]) -> TokenDataset:
        """A dataset of the windows at ``window_indices`` (in that order) and the sentences they belong to.

        Sentences are renumbered in order of first appearance. To keep whole sentences, pass all their windows
        (:meth:`windows_of`).
        """
        idx = [int(i) for i in window_indices]
        old = self.window_sentence[idx] if idx else np.zeros(0, dtype=np.int64)
        order = list(dict.fromkeys(old.tolist()))
        new_of = {s: n for n, s in enumerate(order)}
        return TokenDataset(
            words=[self.words[s] for s in order],
            tags=None if self.tags is None else [self.tags[s] for s in order],
            class_names=list(self.class_names),
            input_ids=[self.input_ids[i] for i in idx],
            word_ids=[self.word_ids[i] for i in idx],
            labels=None if self.labels is None else [self.labels[i] for i in idx],
            window_sentence=np.asarray([new_of[s] for s in old.tolist()], dtype=np.int64),
            pad_token_id=self.pad_token_id,
            has_token_type_ids=self.has_token_type_ids,
            line_numbers=None if self.line_numbers is None else [self.line_numbers[s] for s in order],
            warnings=list(self.warnings),
            batch_size=self.batch_size,
        )

    def windows_of(self, sentences: Sequence[int]) -> np.ndarray:
        """Indices of the windows of the given sentences, int64 ``(num_windows,)``, in sentence order."""
        wanted = np.zeros(len(self.words), dtype=bool)
        wanted[np.asarray(list(sentences), dtype=np.int64)] = True
        return np.flatnonzero(wanted[self.window_sentence])

    def words_from_windows(self, token_values: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-token values of every window (logits, probabilities, tag ids) -> per-word values of every sentence.

        Each word takes the value at its first sub-word (the one that carries its label).

        Args:
            token_values: One array per window, ``(window_len, ...)`` or padded ``(seq_len >= window_len, ...)``.

        Returns:
            One array per sentence, ``(num_words, ...)``.
        """
        out: list[np.ndarray | None] = [None] * len(self.words)
        for w, values in enumerate(token_values):
            s = int(self.window_sentence[w])
            wid = self.word_ids[w]
            first = np.flatnonzero((wid >= 0) & (wid != np.concatenate(([-2], wid[:-1]))))
            values = np.asarray(values)
            if out[s] is None:
                out[s] = np.zeros((len(self.words[s]),) + values.shape[1:], dtype=values.dtype)
            out[s][wid[first]] = values[first]
        return [o if o is not None else np.zeros((0,)) for o in out]


def _where(s: int, line_numbers: Sequence[int] | None) -> str:
    return f"sentence {s + 1}" + (f" (line {line_numbers[s]})" if line_numbers is not None else "")


def encode_sentences(tokenizer, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None,
                     class_names: Sequence[str], maxlen: int, *,
                     line_numbers: Sequence[int] | None = None) -> TokenDataset:
    """Tokenize sentences of words into windows of at most ``maxlen`` tokens and align the tags.

    Args:
        tokenizer: A fast Hugging Face tokenizer (it must have ``word_ids()``).
        words: Words per sentence, ``(num_sentences, num_words)`` (ragged); every sentence has at least one word.
        tags: BIO tags per sentence (same shape), or None.
        class_names: Tag names in id order; every tag must be one of them.
        maxlen: Tokens per window, special tokens included.
        line_numbers: 1-based line of each sentence in its file, for messages.

    Returns:
        A :class:`TokenDataset`; its ``warnings`` name the sentences split into windows, truncated words and words
        read as the unknown token.

    Raises:
        DataError: If a sentence is empty, its tags differ in number from its words, or a tag is not in
            ``class_names``.
    """
    words = [[str(w) for w in sentence] for sentence in words]
    for s, sentence in enumerate(words):
        if not sentence:
            raise DataError(f"Expected at least one word in every sentence. Received: an empty "
                            f"{_where(s, line_numbers)}. Remove it.")
        if tags is not None and len(tags[s]) != len(sentence):
            raise DataError(f"Expected one tag per word. Received: {len(sentence)} words and {len(tags[s])} tags in "
                            f"{_where(s, line_numbers)}. Give every word exactly one tag.")
    tag_ids = None if tags is None else _tag_ids(tags, class_names, line_numbers)
    warnings: list[str] = []
    encoded, word_ids = _encode(tokenizer, words, warnings, line_numbers)
    input_ids, wids, labels, window_sentence = [], [], [] if tags is not None else None, []
    budget_notes = []
    for s, (ids, wid) in enumerate(zip(encoded, word_ids)):
        content = np.flatnonzero(wid >= 0)
        if not len(content):
            raise DataError(f"Expected words the tokenizer can read. Received: no token at all for "
                            f"{_where(s, line_numbers)} {words[s][:5]!r}. Remove the sentence or fix its words.")
        prefix, suffix = ids[: content[0]], ids[content[-1] + 1:]
        budget = maxlen - len(prefix) - len(suffix)
        if budget < 1:
            raise ValueError(f"Expected maxlen above the {len(prefix) + len(suffix)} special tokens. Received: {maxlen}.")
        if len(content) <= budget:
            pieces = [(ids, wid)]
        else:
            pieces = _windows(ids[content], wid[content], budget, prefix, suffix, s, line_numbers, warnings)
            budget_notes.append((s, len(content), len(pieces)))
        for piece_ids, piece_wid in pieces:
            input_ids.append(piece_ids)
            wids.append(piece_wid)
            window_sentence.append(s)
            if tag_ids is not None:
                lab = np.full(len(piece_ids), IGNORE, dtype=np.int64)
                first = np.flatnonzero((piece_wid >= 0) & (piece_wid != np.concatenate(([-2], piece_wid[:-1]))))
                lab[first] = tag_ids[s][piece_wid[first]]
                labels.append(lab)
    for s, n_tokens, n_windows in budget_notes[:MAX_WARNINGS]:
        warnings.append(f"{_where(s, line_numbers)}: {len(words[s])} words make {n_tokens} sub-word tokens, more than "
                        f"maxlen={maxlen} allows; it was split at word boundaries into {n_windows} windows (nothing "
                        "dropped). A larger maxlen keeps it whole.")
    if len(budget_notes) > MAX_WARNINGS:
        warnings.append(f"... and {len(budget_notes) - MAX_WARNINGS} more sentences split into windows "
                        f"({len(budget_notes)} in all).")
    return TokenDataset(
        words=words, tags=None if tags is None else [list(t) for t in tags], class_names=list(class_names),
        input_ids=input_ids, word_ids=wids, labels=labels, window_sentence=np.asarray(window_sentence, dtype=np.int64),
        pad_token_id=int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
        has_token_type_ids="token_type_ids" in getattr(tokenizer, "model_input_names", ()),
        line_numbers=None if line_numbers is None else list(line_numbers), warnings=warnings,
    )


def _tag_ids(tags, class_names, line_numbers) -> list[np.ndarray]:
    index = {name: i for i, name in enumerate(class_names)}
    out = []
    for s, sentence in enumerate(tags):
        try:
            out.append(np.fromiter((index[t] for t in sentence), dtype=np.int64, count=len(sentence)))
        except KeyError as exc:
            raise DataError(f"Expected every tag to be one of the training tags {list(class_names)}. Received: "
                            f"{exc.args[0]!r} in {_where(s, line_numbers)}. Fix the tag or add it to the training "
                            "data (or class_names=).") from None
    return out


def _encode(tokenizer, words, warnings, line_numbers):
    """Batch-encode; words that make no sub-word token (a lone U+00A0, U+200B, "") are read as the unknown token."""
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"Expected a fast tokenizer (with word_ids()). Received: {type(tokenizer).__name__}. Use a "
                        "checkpoint that has a tokenizer.json (most do).")
    ids, wids = batch_encode(tokenizer, words) if words else ([], [])
    unk = tokenizer.unk_token or tokenizer.pad_token
    redo, noted = [], 0
    for s, wid in enumerate(wids):
        present = np.zeros(len(words[s]), dtype=bool)
        present[wid[wid >= 0]] = True
        if not present.all():
            missing = np.flatnonzero(~present)
            for w in missing:
                noted += 1
                if noted <= MAX_WARNINGS:
                    warnings.append(f"{_where(s, line_numbers)}, word {w + 1}: the word {words[s][w]!r} makes no token for this tokenizer; it is read "
                                    f"as {unk!r} so that it still has a tag.")
            redo.append((s, [unk if not present[i] else word for i, word in enumerate(words[s])]))
    if redo:
        new_ids, new_wids = batch_encode(tokenizer, [r[1] for r in redo])
        for (s, _), i, w in zip(redo, new_ids, new_wids):
            ids[s], wids[s] = i, w
    if noted > MAX_WARNINGS:
        warnings.append(f"... and {noted - MAX_WARNINGS} more words read as {unk!r} ({noted} in all).")
    return ids, wids


def _windows(content_ids, content_wid, budget, prefix, suffix, s, line_numbers, warnings):
    """Cut one sentence's content tokens into windows of at most ``budget`` tokens at word boundaries."""
    n_words = int(content_wid.max()) + 1
    counts = np.bincount(content_wid, minlength=n_words)
    starts = np.concatenate(([0], np.cumsum(counts)))
    pieces, w = [], 0
    while w < n_words:
        end, used = w, 0
        while end < n_words and used + counts[end] <= budget:
            used += counts[end]
            end += 1
        if end == w:  # one word longer than a whole window: keep its first sub-words
            end, stop = w + 1, starts[w] + budget
            warnings.append(f"{_where(s, line_numbers)}: word {w + 1} ({counts[w]} sub-word tokens) is longer than a "
                            f"whole window ({budget} tokens); only its first {budget} sub-words are kept (its tag is on "
                            "the first).")
        else:
            stop = starts[end]
        body = slice(starts[w], stop)
        piece_ids = np.concatenate((prefix, content_ids[body], suffix)).astype(np.int64)
        piece_wid = np.concatenate((np.full(len(prefix), -1), content_wid[body], np.full(len(suffix), -1)))
        pieces.append((piece_ids, piece_wid.astype(np.int64)))
        w = end
    return pieces
