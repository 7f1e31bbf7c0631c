"""Per-layer, per-head attention maps of a sequence classifier, and figures of them.

Under the SDPA attention kernel, ``output_attentions=True`` returns nothing, so the live model is switched to
the "eager" implementation for the forward pass (``set_attn_implementation``) and switched back afterwards,
leaving training speed untouched. The maps are the model's own softmax attention probabilities.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import transformers
from matplotlib.figure import Figure

from kdemo.errors import ModelError


@contextlib.contextmanager
def eager_attention(model: transformers.PreTrainedModel) -> Iterator[transformers.PreTrainedModel]:
    """Temporarily switch ``model`` to eager attention (which can return attention probabilities).

    Args:
        model: Any transformers model.

    Yields:
        The same model, in eval mode with eager attention.

    Raises:
        ModelError: If the architecture has no eager attention implementation.
    """
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


def attention_maps(
    hf_model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    *,
    maxlen: int = 512,
) -> tuple[list[str], np.ndarray]:
    """Attention probabilities of every layer and head for one text.

    Args:
        hf_model: The classifier.
        tokenizer: Its tokenizer.
        text: The text (truncated to ``maxlen`` tokens).
        text_pair: Optional second segment for sentence-pair models.
        maxlen: Maximum tokens, special tokens included.

    Returns:
        ``(tokens, att)``: the tokenizer's tokens (special tokens included, no padding) and a float32 array of
        shape ``(num_layers, num_heads, seq_len, seq_len)`` where ``att[l, h, i, j]`` is how much token ``i``
        attends to token ``j`` in layer ``l``, head ``h``; each row sums to 1.

    Raises:
        ModelError: If the model returns no attention maps.
    """
    enc = tokenizer(text, text_pair, truncation=True, max_length=maxlen, return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    device = next(hf_model.parameters()).device
    with eager_attention(hf_model), torch.inference_mode():
        out = hf_model(**{k: v.to(device) for k, v in enc.items()}, output_attentions=True)
    if not out.attentions:
        raise ModelError("The model returned no attention maps; it may not support output_attentions.")
    att = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
    return tokens, att


def _check(att: np.ndarray, layer: int, head: int | None = None) -> None:
    if att.ndim != 4:
        raise ValueError(f"Expected att of shape (num_layers, num_heads, seq_len, seq_len). Received: shape {att.shape}.")
    if not 0 <= layer < att.shape[0]:
        raise ValueError(f"Expected layer in 0..{att.shape[0] - 1}. Received: layer={layer}.")
    if head is not None and not 0 <= head < att.shape[1]:
        raise ValueError(f"Expected head in 0..{att.shape[1] - 1}. Received: head={head}.")


def plot_head(tokens: Sequence[str], att: np.ndarray, layer: int, head: int) -> Figure:
    """Heatmap of one attention head with token labels (rows attend to columns).

    Args:
        tokens: Tokens, ``seq_len`` of them.
        att: Array of shape ``(num_layers, num_heads, seq_len, seq_len)``.
        layer: 0-based layer.
        head: 0-based head.

    Returns:
        The figure; its image data is exactly ``att[layer, head]``.

    Raises:
        ValueError: If the shape or indices are wrong.
    """
    _check(att, layer, head)
    n = len(tokens)
    size = min(max(4.0, 0.32 * n + 2), 14)
    fig = Figure(figsize=(size, size * 0.9), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(att[layer, head], cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(n), tokens, fontsize=8)
    ax.set_xlabel("attended-to token (key)")
    ax.set_ylabel("attending token (query)")
    ax.set_title(f"Layer {layer + 1}, head {head + 1}")
    fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
    return fig


def plot_layer_heads(tokens: Sequence[str], att: np.ndarray, layer: int) -> Figure:
    """Grid of all heads of one layer, plus the mean over heads, each as a small heatmap.

    Args:
        tokens: Tokens, ``seq_len`` of them.
        att: Array of shape ``(num_layers, num_heads, seq_len, seq_len)``.
        layer: 0-based layer.

    Returns:
        The figure (``num_heads + 1`` panels).

    Raises:
        ValueError: If the shape or layer is wrong.
    """
    _check(att, layer)
    num_heads = att.shape[1]
    panels = num_heads + 1
    cols = min(4, panels)
    rows = math.ceil(panels / cols)
    n = len(tokens)
    show_labels = n <= 24
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= panels:
            ax.axis("off")
            continue
        data = att[layer, k] if k < num_heads else att[layer].mean(axis=0)
        ax.imshow(data, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"head {k + 1}" if k < num_heads else "mean of heads", fontsize=9)
        if show_labels:
            ax.set_xticks(range(n), tokens, rotation=90, fontsize=6)
            ax.set_yticks(range(n), tokens, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Layer {layer + 1}: all {num_heads} heads")
    return fig
