"""The data of the browser attention views (head view, model view, before/after), as one self-describing HTML tag.

The views are drawn client-side by ``kdemo/ui/static/attention_views.js`` (no CDN, no third-party code). The server
sends the model's attention as raw little-endian float32 bytes in base64, so the browser draws exactly the numbers
the model produced (no rounding in JSON). :func:`read_view_payload` decodes a tag back, for tests and notebooks.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence

import numpy as np

#: Attribute of the element that carries the JSON payload.
PAYLOAD_ATTR = "data-kdemo-attention"
#: Most attention values (float32) one view may carry, about 10 MB; longer inputs get a message instead.
MAX_VIEW_VALUES = 2_500_000
PAYLOAD_VERSION = 1

_TAG = re.compile(rf'{PAYLOAD_ATTR}="([^"]*)"')


def encode_array(values: np.ndarray) -> str:
    """Base64 of the array's values as little-endian float32, C order."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def decode_array(data: str, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`encode_array`.

    Raises:
        ValueError: If the byte count does not match ``shape``.
    """
    raw = np.frombuffer(base64.b64decode(data), dtype="<f4")
    if raw.size != int(np.prod(shape)):
        raise ValueError(f"Expected {int(np.prod(shape))} float32 values for shape {tuple(shape)}. Received: {raw.size}.")
    return raw.reshape(tuple(shape)).astype(np.float32)


def max_view_tokens(num_layers: int, num_heads: int) -> int:
    """Longest input (tokens) whose ``(num_layers, num_heads, n, n)`` maps fit :data:`MAX_VIEW_VALUES`."""
    return int((MAX_VIEW_VALUES / max(1, num_layers * num_heads)) ** 0.5)


def view_html(
    att: np.ndarray,
    row_tokens: Sequence[str],
    col_tokens: Sequence[str],
    *,
    row_special: Sequence[bool],
    col_special: Sequence[bool],
    title: str,
    views: Sequence[str] = ("head", "model"),
    base: np.ndarray | None = None,
    head_change: np.ndarray | None = None,
    caption: str = "",
    selected: tuple[int, int] | None = None,
) -> str:
    """The HTML tag the browser views are drawn from.

    Args:
        att: Float array of shape ``(num_layers, num_heads, num_rows, num_cols)``: rows (queries) attend to
            columns (keys). A sentence-pair block has different rows and columns.
        row_tokens: ``num_rows`` labels.
        col_tokens: ``num_cols`` labels.
        row_special: ``num_rows`` flags, True for special tokens (drawn in italics).
        col_special: ``num_cols`` flags.
        title: Shown above the views.
        views: Which views to draw: ``"head"`` (bertviz-style lines) and/or ``"model"`` (grid of all heads).
        base: Optional array of ``att``'s shape from another model (the base checkpoint). The model view then shows
            ``|att − base|`` per head, and an opened head shows base, fine-tuned and |Δ| side by side.
        head_change: Optional array of shape ``(num_layers, num_heads)`` printed under each thumbnail.
        caption: One line of plain text under the title.
        selected: Optional 0-based ``(layer, head)`` the head view draws, chosen by the page's one layer/head
            control (then the head view has no layer or head buttons of its own); None: its own buttons, all heads.

    Returns:
        ``<div class="kdemo-attention" data-kdemo-attention="{json}">`` with the payload HTML-escaped; the JSON holds
        ``att`` (and ``base``) as float32 base64 (:func:`encode_array`).

    Raises:
        ValueError: If shapes or label counts disagree, or a view name is unknown.
    """
    if att.ndim != 4:
        raise ValueError(f"Expected att of shape (num_layers, num_heads, num_rows, num_cols). Received: {att.shape}.")
    num_layers, num_heads, num_rows, num_cols = att.shape
    if (len(row_tokens), len(row_special), len(col_tokens), len(col_special)) != (num_rows, num_rows, num_cols, num_cols):
        raise ValueError(
            f"Expected {num_rows} row and {num_cols} column labels and flags. Received: {len(row_tokens)}, "
            f"{len(row_special)}, {len(col_tokens)}, {len(col_special)}."
        )
    unknown = set(views) - {"head", "model"}
    if unknown or not views:
        raise ValueError(f"Expected views from ['head', 'model']. Received: {list(views)}.")
    if base is not None and base.shape != att.shape:
        raise ValueError(f"Expected base of shape {att.shape}. Received: {base.shape}.")
    if selected is not None and not (0 <= selected[0] < num_layers and 0 <= selected[1] < num_heads):
        raise ValueError(f"Expected selected (layer, head) within {(num_layers, num_heads)}. Received: {tuple(selected)}.")
    if head_change is not None and head_change.shape != (num_layers, num_heads):
        raise ValueError(f"Expected head_change of shape {(num_layers, num_heads)}. Received: {head_change.shape}.")
    payload = {
        "version": PAYLOAD_VERSION,
        "title": str(title),
        "caption": str(caption),
        "views": list(views),
        "shape": [num_layers, num_heads, num_rows, num_cols],
        "rows": [str(t) for t in row_tokens],
        "cols": [str(t) for t in col_tokens],
        "rowSpecial": [bool(s) for s in row_special],
        "colSpecial": [bool(s) for s in col_special],
        "att": encode_array(att),
        "base": encode_array(base) if base is not None else None,
        "headChange": np.round(head_change, 4).tolist() if head_change is not None else None,
        "selected": [int(selected[0]), int(selected[1])] if selected is not None else None,
    }
    data = html.escape(json.dumps(payload, separators=(",", ":")), quote=True)
    return f'<div class="kdemo-attention" {PAYLOAD_ATTR}="{data}"><p class="kd-loading">Drawing the attention views…</p></div>'


def message_html(text: str) -> str:
    """A plain message in place of the views (e.g. before the first run, or for a too-long input)."""
    return f'<div class="kdemo-attention-message"><p>{html.escape(text)}</p></div>'


def read_view_payload(markup: str) -> dict:
    """Decode the payload of a :func:`view_html` tag.

    Args:
        markup: HTML containing one view tag.

    Returns:
        The JSON payload with ``att`` (and ``base``) decoded to float32 arrays of shape ``payload["shape"]``.

    Raises:
        ValueError: If the markup holds no view tag.
    """
    match = _TAG.search(markup or "")
    if match is None:
        raise ValueError(f"Expected HTML with a {PAYLOAD_ATTR} attribute. Received: {str(markup)[:120]!r}.")
    payload = json.loads(html.unescape(match.group(1)))
    payload["att"] = decode_array(payload["att"], payload["shape"])
    if payload.get("base") is not None:
        payload["base"] = decode_array(payload["base"], payload["shape"])
    return payload
