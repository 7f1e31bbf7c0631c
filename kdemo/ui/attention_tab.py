"""Attention tab: one head's attention map with token labels, and all heads of a layer."""

from __future__ import annotations

import gradio as gr

from kdemo.attention import plot_head, plot_layer_heads
from kdemo.errors import DataError
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE

NOTE = (
    "The maps are the model's own attention probabilities (row *i* shows where token *i* looks). "
    "Attention weights show what the model mixes, not why it decides: they are not an explanation of the prediction."
)


@user_errors
def attention(text: str, layer: int, head: int, request: gr.Request):
    """Attention maps of the trained model for ``text``.

    Args:
        text: The text.
        layer: 1-based layer.
        head: 1-based head.

    Returns:
        The head's heatmap, the grid of all heads of the layer, and a markdown line with the tokens.
    """
    predictor = STORE.get(request).require_predictor()
    if not text or not text.strip():
        raise DataError("Expected a text. Received: an empty box. Type a sentence to see its attention maps.")
    tokens, att = predictor.attention(text)
    num_layers, num_heads = att.shape[:2]
    layer, head = int(layer), int(head)
    if not (1 <= layer <= num_layers and 1 <= head <= num_heads):
        raise DataError(f"Expected layer 1–{num_layers} and head 1–{num_heads}. Received: layer {layer}, head {head}.")
    info = f"{len(tokens)} tokens: " + " ".join(f"`{t}`" for t in tokens)
    return plot_head(tokens, att, layer - 1, head - 1), plot_layer_heads(tokens, att, layer - 1), info


def build() -> dict:
    """Lay out the Attention tab and wire its events.

    Returns:
        The ``layer`` and ``head`` sliders (their ranges are set after training).
    """
    gr.Markdown(NOTE)
    with gr.Row():
        text = gr.Textbox(label="Text", value="a gorgeous, witty movie", scale=3)
        layer = gr.Slider(1, 12, value=6, step=1, label="Layer")
        head = gr.Slider(1, 12, value=1, step=1, label="Head")
    btn = gr.Button("Show attention", variant="primary", elem_id="attention-btn")
    tokens = gr.Markdown(elem_id="attention-tokens")
    with gr.Row():
        head_plot = gr.Plot(label="Selected head", elem_id="attention-head")
        grid_plot = gr.Plot(label="All heads of the layer", elem_id="attention-grid")
    btn.click(attention, [text, layer, head], [head_plot, grid_plot, tokens], api_name="attention")
    return {"layer": layer, "head": head}
