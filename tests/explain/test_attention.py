"""Attention figures (one head, all heads of a layer) and the eager-attention switch."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from matplotlib.figure import Figure

from kdemo.explain.attention import attention_maps, eager_attention, plot_head, plot_layer_heads

TOKENS = ["[CLS]", "the", "movie", "was", "great", "[SEP]"]


def _att(num_layers: int = 2, num_heads: int = 2, seq_len: int = len(TOKENS), seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(num_layers, num_heads, seq_len, seq_len))
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _image_axes(fig: Figure):
    return [ax for ax in fig.axes if ax.images]


# ---------------------------------------------------------------------------------------------------- plot_head
@pytest.mark.parametrize(("layer", "head"), [(0, 0), (1, 1), (2, 3)])
def test_plot_head_image_is_the_attention_map(layer, head):
    att = _att(num_layers=3, num_heads=4)
    fig = plot_head(TOKENS, att, layer, head)
    assert isinstance(fig, Figure)
    axes = _image_axes(fig)
    assert len(axes) == 1  # the colorbar has no image
    ax = axes[0]
    image = np.asarray(ax.images[0].get_array())
    assert image.shape == (len(TOKENS), len(TOKENS))
    np.testing.assert_array_equal(image, att[layer, head])
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert ax.get_title() == f"Layer {layer + 1}, head {head + 1}"


def test_plot_head_renders():
    fig = plot_head(TOKENS, _att(), 1, 0)
    buf = BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------------- plot_layer_heads
@pytest.mark.parametrize("num_heads", [2, 4, 12])
def test_plot_layer_heads_has_one_panel_per_head_plus_mean(num_heads):
    att = _att(num_layers=2, num_heads=num_heads)
    fig = plot_layer_heads(TOKENS, att, 1)
    assert isinstance(fig, Figure)
    axes = _image_axes(fig)
    assert len(axes) == num_heads + 1
    for k in range(num_heads):
        np.testing.assert_array_equal(np.asarray(axes[k].images[0].get_array()), att[1, k])
        assert axes[k].get_title() == f"head {k + 1}"
    np.testing.assert_allclose(np.asarray(axes[-1].images[0].get_array()), att[1].mean(axis=0), rtol=1e-6)
    assert axes[-1].get_title() == "mean of heads"
    # Unused grid cells are hidden.
    assert all(not ax.axison for ax in fig.axes if not ax.images)


def test_plot_layer_heads_drops_labels_for_long_texts():
    tokens = [f"t{i}" for i in range(30)]
    fig = plot_layer_heads(tokens, _att(seq_len=30), 0)
    assert all(len(ax.get_xticks()) == 0 for ax in _image_axes(fig))
    fig = plot_layer_heads(TOKENS, _att(), 0)
    assert [t.get_text() for t in _image_axes(fig)[0].get_xticklabels()] == TOKENS


# ---------------------------------------------------------------------------------------------------- bad indices
@pytest.mark.parametrize(
    ("layer", "head", "match"),
    [
        (2, 0, r"Expected layer in 0\.\.1\. Received: layer=2"),
        (-1, 0, r"Expected layer in 0\.\.1\. Received: layer=-1"),
        (0, 2, r"Expected head in 0\.\.1\. Received: head=2"),
        (1, -1, r"Expected head in 0\.\.1\. Received: head=-1"),
    ],
)
def test_plot_head_bad_indices(layer, head, match):
    with pytest.raises(ValueError, match=match):
        plot_head(TOKENS, _att(), layer, head)


def test_plot_layer_heads_bad_layer():
    with pytest.raises(ValueError, match=r"Expected layer in 0\.\.1\. Received: layer=5"):
        plot_layer_heads(TOKENS, _att(), 5)


def test_bad_shape():
    with pytest.raises(ValueError, match=r"\(num_layers, num_heads, seq_len, seq_len\)"):
        plot_head(TOKENS, _att()[0], 0, 0)
    with pytest.raises(ValueError, match="shape"):
        plot_layer_heads(TOKENS, _att()[0, 0], 0)


# ---------------------------------------------------------------------------------------------------- eager switch
@pytest.fixture(scope="module")
def tiny_bert(tiny_bert_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir)
    return model, AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_eager_attention_switches_and_restores_even_on_error(tiny_bert):
    model, _ = tiny_bert
    before = model.config._attn_implementation
    assert before != "eager"
    model.train()
    with pytest.raises(RuntimeError, match="boom"), eager_attention(model) as m:
        assert m is model
        assert model.config._attn_implementation == "eager"
        assert model.training is False
        raise RuntimeError("boom")
    assert model.config._attn_implementation == before
    assert model.training is True
    model.eval()


def test_attention_maps_feed_the_plots(tiny_bert):
    model, tok = tiny_bert
    tokens, att = attention_maps(model, tok, "the movie was great", maxlen=32)
    assert tokens == TOKENS
    assert att.shape == (2, 2, 6, 6)
    fig = plot_head(tokens, att, 1, 1)
    np.testing.assert_array_equal(np.asarray(_image_axes(fig)[0].images[0].get_array()), att[1, 1])
    assert len(_image_axes(plot_layer_heads(tokens, att, 0))) == 3
