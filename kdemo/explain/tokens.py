"""One input as the model sees it: its tokens, which are special, which text (A or B) they belong to, and words.

Shared by the attention maps (:mod:`kdemo.explain.attention`) and the attributions (:mod:`kdemo.explain.attributions`), so that both
label the same positions with the same tokens: exactly the tokenizer's output, special tokens included, no padding.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import torch
import transformers

#: Model inputs kdemo passes on when the model's ``forward`` names them (DistilBERT has no ``token_type_ids``).
MODEL_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True, eq=False)
class TokenInfo:
    """Labels of the ``seq_len`` positions of one encoded input.

    Attributes:
        tokens: The tokenizer's tokens (``convert_ids_to_tokens``), special tokens included, no padding.
        special: Bool array of shape ``(seq_len,)``: True for special tokens ([CLS], [SEP], <s>, …).
        segments: Int array of shape ``(seq_len,)``: 0 for the first text (A), 1 for the second text (B) of a
            sentence pair. A special token belongs to the segment of the nearest text token before it (A when
            there is none): ``[CLS] A [SEP]`` is A and the final ``[SEP]`` is B, as in BERT's token type ids.
        groups: Int array of shape ``(seq_len,)``: the word each token belongs to, numbered 0, 1, … in order. The
            pieces of one word (``super`` ``##b``) share a number; every special token is a word of its own.
        group_labels: The text of each word (its pieces joined by the tokenizer), ``groups.max() + 1`` of them.
    """

    tokens: list[str]
    special: np.ndarray
    segments: np.ndarray
    groups: np.ndarray
    group_labels: list[str]

    def __post_init__(self):
        n = len(self.tokens)
        for name in ("special", "segments", "groups"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Expected {name} of shape ({n},) (one per token). Received: {getattr(self, name).shape}.")
        if n and (self.groups[0] != 0 or np.any(np.diff(self.groups) < 0) or np.any(np.diff(self.groups) > 1)):
            raise ValueError(f"Expected groups numbered 0, 1, … in token order. Received: {self.groups.tolist()}.")
        if n and len(self.group_labels) != int(self.groups[-1]) + 1:
            raise ValueError(f"Expected one label per group ({int(self.groups[-1]) + 1}). Received: {len(self.group_labels)}.")

    @property
    def seq_len(self) -> int:
        """Number of tokens."""
        return len(self.tokens)

    @property
    def num_words(self) -> int:
        """Number of words (groups)."""
        return len(self.group_labels)

    def merged(self) -> TokenInfo:
        """The word-level labels: one position per word, labelled with the word's text.

        A word is special or in segment B when its (first) token is.
        """
        first = np.concatenate([[0], np.flatnonzero(np.diff(self.groups)) + 1]) if self.seq_len else np.zeros(0, int)
        return TokenInfo(
            tokens=list(self.group_labels),
            special=self.special[first].copy(),
            segments=self.segments[first].copy(),
            groups=np.arange(self.num_words),
            group_labels=list(self.group_labels),
        )


def model_inputs(model: transformers.PreTrainedModel, enc: dict) -> dict[str, torch.Tensor]:
    """The entries of a tokenizer's output that ``model.forward`` accepts, on the model's device.

    Args:
        model: The model.
        enc: The tokenizer's output (``return_tensors="pt"``).

    Returns:
        ``input_ids``, ``attention_mask`` and ``token_type_ids`` where present and accepted.
    """
    accepted = inspect.signature(model.forward).parameters
    device = next(model.parameters()).device
    return {k: enc[k].to(device) for k in MODEL_INPUT_NAMES if k in enc and k in accepted}


def _segments(special: np.ndarray, sequence_ids: list[int | None]) -> np.ndarray:
    segments = np.zeros(len(special), dtype=np.int64)
    current = 0
    for i, seq in enumerate(sequence_ids):
        if seq is not None and not special[i]:
            current = int(seq)
        segments[i] = current
    return segments


def encode(
    tokenizer: transformers.PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    *,
    maxlen: int = 512,
) -> tuple[dict, TokenInfo]:
    """Tokenize one input (or sentence pair) and label its tokens.

    Words come from the fast tokenizer's word ids (its pre-tokenizer's words, per text) and are labelled with the
    input's own characters (from the pieces' offsets, so a word cut by truncation shows only its kept part). With a
    slow tokenizer (no word ids) every token is its own word and segments come from ``token_type_ids`` where the
    tokenizer gives them.

    Args:
        tokenizer: The model's tokenizer.
        text: The text (truncated to ``maxlen`` tokens together with ``text_pair``).
        text_pair: Optional second text of a sentence pair.
        maxlen: Maximum tokens, special tokens included.

    Returns:
        ``(enc, info)``: the tokenizer's output for one row (tensors of shape ``(1, seq_len)``) and the labels.
    """
    fast = bool(getattr(tokenizer, "is_fast", False))
    enc = tokenizer(
        text, text_pair, truncation=True, max_length=maxlen, return_tensors="pt", return_special_tokens_mask=True,
        return_offsets_mapping=fast,
    )
    ids = enc["input_ids"][0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    special = enc.pop("special_tokens_mask")[0].numpy().astype(bool)
    n = len(tokens)
    offsets = enc.pop("offset_mapping")[0].tolist() if fast else None
    if fast:
        sequence_ids = enc.sequence_ids(0)
        word_ids = enc.word_ids(0)
        segments = _segments(special, sequence_ids)
        keys = [("special", i) if special[i] or word_ids[i] is None else (sequence_ids[i], word_ids[i]) for i in range(n)]
    else:
        token_types = enc.get("token_type_ids")
        segments = token_types[0].numpy().astype(np.int64) if token_types is not None else np.zeros(n, dtype=np.int64)
        keys = [("token", i) for i in range(n)]
    groups = np.zeros(n, dtype=np.int64)
    members: list[list[int]] = []
    for i, key in enumerate(keys):
        if i == 0 or key != keys[i - 1]:
            members.append([])
        members[-1].append(i)
        groups[i] = len(members) - 1
    labels = []
    for idx in members:
        if special[idx[0]]:
            labels.append(tokens[idx[0]])
        elif offsets is not None:  # the word as written, from the kept pieces' character spans
            source = text if sequence_ids[idx[0]] in (0, None) else text_pair
            labels.append(source[offsets[idx[0]][0]: offsets[idx[-1]][1]].strip() or tokens[idx[0]])
        else:
            labels.append(tokenizer.convert_tokens_to_string([tokens[i] for i in idx]).strip() or tokens[idx[0]])
    return enc, TokenInfo(tokens=tokens, special=special, segments=segments, groups=groups, group_labels=labels)
