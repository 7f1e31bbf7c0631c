"""Matplotlib figures of attention maps: one head, one layer's heads, all heads (model view), token strips, change.

Every figure draws the given numbers as they are (``imshow`` of the arrays, fixed colour scales), so a test can read
the image data back and compare it with the model's tensors. The figures work in notebooks and in ``gr.Plot``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from kdemo.fonts import with_cjk_fonts

#: Colour map of every attention figure (and of the browser views).
CMAP = "viridis"


def _check(att: np.ndarray, layer: int, head: int | None = None) -> None:
    if att.ndim != 4:
        raise ValueError(f"Expected att of shape (num_layers, num_heads, seq_len, seq_len). Received: shape {att.shape}.")
    if not 0 <= layer < att.shape[0]:
        raise ValueError(f"Expected layer in 0..{att.shape[0] - 1}. Received: layer={layer}.")
    if head is not None and not 0 <= head < att.shape[1]:
        raise ValueError(f"Expected head in 0..{att.shape[1] - 1}. Received: head={head}.")


def _labels(tokens: Sequence[str], n: int, what: str) -> list[str]:
    if len(tokens) != n:
        raise ValueError(f"Expected {n} {what} labels (one per row/column of att). Received: {len(tokens)}.")
    return [str(t) for t in tokens]


def plot_head(
    tokens: Sequence[str], att: np.ndarray, layer: int, head: int, *, col_tokens: Sequence[str] | None = None
) -> Figure:
    """Heatmap of one attention head with token labels (rows attend to columns).

    Args:
        tokens: Row (query) tokens, ``num_rows`` of them; also the column tokens unless ``col_tokens`` is given.
        att: Array of shape ``(num_layers, num_heads, num_rows, num_cols)``.
        layer: 0-based layer.
        head: 0-based head.
        col_tokens: Column (key) tokens when they differ from the rows (a sentence-pair block).

    Returns:
        The figure; its image data is exactly ``att[layer, head]`` on a fixed 0–1 colour scale.

    Raises:
        ValueError: If the shape, labels or indices are wrong.
    """
    _check(att, layer, head)
    rows = _labels(tokens, att.shape[2], "row")
    cols = _labels(tokens if col_tokens is None else col_tokens, att.shape[3], "column")
    size = min(max(4.0, 0.32 * max(len(rows), len(cols)) + 2), 14)
    fig = Figure(figsize=(size, size * 0.9), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(att[layer, head], cmap=CMAP, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("attended-to token (key)")
    ax.set_ylabel("attending token (query)")
    ax.set_title(f"Layer {layer + 1}, head {head + 1}")
    fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
    return with_cjk_fonts(fig)


def plot_layer_heads(
    tokens: Sequence[str], att: np.ndarray, layer: int, *, col_tokens: Sequence[str] | None = None
) -> Figure:
    """Grid of all heads of one layer, plus the mean over heads, each as a small heatmap.

    Args:
        tokens: Row tokens (and column tokens unless ``col_tokens`` is given).
        att: Array of shape ``(num_layers, num_heads, num_rows, num_cols)``.
        layer: 0-based layer.
        col_tokens: Column tokens of a sentence-pair block.

    Returns:
        The figure (``num_heads + 1`` panels); the last panel is ``att[layer].mean(axis=0)``.

    Raises:
        ValueError: If the shape or layer is wrong.
    """
    _check(att, layer)
    rows = _labels(tokens, att.shape[2], "row")
    cols = _labels(tokens if col_tokens is None else col_tokens, att.shape[3], "column")
    num_heads = att.shape[1]
    panels = num_heads + 1
    ncols = min(4, panels)
    nrows = math.ceil(panels / ncols)
    show_labels = max(len(rows), len(cols)) <= 24
    fig = Figure(figsize=(3.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= panels:
            ax.axis("off")
            continue
        data = att[layer, k] if k < num_heads else att[layer].mean(axis=0)
        ax.imshow(data, cmap=CMAP, vmin=0.0, vmax=1.0)
        ax.set_title(f"head {k + 1}" if k < num_heads else "mean of heads", fontsize=9)
        if show_labels:
            ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=6)
            ax.set_yticks(range(len(rows)), rows, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Layer {layer + 1}: all {num_heads} heads, and their mean")
    return with_cjk_fonts(fig)


def model_view_mosaic(att: np.ndarray, gap: int = 1) -> np.ndarray:
    """All heads tiled into one image: layer ``l`` is tile row ``l``, head ``h`` tile column ``h``.

    Args:
        att: Array of shape ``(num_layers, num_heads, num_rows, num_cols)``.
        gap: Pixels of NaN (drawn blank) between tiles.

    Returns:
        Float array of shape ``(L·(num_rows+gap)−gap, H·(num_cols+gap)−gap)``; the tile at
        ``[l·(num_rows+gap) : … + num_rows, h·(num_cols+gap) : … + num_cols]`` is exactly ``att[l, h]``.
    """
    if att.ndim != 4:
        raise ValueError(f"Expected att of shape (num_layers, num_heads, num_rows, num_cols). Received: {att.shape}.")
    num_layers, num_heads, r, c = att.shape
    mosaic = np.full((num_layers * (r + gap) - gap, num_heads * (c + gap) - gap), np.nan, dtype=np.float64)
    for layer in range(num_layers):
        for head in range(num_heads):
            mosaic[layer * (r + gap): layer * (r + gap) + r, head * (c + gap): head * (c + gap) + c] = att[layer, head]
    return mosaic


def plot_model_view(att: np.ndarray, *, title: str = "All heads", vmax: float = 1.0) -> Figure:
    """The model view: every layer × head as a small heatmap in one figure.

    Drawn as one image (:func:`model_view_mosaic`), which is fast even for 12 × 12 heads.

    Args:
        att: Array of shape ``(num_layers, num_heads, num_rows, num_cols)``.
        title: Figure title.
        vmax: Top of the colour scale (1.0 for attention; e.g. the largest |Δ| for a change map).

    Returns:
        The figure; ``fig.axes[0].images[0]`` holds the mosaic.
    """
    mosaic = model_view_mosaic(att)
    num_layers, num_heads = att.shape[:2]
    width = min(16.0, 1.5 + 1.1 * num_heads)
    height = min(16.0, 1.0 + (width - 1.5) * mosaic.shape[0] / mosaic.shape[1])
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(mosaic, cmap=CMAP, vmin=0.0, vmax=vmax, interpolation="nearest")
    r, c = att.shape[2] + 1, att.shape[3] + 1
    ax.set_xticks([h * c + (c - 2) / 2 for h in range(num_heads)], [f"H{h + 1}" for h in range(num_heads)], fontsize=8)
    ax.set_yticks([layer * r + (r - 2) / 2 for layer in range(num_layers)],
                  [f"L{layer + 1}" for layer in range(num_layers)], fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.6)
    return with_cjk_fonts(fig)


def plot_token_strips(tokens: Sequence[str], cls_rows: np.ndarray, rollout_row: np.ndarray) -> Figure:
    """Token strips: [CLS] attention per layer (mean over heads) and the attention rollout into [CLS].

    Args:
        tokens: ``seq_len`` labels.
        cls_rows: Array of shape ``(num_layers, seq_len)`` (:func:`kdemo.explain.attention_math.cls_attention`).
        rollout_row: Array of shape ``(seq_len,)``, e.g. ``attention_rollout(att)[-1, 0]``.

    Returns:
        A two-panel figure: ``axes[0]`` shows ``cls_rows`` on a 0–1 scale; ``axes[1]`` shows the rollout row on a
        0–max scale (rollout spreads weight thinly).
    """
    labels = _labels(tokens, cls_rows.shape[1], "token")
    num_layers, n = cls_rows.shape
    width = min(max(6.0, 0.35 * n + 2), 18)
    fig = Figure(figsize=(width, 1.2 + 0.32 * (num_layers + 1) + 1.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[num_layers, 1.6], sharex=True)
    im = top.imshow(cls_rows, cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto")
    top.set_yticks(range(num_layers), [f"layer {layer + 1}" for layer in range(num_layers)], fontsize=8)
    top.set_title("Attention of the first token ([CLS]) per layer, mean over heads")
    fig.colorbar(im, ax=top, shrink=0.9)
    im2 = bottom.imshow(rollout_row[None, :], cmap=CMAP, vmin=0.0, vmax=float(max(rollout_row.max(), 1e-12)), aspect="auto")
    bottom.set_yticks([0], ["rollout"], fontsize=8)
    bottom.set_title("Attention rollout into [CLS] across all layers (Abnar & Zuidema, 2020)")
    bottom.set_xticks(range(n), labels, rotation=90, fontsize=8)
    fig.colorbar(im2, ax=bottom, shrink=0.9)
    return with_cjk_fonts(fig)


def plot_head_change(change: np.ndarray) -> Figure:
    """Grid of per-head change (layers × heads), annotated with the values.

    Args:
        change: Array of shape ``(num_layers, num_heads)`` with values 0–1
            (:func:`kdemo.explain.attention_math.head_change`).

    Returns:
        The figure; its image data is exactly ``change`` on a 0–max scale.
    """
    if change.ndim != 2:
        raise ValueError(f"Expected change of shape (num_layers, num_heads). Received: {change.shape}.")
    num_layers, num_heads = change.shape
    fig = Figure(figsize=(min(16.0, 1.5 + 0.75 * num_heads), 1.2 + 0.5 * num_layers), layout="constrained")
    ax = fig.subplots()
    top = float(max(change.max(), 1e-12))
    im = ax.imshow(change, cmap="magma", vmin=0.0, vmax=top)
    ax.set_xticks(range(num_heads), [f"H{h + 1}" for h in range(num_heads)], fontsize=8)
    ax.set_yticks(range(num_layers), [f"L{layer + 1}" for layer in range(num_layers)], fontsize=8)
    if num_heads * num_layers <= 300:
        for (layer, h), v in np.ndenumerate(change):
            ax.text(h, layer, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v < 0.6 * top else "black")
    ax.set_title("Change of each head after fine-tuning (mean total-variation distance of attention rows, 0–1)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return with_cjk_fonts(fig)
