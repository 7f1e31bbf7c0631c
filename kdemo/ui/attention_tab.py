"""Attention tab: head view, model view, heatmaps, [CLS] strips and rollout, before/after fine-tuning, attributions.

Everything drawn is the model's own numbers: the browser views (``static/attention_views.js``, no CDN) receive the
attention as float32 bytes; the figures are ``imshow`` of the same arrays.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np

from kdemo.data.limits import check_text
from kdemo.errors import DataError, ModelError
from kdemo.explain.attention import (
    AttentionMaps,
    plot_head,
    plot_head_change,
    plot_layer_heads,
    plot_token_strips,
)
from kdemo.explain.attention_html import MAX_VIEW_VALUES, max_view_tokens, message_html, view_html
from kdemo.explain.attention_math import PAIR_FILTERS, attention_rollout, cls_attention, segment_block
from kdemo.explain.compare import base_attention, compare_heads, most_moved
from kdemo.ui.errors import user_errors
from kdemo.ui.predict_tab import load_model
from kdemo.ui.session import STORE
from kdemo.ui.views import view_for

#: Attention, compare and explain requests running at once, all sessions together (one concurrency group).
EXPLAIN_CONCURRENCY = 1

STATIC = Path(__file__).resolve().parent / "static"
VIEW_JS = (STATIC / "attention_views.js").read_text(encoding="utf-8") + "\nkdMount(element, watch);\n"
VIEW_CSS = (STATIC / "attention_views.css").read_text(encoding="utf-8")

NOTE = (
    "Everything here is the model's own numbers for your text: its attention probabilities (row *i* shows where "
    "token *i* looks) and gradients. **Attention weights are not explanations**: they show what the model mixes "
    "inside, not why it chose a label. **Attributions** (below) answer a different question: how much each input "
    "token moved the predicted class's score."
)
COMPARE_NOTE = (
    "Runs the same text through the **base checkpoint** the model was fine-tuned from, with the same tokens, and "
    "shows how much each head's attention moved. The base model's classification head is freshly initialised, "
    "which does not matter here: attention comes from the encoder only."
)
ATTRIBUTION_NOTE = (
    "Attributions of the **predicted class's logit** to each input token. Integrated gradients (Sundararajan et "
    "al., 2017) compare the text with a baseline where every word is [PAD] (special tokens kept); the scores add up "
    "to the logit's change. Gradient × input is a one-pass approximation. Red raised the score, purple lowered it."
)
PAIR_LABEL = "Sentence pair: attending text → attended-to text"
#: The layer/head control moved: the drawn head view follows it (``kdSelect`` in ``static/attention_views.js``).
SELECT_JS = """(layer, head) => {
  document.querySelectorAll("#attention-views [data-kd-ready]").forEach((h) => h.kdSelect && h.kdSelect(layer - 1, head - 1));
  return [];
}"""
EMPTY_VIEWS = "Press “Show attention” to draw the head view and model view."

_CACHE_SIZE = 4
_maps_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _text(text: str | None, what: str = "a text") -> str:
    if not text or not text.strip():
        raise DataError(f"Expected {what}. Received: an empty box. Type a sentence to look inside the model.")
    return check_text(text)


def _pair(text_pair: str | None) -> str | None:
    """The optional second text, checked like the first; None when empty."""
    return check_text(text_pair, what="the second text") if text_pair else None


def _maps(predictor, text: str, text_pair: str | None, merge_words: bool) -> AttentionMaps:
    """The predictor's attention for this input, computed once per input (the tab's events share it)."""
    key = (text, text_pair or None)
    with _lock:
        cache = _maps_cache.setdefault(predictor, OrderedDict())
        maps = cache.get(key)
        if maps is not None:
            cache.move_to_end(key)
    if maps is None:
        maps = view_for(predictor.task).attention(predictor, text, text_pair or None)
        with _lock:
            cache[key] = maps
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
    return maps.merge_words() if merge_words else maps


def _block(maps: AttentionMaps, pair_filter: str):
    """``(row_idx, col_idx, att_block)`` for a sentence-pair filter, with a user-facing error for bad choices."""
    try:
        return segment_block(maps.att, maps.info.segments, pair_filter or "all")
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _token_line(maps: AttentionMaps) -> str:
    kind = "words" if maps.merged else "tokens"
    shown = " ".join("`" + t.replace("`", "'") + "`" for t in maps.tokens)
    return f"{len(maps.tokens)} {kind}, {maps.num_layers} layers × {maps.num_heads} heads: {shown}"


def _views_html(maps: AttentionMaps, rows, cols, block, title: str, **kwargs) -> str:
    if block.size > MAX_VIEW_VALUES:
        limit = max_view_tokens(maps.num_layers, maps.num_heads)
        return message_html(
            f"The interactive views show inputs of up to {limit} tokens for this model "
            f"({maps.num_layers} layers × {maps.num_heads} heads); this one has {maps.att.shape[-1]}. "
            "Shorten the text, or use the heatmaps below, which work at any length."
        )
    tokens, special = np.asarray(maps.tokens, dtype=object), maps.info.special
    return view_html(
        block, tokens[rows].tolist(), tokens[cols].tolist(), row_special=special[rows].tolist(),
        col_special=special[cols].tolist(), title=title, **kwargs,
    )


@user_errors
def show_views(text: str, text_pair: str, merge_words: bool, pair_filter: str, request: gr.Request,
               layer: int | None = None, head: int | None = None):
    """Head view and model view (browser-drawn) and the [CLS]/rollout token strips.

    Args:
        text: The text.
        text_pair: Optional second text of a sentence pair.
        merge_words: Merge word pieces into words.
        pair_filter: ``"all"``, ``"A→A"``, ``"A→B"``, ``"B→A"`` or ``"B→B"``.
        request: The caller's request (its session).
        layer: 1-based layer of the tab's one layer/head control (clipped to the model's); None: the head view
            keeps its own layer and head buttons.
        head: 1-based head of that control (clipped to the model's).

    Returns:
        The views' HTML (``kdemo.explain.attention_html.view_html``; decode with ``read_view_payload``) and the token-strip
        figure.
    """
    predictor = STORE.get(request).require_predictor()
    maps = _maps(predictor, _text(text), _pair(text_pair), merge_words)
    rows, cols, block = _block(maps, pair_filter)
    names = dict(zip("AB", view_for(predictor.task).SEGMENTS))  # "A"/"B", or what the task calls them
    caption = "" if pair_filter in (None, "", "all") else (f"Showing {_segment_label(pair_filter, names)}: rows from "
                                                          f"the {names[pair_filter[0]]}, columns from the {names[pair_filter[-1]]}.")
    selected = None
    if layer is not None and head is not None:
        selected = (min(max(int(layer), 1), maps.num_layers) - 1, min(max(int(head), 1), maps.num_heads) - 1)
    views = _views_html(maps, rows, cols, block, "Attention of the fine-tuned model", caption=caption, selected=selected)
    strips = plot_token_strips(maps.tokens, cls_attention(maps.att), attention_rollout(maps.att)[-1, 0])
    return views, strips


@user_errors
def attention(
    text: str, layer: int, head: int, text_pair: str = "", merge_words: bool = False, pair_filter: str = "all",
    request: gr.Request = None,
):
    """Heatmap of one head and of all heads of a layer, and the token list.

    Args:
        text: The text.
        layer: 1-based layer.
        head: 1-based head.
        text_pair: Optional second text of a sentence pair.
        merge_words: Merge word pieces into words.
        pair_filter: ``"all"``, ``"A→A"``, ``"A→B"``, ``"B→A"`` or ``"B→B"``.

    Returns:
        The head's heatmap, the grid of all heads of the layer, and a markdown line with the tokens.
    """
    predictor = STORE.get(request).require_predictor()
    maps = _maps(predictor, _text(text), _pair(text_pair), merge_words)
    layer, head = int(layer), int(head)
    if not (1 <= layer <= maps.num_layers and 1 <= head <= maps.num_heads):
        raise DataError(
            f"Expected layer 1–{maps.num_layers} and head 1–{maps.num_heads}. Received: layer {layer}, head {head}. "
            "Move the sliders into range."
        )
    rows, cols, block = _block(maps, pair_filter)
    tokens = np.asarray(maps.tokens, dtype=object)
    row_tokens, col_tokens = tokens[rows].tolist(), tokens[cols].tolist()
    return (
        plot_head(row_tokens, block, layer - 1, head - 1, col_tokens=col_tokens),
        plot_layer_heads(row_tokens, block, layer - 1, col_tokens=col_tokens),
        _token_line(maps),
    )


@user_errors
def compare(text: str, text_pair: str, merge_words: bool, request: gr.Request):
    """The same text through the base checkpoint and the fine-tuned model: per-head change.

    Returns:
        The change-per-head figure, the browser view of |Δ| per head, and a markdown summary.
    """
    session = STORE.get(request)
    predictor = session.require_predictor()
    base_name = predictor.meta.get("base_model")
    if not base_name:
        raise ModelError(
            "Expected to know the checkpoint this model was fine-tuned from. Received: a model without 'base_model' "
            "in its kdemo.json. Train the model in this app (the Train tab records it) to compare before and after."
        )
    text_pair = _pair(text_pair)
    tuned = _maps(predictor, _text(text), text_pair, merge_words)
    # base_model comes from the loaded folder's kdemo.json: the session's folder policy applies to it too
    base = base_attention(predictor, str(base_name), text, text_pair or None, policy=session.policy)
    base = base.merge_words() if merge_words else base
    change = compare_heads(base, tuned, str(base_name))
    everything = np.arange(tuned.att.shape[-1])
    views = _views_html(
        tuned, everything, everything, tuned.att, f"Fine-tuned vs base checkpoint {base_name}", views=("model",),
        base=base.att, head_change=change,
    )
    moved = ", ".join(f"layer {layer + 1} head {h + 1} ({c:.2f})" for layer, h, c in most_moved(change))
    summary = (
        f"Base checkpoint **{base_name}**. Mean change over all heads **{change.mean():.3f}** (0 = attends exactly "
        f"as before, 1 = entirely different tokens). Most moved: {moved}."
    )
    return plot_head_change(change), views, summary


@user_errors
def explain(text: str, text_pair: str, merge_words: bool, method: str, steps: int, request: gr.Request):
    """Token attributions of the predicted class.

    Returns:
        ``gr.HighlightedText`` data (token, score scaled to −1…1) and a markdown summary with the raw numbers.
    """
    predictor = STORE.get(request).require_predictor()
    steps = int(steps or 50)
    # what the predictor explains: a classifier's predicted class, a token model's tag of the first entity's token
    result, token_note = predictor.target_attributions(_text(text), _pair(text_pair), method=method or "ig",
                                                       steps=steps)
    result = result.merge_words() if merge_words else result
    scale = float(np.abs(result.scores).max()) or 1.0
    spans: list[tuple[str, float | None]] = []
    for token, score in zip(result.tokens, result.scores):
        spans += [(token, round(float(score) / scale, 4)), (" ", None)]
    order = np.argsort(-np.abs(result.scores))[:5]
    top = ", ".join(f"`{result.tokens[i]}` {result.scores[i]:+.3g}" for i in order)
    if result.method == "ig":
        change = result.f_input - result.f_baseline
        how = (
            f"Integrated gradients over {result.steps} steps"
            + (f" (refined from {steps} until the scores added up)" if result.steps > steps else "")
            + f": the scores sum to **{result.scores.sum():+.4f}**; the logit went from **{result.f_baseline:.4f}** "
            f"(all-[PAD] baseline) to **{result.f_input:.4f}** (your text), a change of {change:+.4f} "
            f"(completeness gap {100 * result.relative_gap:.2f} %)."
        )
        if result.relative_gap > 0.05:
            how += " ⚠️ The scores still miss the change by more than 5 %: raise the integration steps."
        if abs(change) < 0.05:
            how += (
                " The baseline already gets almost the same logit as your text, so there is little to attribute; "
                "try gradient × input."
            )
    else:
        how = f"Gradient × input at the text (logit {result.f_input:.4f}); these scores need not add up to anything."
    summary = (
        f"Explaining **{result.label}**{token_note}. {how} "
        f"Colours are scaled to the largest |score| ({scale:.3g} logit units). "
        f"Largest: {top}."
    )
    return spans[:-1], summary


def takes_pairs(predictor) -> bool:
    """Whether the Attention tab offers a second text for this model.

    Args:
        predictor: The session's predictor, or None.

    Returns:
        False for a task that reads one text (token classification) or a model kdemo trained on single texts
        (its ``kdemo.json`` records ``text_pairs``); True for a task that always reads two (question answering:
        its view's ``TAKES_PAIRS`` is ``"always"``), for a pair model and for a checkpoint that records
        nothing (kdemo cannot tell, so the box stays, labelled as only for pair models).
    """
    pairs = view_for(predictor.task).TAKES_PAIRS if predictor is not None else False
    return bool(pairs) and (pairs == "always" or bool(predictor.meta.get("text_pairs", True)))


def _segment_label(pair_filter: str, names: dict) -> str:
    """A pair filter (``"A→B"``) in the task's words (``"question→context"``)."""
    return "→".join(names.get(part, part) for part in pair_filter.split("→"))


def pair_controls(request: gr.Request):
    """Show the second-text box and the pair filter only for a model that reads two texts, named as its task names
    them (a question and its context; a sentence pair's text A and B).

    Returns:
        Updates of the text box, the second-text box and the pair-filter radio (hidden ones are reset: nothing stale
        is sent).
    """
    predictor = STORE.get(request).predictor
    view = view_for(predictor.task if predictor is not None else None)
    names = dict(zip("AB", view.SEGMENTS))
    text = gr.update(label=view.INPUT_LABELS[0])
    label = PAIR_LABEL if names["A"] == "A" else f"{_segment_label('A→B', names)} (attending → attended-to)"
    if takes_pairs(predictor):
        choices = [(_segment_label(f, names), f) for f in PAIR_FILTERS]
        pair = gr.update(visible=True, label=view.INPUT_LABELS[1])
        return text, pair, gr.update(visible=True, choices=choices, label=label)
    return text, gr.update(visible=False, value=""), gr.update(visible=False, value="all")


def reselect(text: str, layer: int, head: int, text_pair: str, merge_words: bool, pair_filter: str,
             request: gr.Request):
    """The heatmaps for the layer/head control's new value; nothing before a model and a text are there.

    Returns:
        As :func:`attention`, or three ``gr.skip()`` when there is nothing to redraw yet.
    """
    if STORE.get(request).predictor is None or not (text or "").strip():
        return gr.skip(), gr.skip(), gr.skip()
    return attention(text, layer, head, text_pair, merge_words, pair_filter, request)


def _views_component(elem_id: str) -> gr.HTML:
    return gr.HTML(
        value=message_html(EMPTY_VIEWS), html_template="${value}", css_template=VIEW_CSS, js_on_load=VIEW_JS,
        apply_default_css=False, elem_id=elem_id,
    )


def build(tab: gr.Tab | None = None) -> dict:
    """Lay out the Attention tab and wire its events.

    Args:
        tab: The tab itself: opening it fits the sentence-pair inputs to the session's model.

    Returns:
        The ``layer`` and ``head`` sliders (their ranges are set after training).
    """
    gr.Markdown(NOTE)
    with gr.Row():
        model_source = gr.Textbox(
            label="Model (optional): a Hub id or local folder of a fine-tuned classifier; empty uses the one you trained",
            placeholder="org/name or /path/to/folder", scale=4, elem_id="attention-model",
        )
        load_btn = gr.Button("Load model", scale=1)
    load_status = gr.Markdown()
    with gr.Row():
        text = gr.Textbox(label="Text", value="a gorgeous, witty movie", scale=3, elem_id="attention-text")
        text_pair = gr.Textbox(value="", label="Second text (sentence pair; only for a model trained on pairs)", scale=2,
                               visible=False, elem_id="attention-text-pair")
    with gr.Row():
        merge = gr.Checkbox(label="Merge word pieces into words", value=False, elem_id="attention-merge")
        pair_filter = gr.Radio(list(PAIR_FILTERS), value="all", label=PAIR_LABEL, visible=False,
                               elem_id="attention-pair-filter")
        # one layer/head control for the head view and the heatmaps
        layer = gr.Slider(1, 12, value=1, step=1, label="Layer (head view and heatmaps)", elem_id="attention-layer")
        head = gr.Slider(1, 12, value=1, step=1, label="Head (head view and heatmaps)", elem_id="attention-head-number")
    btn = gr.Button("Show attention", variant="primary", elem_id="attention-btn")
    tokens = gr.Markdown(elem_id="attention-tokens")
    views = _views_component("attention-views")
    with gr.Row():  # the figures carry their titles: Gradio's label badge would cover them
        head_plot = gr.Plot(label="Selected head", show_label=False, elem_id="attention-head")
        grid_plot = gr.Plot(label="All heads of the layer, and their mean", show_label=False,
                            elem_id="attention-grid")
    with gr.Tabs():
        with gr.Tab("Attributions"):
            gr.Markdown(ATTRIBUTION_NOTE)
            with gr.Row():
                method = gr.Radio(
                    [("Integrated gradients", "ig"), ("Gradient × input", "grad_x_input")], value="ig", label="Method"
                )
                steps = gr.Slider(5, 300, value=50, step=1, label="Integration steps")
            explain_btn = gr.Button("Explain the prediction", elem_id="attention-explain-btn")
            highlighted = gr.HighlightedText(label="Attribution per token", show_legend=True, elem_id="attention-attributions")
            explain_md = gr.Markdown(elem_id="attention-explain-summary")
        with gr.Tab("[CLS] and rollout"):
            strips = gr.Plot(label="Token strips", show_label=False, elem_id="attention-strips")
        with gr.Tab("Before / after fine-tuning"):
            gr.Markdown(COMPARE_NOTE)
            compare_btn = gr.Button("Compare with the base checkpoint", elem_id="attention-compare-btn")
            compare_md = gr.Markdown(elem_id="attention-compare-summary")
            change_plot = gr.Plot(label="Change per head", show_label=False, elem_id="attention-change")
            change_views = _views_component("attention-change-views")

    # one attention or explain computation at a time for all sessions together: they are heavy, and bounded so
    # that they cannot starve the Predict tab's micro-batcher of the cores
    bounded = {"concurrency_limit": EXPLAIN_CONCURRENCY, "concurrency_id": "attention-explain"}
    shown = btn.click(show_views, [text, text_pair, merge, pair_filter, layer, head], [views, strips],
                      api_name="attention_views", **bounded)
    shown.success(
        attention, [text, layer, head, text_pair, merge, pair_filter], [head_plot, grid_plot, tokens], api_name="attention",
        **bounded,
    )
    compare_btn.click(compare, [text, text_pair, merge], [change_plot, change_views, compare_md], api_name="attention_compare",
                      **bounded)
    explain_btn.click(explain, [text, text_pair, merge, method, steps], [highlighted, explain_md], api_name="explain",
                      **bounded)
    # the same handler as the Predict tab's /load_model endpoint, so either tab can load a checkpoint
    loaded = load_btn.click(
        load_model, [model_source], [load_status, layer, head], api_name="attention_load_model", api_visibility="private"
    )
    private = {"api_visibility": "private"}
    cleared = (message_html(EMPTY_VIEWS), None, None, None, "")  # another model: the drawn views were the last one's
    loaded.then(pair_controls, None, [text, text_pair, pair_filter], **private).then(
        lambda: cleared, None, [views, strips, head_plot, grid_plot, tokens], **private)
    if tab is not None:
        tab.select(pair_controls, None, [text, text_pair, pair_filter], **private)
    # moving the control redraws the head view in the browser at once, and the heatmaps on release
    for slider in (layer, head):
        slider.change(None, [layer, head], None, js=SELECT_JS, **private)
        slider.release(reselect, [text, layer, head, text_pair, merge, pair_filter], [head_plot, grid_plot, tokens],
                       **bounded, **private)
    return {"layer": layer, "head": head}
