"""The Attention tab's handlers, called directly with a session: what they draw is the model's own numbers.

(The same handlers through a real server are in test_app.py; in a real browser in test_browser_attention.py.)
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from tiny_models import build_tiny_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kdemo.explain.attention_html import read_view_payload
from kdemo.explain.attention_math import attention_rollout, cls_attention, head_change, merge_word_pieces
from kdemo.inference.predictor import Predictor
from kdemo.ui import attention_tab
from kdemo.ui.session import STORE

TEXT = "the movie was superbly witty"
PAIR = "a dull plot"
TOL = 1e-6


def _image(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def _reference(folder, text, pair=None):
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    enc = AutoTokenizer.from_pretrained(folder)(text, pair, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    return enc, torch.stack([a[0] for a in out.attentions]).numpy()


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """Another tiny BERT of the same architecture (another seed): the 'base checkpoint' of the comparison."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert-base"), "bert", seed=1)


@pytest.fixture
def session(tiny_bert_dir, base_dir):
    request = SimpleNamespace(session_hash="test-attention-tab")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_bert_dir), ["negative", "positive"], 64,
                          meta={"base_model": str(base_dir)})
    STORE.get(request).predictor = predictor
    yield request, predictor
    STORE.drop(request)


def test_views_payload_and_strips_are_the_models_numbers(session, tiny_bert_dir):
    request, _ = session
    enc, reference = _reference(tiny_bert_dir, TEXT)
    html, strips = attention_tab.show_views(TEXT, "", False, "all", request)
    payload = read_view_payload(html)
    assert payload["rows"] == AutoTokenizer.from_pretrained(tiny_bert_dir).convert_ids_to_tokens(enc["input_ids"][0])
    assert payload["views"] == ["head", "model"]
    assert np.abs(payload["att"] - reference).max() <= TOL
    top, bottom = [ax for ax in strips.axes if ax.images]
    assert np.abs(_image(top) - cls_attention(reference)).max() <= TOL
    assert np.abs(_image(bottom)[0] - attention_rollout(reference)[-1, 0]).max() <= TOL


def test_pair_filter_and_word_merging_reach_every_view(session, tiny_bert_dir):
    request, predictor = session
    _, reference = _reference(tiny_bert_dir, TEXT, PAIR)
    maps = predictor.attention(TEXT, PAIR)
    words = merge_word_pieces(reference, maps.info.groups)
    merged = maps.merge_words()
    rows = np.flatnonzero(merged.info.segments == 0)
    cols = np.flatnonzero(merged.info.segments == 1)
    html, _ = attention_tab.show_views(TEXT, PAIR, True, "A→B", request)
    payload = read_view_payload(html)
    assert payload["rows"] == ["[CLS]", "the", "movie", "was", "superbly", "witty", "[SEP]"]
    assert payload["cols"] == ["a", "dull", "plot", "[SEP]"]
    assert np.abs(payload["att"] - words[:, :, rows][:, :, :, cols]).max() <= TOL
    assert "A→B" in payload["caption"]
    head_fig, grid_fig, tokens_md = attention_tab.attention(TEXT, 2, 1, PAIR, True, "A→B", request)
    assert np.abs(_image(head_fig.axes[0]) - words[1, 0][np.ix_(rows, cols)]).max() <= TOL
    panels = [ax for ax in grid_fig.axes if ax.images]
    assert np.abs(_image(panels[1]) - words[1, 1][np.ix_(rows, cols)]).max() <= TOL
    assert tokens_md.startswith("11 words, 2 layers × 2 heads:") and "`superbly`" in tokens_md


def test_compare_shows_base_and_fine_tuned_attention_and_their_change(session, tiny_bert_dir, base_dir):
    request, _ = session
    _, tuned = _reference(tiny_bert_dir, TEXT)
    _, base = _reference(base_dir, TEXT)
    fig, html, summary = attention_tab.compare(TEXT, "", False, request)
    payload = read_view_payload(html)
    assert payload["views"] == ["model"]
    assert np.abs(payload["att"] - tuned).max() <= TOL and np.abs(payload["base"] - base).max() <= TOL
    change = head_change(base, tuned)
    np.testing.assert_allclose(payload["headChange"], np.round(change, 4))
    np.testing.assert_allclose(_image(fig.axes[0]), change, atol=1e-9)
    assert str(base_dir) in summary and f"{change.mean():.3f}" in summary


def test_explain_highlights_every_token_scaled_to_one(session):
    request, predictor = session
    spans, summary = attention_tab.explain(TEXT, "", False, "ig", 50, request)
    tokens = [t for t, score in spans if score is not None]
    assert tokens == ["[CLS]", "the", "movie", "was", "superb", "##l", "##y", "witty", "[SEP]"]
    scores = np.array([s for _, s in spans if s is not None])
    assert np.abs(scores).max() == pytest.approx(1.0) and scores[0] == 0.0 == scores[-1]
    result = predictor.attributions(TEXT)
    np.testing.assert_allclose(scores, np.round(result.scores / np.abs(result.scores).max(), 4))
    assert f"Explaining **{predictor.predict(TEXT)}**" in summary and "completeness gap" in summary
    spans, summary = attention_tab.explain(TEXT, "", True, "grad_x_input", 50, request)
    assert [t for t, s in spans if s is not None][4] == "superbly" and "Gradient × input" in summary


def test_the_tab_computes_the_maps_once_per_input(session, monkeypatch):
    request, predictor = session
    calls = []
    original = predictor.attention
    monkeypatch.setattr(predictor, "attention", lambda *a: calls.append(a) or original(*a))
    attention_tab.show_views("a fresh text for the cache", "", False, "all", request)
    attention_tab.attention("a fresh text for the cache", 1, 1, "", False, "all", request)
    attention_tab.attention("a fresh text for the cache", 2, 2, "", True, "all", request)  # merging: same maps
    assert len(calls) == 1


def test_long_inputs_get_a_message_instead_of_a_huge_page(session, monkeypatch):
    request, _ = session
    monkeypatch.setattr(attention_tab, "MAX_VIEW_VALUES", 100)
    html, _ = attention_tab.show_views(TEXT, "", False, "all", request)
    assert "data-kdemo-attention" not in html and "up to" in html and "this one has 9" in html


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda r: attention_tab.show_views("  ", "", False, "all", r), r"Expected a text\. Received: an empty box"),
        (lambda r: attention_tab.show_views(TEXT, "", False, "A→B", r), r"Expected a sentence pair for the filter 'A→B'"),
        (lambda r: attention_tab.attention(TEXT, 3, 1, "", False, "all", r), r"Expected layer 1–2 and head 1–2\. Received: layer 3"),
        (lambda r: attention_tab.explain(TEXT, "", False, "ig", 5000, r), r"Expected steps as a whole number from 1 to 1000"),
    ],
)
def test_bad_input_gets_a_clear_message(session, call, match):
    request, _ = session
    with pytest.raises(gr.Error, match=match):
        call(request)


def test_no_model_and_no_base_checkpoint_messages(session):
    request, predictor = session
    other = SimpleNamespace(session_hash="test-attention-tab-empty")
    try:
        with pytest.raises(gr.Error, match="Train one in the Train tab"):
            attention_tab.show_views(TEXT, "", False, "all", other)
    finally:
        STORE.drop(other)
    predictor.meta.pop("base_model")
    with pytest.raises(gr.Error, match=r"Expected to know the checkpoint this model was fine-tuned from"):
        attention_tab.compare(TEXT, "", False, request)


def test_attention_and_predict_tabs_both_load_checkpoints():
    from kdemo.ui import build_app

    demo = build_app()
    loaders = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "load_model"]
    assert len(loaders) == 2  # the Predict tab's /load_model endpoint and the Attention tab's own field
    labels = {getattr(block, "label", "") or "" for f in loaders for block in f.inputs}
    assert any(label.startswith("Model (optional)") for label in labels)


def test_pair_inputs_follow_what_the_model_was_trained_on(session):
    _, predictor = session
    assert attention_tab.takes_pairs(None) is False  # no model yet: nothing to pair
    assert attention_tab.takes_pairs(predictor) is True  # a checkpoint that records nothing: kdemo cannot tell
    predictor.meta["text_pairs"] = False  # what the Train tab records for single texts
    assert attention_tab.takes_pairs(predictor) is False
    predictor.meta["text_pairs"] = True
    assert attention_tab.takes_pairs(predictor) is True
