"""The payload of the browser views and the new figures (model view, token strips, head change)."""

from __future__ import annotations

import html

import numpy as np
import pytest
from matplotlib.figure import Figure

from kdemo.explain.attention_html import (
    MAX_VIEW_VALUES,
    PAYLOAD_ATTR,
    decode_array,
    encode_array,
    max_view_tokens,
    message_html,
    read_view_payload,
    view_html,
)
from kdemo.explain.attention_plots import model_view_mosaic, plot_head_change, plot_model_view, plot_token_strips

TOKENS = ["[CLS]", "a", "<b>x</b>", 'say "hi"', "[SEP]"]


def _att(num_layers=2, num_heads=3, rows=5, cols=5, seed=0) -> np.ndarray:
    e = np.exp(np.random.default_rng(seed).normal(size=(num_layers, num_heads, rows, cols)))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _html(att, **kwargs):
    specials = [t.startswith("[") for t in TOKENS]
    return view_html(att, TOKENS, TOKENS, row_special=specials, col_special=specials, title="T", **kwargs)


# ---------------------------------------------------------------------------------------------------- payload
def test_float32_round_trip_is_exact():
    values = _att()
    assert np.array_equal(decode_array(encode_array(values), values.shape), values)
    with pytest.raises(ValueError, match=r"Expected 6 float32 values for shape \(2, 3\). Received: 5"):
        decode_array(encode_array(np.zeros(5)), (2, 3))


def test_view_html_carries_the_exact_numbers_and_escapes_tokens():
    att = _att()
    markup = _html(att, caption="c <i>")
    assert "<b>x</b>" not in markup and "<i>" not in markup  # user text never becomes markup
    assert markup.count(PAYLOAD_ATTR) == 1
    payload = read_view_payload(markup)
    assert np.array_equal(payload["att"], att)
    assert payload["rows"] == payload["cols"] == TOKENS
    assert payload["rowSpecial"] == [True, False, False, False, True]
    assert payload["shape"] == [2, 3, 5, 5] and payload["views"] == ["head", "model"] and payload["base"] is None
    assert payload["caption"] == "c <i>"


def test_view_html_with_base_and_change_for_the_before_after_view():
    att, base = _att(seed=1), _att(seed=2)
    change = np.full((2, 3), 0.25)
    payload = read_view_payload(_html(att, views=("model",), base=base, head_change=change))
    assert np.array_equal(payload["base"], base) and np.array_equal(payload["att"], att)
    assert payload["headChange"] == change.tolist() and payload["views"] == ["model"]


def test_view_html_rectangular_block():
    att = _att(rows=2, cols=3)
    markup = view_html(att, ["a", "b"], ["c", "d", "e"], row_special=[0, 0], col_special=[0, 0, 1], title="A→B")
    payload = read_view_payload(markup)
    assert payload["shape"] == [2, 3, 2, 3] and payload["cols"] == ["c", "d", "e"]
    assert np.array_equal(payload["att"], att)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"views": ("head", "graph")}, r"Expected views from \['head', 'model'\]"),
        ({"base": np.zeros((1, 3, 5, 5))}, r"Expected base of shape \(2, 3, 5, 5\)"),
        ({"head_change": np.zeros((3, 2))}, r"Expected head_change of shape \(2, 3\)"),
    ],
)
def test_view_html_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _html(_att(), **kwargs)


def test_view_html_rejects_label_mismatch_and_read_rejects_other_markup():
    with pytest.raises(ValueError, match=r"Expected 5 row and 5 column labels"):
        view_html(_att(), TOKENS[:4], TOKENS, row_special=[0] * 4, col_special=[0] * 5, title="t")
    with pytest.raises(ValueError, match=r"Expected HTML with a data-kdemo-attention attribute"):
        read_view_payload(message_html("hello"))


def test_message_html_escapes_and_view_limit():
    assert "&lt;script&gt;" in message_html("<script>")
    n = max_view_tokens(6, 12)
    assert 6 * 12 * n * n <= MAX_VIEW_VALUES < 6 * 12 * (n + 1) ** 2
    assert html.unescape(message_html("a & b")).count("a & b") == 1


# ---------------------------------------------------------------------------------------------------- figures
def test_model_view_mosaic_tiles_are_the_heads_and_gaps_are_blank():
    att = _att(num_layers=3, num_heads=4, rows=5, cols=5)
    mosaic = model_view_mosaic(att)
    assert mosaic.shape == (3 * 6 - 1, 4 * 6 - 1)
    for layer in range(3):
        for h in range(4):
            np.testing.assert_array_equal(mosaic[layer * 6: layer * 6 + 5, h * 6: h * 6 + 5], att[layer, h])
    assert np.isnan(mosaic[5]).all() and np.isnan(mosaic[:, 5]).all()


def test_plot_model_view_draws_the_mosaic_with_layer_and_head_labels():
    att = _att(num_layers=2, num_heads=3)
    fig = plot_model_view(att, title="All heads")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), model_view_mosaic(att))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["H1", "H2", "H3"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L1", "L2"]
    assert ax.images[0].get_clim() == (0.0, 1.0) and ax.get_title() == "All heads"


def test_plot_token_strips_shows_cls_rows_and_rollout():
    cls = _att(num_layers=1, num_heads=4)[0, :, 0, :]  # 4 "layers" x 5 tokens
    rollout = np.array([0.5, 0.1, 0.1, 0.2, 0.1])
    fig = plot_token_strips(TOKENS, cls, rollout)
    top, bottom = [ax for ax in fig.axes if ax.images]
    np.testing.assert_array_equal(np.asarray(top.images[0].get_array()), cls)
    np.testing.assert_array_equal(np.asarray(bottom.images[0].get_array()), rollout[None, :])
    assert [t.get_text() for t in bottom.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in top.get_yticklabels()] == [f"layer {i}" for i in range(1, 5)]
    with pytest.raises(ValueError, match=r"Expected 5 token labels"):
        plot_token_strips(TOKENS[:3], cls, rollout)


def test_plot_head_change_annotates_values():
    change = np.array([[0.0, 0.25], [0.5, 0.125]])
    fig = plot_head_change(change)
    ax = fig.axes[0]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), change)
    assert sorted(t.get_text() for t in ax.texts) == ["0.00", "0.12", "0.25", "0.50"]
    with pytest.raises(ValueError, match=r"\(num_layers, num_heads\)"):
        plot_head_change(change[0])
