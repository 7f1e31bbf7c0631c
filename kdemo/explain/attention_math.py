"""Pure array maths on attention maps: word merging, [CLS] attention, rollout, sentence-pair blocks, head change.

Every function takes attention of shape ``(num_layers, num_heads, seq_len, seq_len)`` (or a slice of it) where
``att[l, h, i, j]`` is how much token ``i`` (the query, a row) attends to token ``j`` (the key, a column) in layer
``l``, head ``h``; rows sum to 1. Nothing here runs a model.
"""

from __future__ import annotations

import numpy as np

#: Sentence-pair filters: ``"X→Y"`` keeps the rows (attending tokens) of text X and the columns (attended-to
#: tokens) of text Y. "A" is the first text, "B" the second.
PAIR_FILTERS = ("all", "A→A", "A→B", "B→A", "B→B")


def _check_4d(att: np.ndarray) -> None:
    if att.ndim != 4 or att.shape[-1] != att.shape[-2]:
        raise ValueError(
            f"Expected attention of shape (num_layers, num_heads, seq_len, seq_len). Received: shape {att.shape}."
        )


def _membership(groups: np.ndarray, seq_len: int) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.shape != (seq_len,):
        raise ValueError(f"Expected groups of shape ({seq_len},) (one word number per token). Received: {groups.shape}.")
    if seq_len == 0:
        return np.zeros((0, 0))
    num_groups = int(groups.max()) + 1
    if groups.min() < 0 or set(np.unique(groups).tolist()) != set(range(num_groups)):
        raise ValueError(f"Expected word numbers 0..{num_groups - 1} with none missing. Received: {groups.tolist()}.")
    member = np.zeros((num_groups, seq_len))
    member[groups, np.arange(seq_len)] = 1.0
    return member


def merge_word_pieces(att: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Attention between words instead of word pieces.

    Attention *from* a word is the mean over its pieces (the average of their rows) and attention *to* a word is
    the sum over its pieces (the total weight its pieces receive), so every row still sums to 1. This is the
    merging of Clark et al. (2019), "What Does BERT Look At?", section 2 (https://arxiv.org/abs/1906.04341).

    Args:
        att: Array of shape ``(..., seq_len, seq_len)``.
        groups: Int array of shape ``(seq_len,)``: the word of each token, numbered ``0..num_words - 1``.

    Returns:
        Float array of shape ``(..., num_words, num_words)`` in ``att``'s float dtype.

    Raises:
        ValueError: If ``groups`` does not match ``seq_len`` or skips a number.
    """
    member = _membership(groups, att.shape[-1])
    mean_rows = member / member.sum(axis=1, keepdims=True)
    merged = mean_rows @ att.astype(np.float64) @ member.T
    return merged.astype(att.dtype if np.issubdtype(att.dtype, np.floating) else np.float64)


def merge_scores(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per-word scores as the sum over each word's pieces (keeps the total, e.g. IG completeness).

    Args:
        scores: Array of shape ``(seq_len,)``.
        groups: Int array of shape ``(seq_len,)`` as for :func:`merge_word_pieces`.

    Returns:
        Array of shape ``(num_words,)``.
    """
    return _membership(groups, len(scores)) @ np.asarray(scores, dtype=np.float64)


def cls_attention(att: np.ndarray) -> np.ndarray:
    """Attention of the first token ([CLS] / <s>) to every token, per layer, averaged over heads.

    Args:
        att: Array of shape ``(num_layers, num_heads, seq_len, seq_len)``.

    Returns:
        Array of shape ``(num_layers, seq_len)``; each row sums to 1.
    """
    _check_4d(att)
    return att[:, :, 0, :].mean(axis=1)


def attention_rollout(att: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout across layers (Abnar & Zuidema, 2020, https://arxiv.org/abs/2005.00928, section 3).

    Each layer's attention is averaged over heads and mixed with the identity for the residual connection,
    ``Â_l = (1 - residual) · mean_h(A_l) + residual · I`` (rows re-normalised), then multiplied through the layers:
    ``R_l = Â_l · Â_(l-1) · … · Â_1``. Row ``i`` of ``R_l`` says how much of each input token flows into token
    ``i`` after layer ``l``, if information mixed only through attention.

    Args:
        att: Array of shape ``(num_layers, num_heads, seq_len, seq_len)``.
        residual: Weight of the identity (the paper uses 0.5), 0–1.

    Returns:
        Float64 array of shape ``(num_layers, seq_len, seq_len)``: ``R_1 … R_L``; rows sum to 1. The token strip
        of the whole model is ``rollout[-1, 0]`` (what flows into [CLS]).

    Raises:
        ValueError: If the shape is wrong or ``residual`` is outside 0–1.
    """
    _check_4d(att)
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"Expected residual in 0–1. Received: residual={residual}.")
    n = att.shape[-1]
    eye = np.eye(n)
    out = np.empty((att.shape[0], n, n))
    current = eye
    for layer in range(att.shape[0]):
        mixed = (1.0 - residual) * att[layer].astype(np.float64).mean(axis=0) + residual * eye
        mixed /= mixed.sum(axis=-1, keepdims=True)
        current = mixed @ current
        out[layer] = current
    return out


def segment_block(
    att: np.ndarray, segments: np.ndarray, pair_filter: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The block of attention between the two texts of a sentence pair.

    The block is cut out, not re-normalised: its rows sum to the share of attention that stays within the filter.

    Args:
        att: Array of shape ``(..., seq_len, seq_len)``.
        segments: Int array of shape ``(seq_len,)``: 0 for text A, 1 for text B (see
            :class:`kdemo.explain.tokens.TokenInfo`).
        pair_filter: One of :data:`PAIR_FILTERS`; ``"A→B"`` keeps rows of A and columns of B.

    Returns:
        ``(rows, cols, block)``: the kept row and column indices and ``att[..., rows, :][..., cols]`` of shape
        ``(..., len(rows), len(cols))``.

    Raises:
        ValueError: If the filter is unknown, or it needs text B and the input has none.
    """
    segments = np.asarray(segments)
    if pair_filter not in PAIR_FILTERS:
        raise ValueError(f"Expected a pair filter in {list(PAIR_FILTERS)}. Received: {pair_filter!r}.")
    everything = np.arange(att.shape[-1])
    if pair_filter == "all":
        return everything, everything, att
    src, dst = pair_filter.split("→")
    rows = np.flatnonzero(segments == (0 if src == "A" else 1))
    cols = np.flatnonzero(segments == (0 if dst == "A" else 1))
    if len(rows) == 0 or len(cols) == 0:
        raise ValueError(
            f"Expected a sentence pair for the filter {pair_filter!r}. Received: a single text. Fill in the second "
            "text, or choose the filter 'all'."
        )
    return rows, cols, att[..., rows, :][..., cols]


def head_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How much each head's attention moved between two models on the same input.

    Per head, the mean over query tokens of the total-variation distance between the two attention rows,
    ``½ Σ_j |after[i, j] − before[i, j]|``: 0 when the head attends exactly as before, 1 when every token now
    attends to entirely different tokens.

    Args:
        before: Array of shape ``(num_layers, num_heads, seq_len, seq_len)`` (e.g. the base checkpoint).
        after: Array of the same shape (e.g. the fine-tuned model).

    Returns:
        Float64 array of shape ``(num_layers, num_heads)`` with values 0–1.

    Raises:
        ValueError: If the shapes differ.
    """
    _check_4d(before)
    if before.shape != after.shape:
        raise ValueError(
            f"Expected two attention arrays of the same shape. Received: {before.shape} and {after.shape}. "
            "Compare models of the same architecture on the same tokens."
        )
    diff = np.abs(after.astype(np.float64) - before.astype(np.float64))
    return 0.5 * diff.sum(axis=-1).mean(axis=-1)
