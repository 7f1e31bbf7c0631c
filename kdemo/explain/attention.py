"""Per-layer, per-head attention maps of a sequence classifier, exactly as the model computes them.

Under the SDPA attention kernel, ``output_attentions=True`` returns nothing (transformers #31990, #38750), so the
live model is switched to the "eager" implementation for the forward pass (``set_attn_implementation``) and switched
back afterwards, leaving training speed untouched. The maps are the model's own softmax attention probabilities for
one unpadded input, with the special tokens kept and labelled. Works for any ``AutoModelForSequenceClassification``
encoder that has eager attention (BERT, DistilBERT, RoBERTa, MiniLM, DeBERTa, …).

The figures live in :mod:`kdemo.explain.attention_plots` and the maths (word merging, rollout, pair filters) in
:mod:`kdemo.explain.attention_math`; the figure functions are re-exported here.

Example:
    >>> maps = compute_attention(model, tokenizer, "a gorgeous, witty movie")
    >>> maps.att.shape  # (num_layers, num_heads, seq_len, seq_len)
    >>> fig = plot_model_view(maps.att)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import transformers

from kdemo.errors import ModelError
from kdemo.explain.attention_math import merge_word_pieces
from kdemo.explain.attention_plots import (
    plot_head,
    plot_head_change,
    plot_layer_heads,
    plot_model_view,
    plot_token_strips,
)
from kdemo.explain.tokens import TokenInfo, encode, model_inputs

__all__ = [
    "AttentionMaps",
    "attention_maps",
    "compute_attention",
    "eager_attention",
    "plot_head",
    "plot_head_change",
    "plot_layer_heads",
    "plot_model_view",
    "plot_token_strips",
]


#: Serialises the eager switch: two threads switching the same model could otherwise restore SDPA under each other.
_EAGER_LOCK = threading.RLock()


def require_torch_model(model) -> None:
    """Raise a clear error for models that are not torch modules (e.g. a predictor on the ONNX backend).

    Raises:
        ModelError: If ``model`` is not a ``torch.nn.Module``.
    """
    if not isinstance(model, torch.nn.Module):
        raise ModelError(
            f"Expected a torch model to read attention and gradients from. Received: {type(model).__name__}. "
            "Load the predictor with backend='torch' (the default) to inspect it."
        )


@contextlib.contextmanager
def eager_attention(model: transformers.PreTrainedModel) -> Iterator[transformers.PreTrainedModel]:
    """Temporarily switch ``model`` to eager attention (which can return attention probabilities).

    One switch runs at a time in this process (a lock), so concurrent requests never see SDPA restored mid-pass.

    Args:
        model: Any transformers model.

    Yields:
        The same model, in eval mode with eager attention.

    Raises:
        ModelError: If the architecture has no eager attention implementation.
    """
    with _EAGER_LOCK, _eager(model) as m:
        yield m


@contextlib.contextmanager
def _eager(model: transformers.PreTrainedModel) -> Iterator[transformers.PreTrainedModel]:
    previous = getattr(model.config, "_attn_implementation", None) or "eager"
    was_training = model.training
    try:
        if previous != "eager":
            model.set_attn_implementation("eager")
    except (ValueError, NotImplementedError, AttributeError) as exc:
        raise ModelError(f"This model cannot return attention maps: its architecture has no eager attention ({exc}).") from exc
    model.eval()
    try:
        yield model
    finally:
        if previous != "eager":
            model.set_attn_implementation(previous)
        model.train(was_training)


@dataclass(frozen=True, eq=False)
class AttentionMaps:
    """The attention of every layer and head for one input, with its tokens.

    It unpacks as ``tokens, att = maps`` (the older tuple form).

    Attributes:
        att: Float32 array of shape ``(num_layers, num_heads, seq_len, seq_len)``; ``att[l, h, i, j]`` is how much
            token ``i`` attends to token ``j`` in layer ``l``, head ``h``; each row sums to 1.
        info: The labels of the ``seq_len`` positions (tokens, special tokens, segments A/B, words).
        merged: Whether positions are words (:meth:`merge_words`) rather than the tokenizer's tokens.
    """

    att: np.ndarray
    info: TokenInfo
    merged: bool = False

    def __post_init__(self):
        if self.att.ndim != 4 or self.att.shape[2:] != (self.info.seq_len, self.info.seq_len):
            raise ValueError(
                f"Expected att of shape (num_layers, num_heads, {self.info.seq_len}, {self.info.seq_len}). "
                f"Received: {self.att.shape}."
            )

    def __iter__(self):
        return iter((self.tokens, self.att))

    @property
    def tokens(self) -> list[str]:
        """The ``seq_len`` labels: tokenizer tokens, or words after :meth:`merge_words`."""
        return self.info.tokens

    @property
    def num_layers(self) -> int:
        return int(self.att.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.att.shape[1])

    def merge_words(self) -> AttentionMaps:
        """Word-level maps: pieces of one word merged (rows averaged, columns summed; rows still sum to 1).

        See :func:`kdemo.explain.attention_math.merge_word_pieces`. Special tokens stay separate positions.
        """
        if self.merged:
            return self
        return AttentionMaps(merge_word_pieces(self.att, self.info.groups), self.info.merged(), merged=True)


def compute_attention(
    hf_model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    *,
    maxlen: int = 512,
) -> AttentionMaps:
    """Attention probabilities of every layer and head for one text (or sentence pair).

    Args:
        hf_model: The classifier (its ``output_attentions``; any device).
        tokenizer: Its tokenizer.
        text: The text (truncated, with ``text_pair``, to ``maxlen`` tokens).
        text_pair: Optional second text of a sentence pair.
        maxlen: Maximum tokens, special tokens included.

    Returns:
        The maps and their labels; the tokens are exactly the tokenizer's output (no padding).

    Raises:
        ModelError: If the model has no eager attention or returns no attention maps.
    """
    require_torch_model(hf_model)
    enc, info = encode(tokenizer, text, text_pair, maxlen=maxlen)
    with eager_attention(hf_model), torch.inference_mode():
        out = hf_model(**model_inputs(hf_model, enc), output_attentions=True)
    if not out.attentions:
        raise ModelError("The model returned no attention maps; it may not support output_attentions.")
    att = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
    return AttentionMaps(att, info)


def attention_maps(
    hf_model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    *,
    maxlen: int = 512,
) -> tuple[list[str], np.ndarray]:
    """``(tokens, att)`` of :func:`compute_attention` (the tuple form).

    Returns:
        The tokenizer's tokens and a float32 array of shape ``(num_layers, num_heads, seq_len, seq_len)``.
    """
    maps = compute_attention(hf_model, tokenizer, text, text_pair, maxlen=maxlen)
    return maps.tokens, maps.att
