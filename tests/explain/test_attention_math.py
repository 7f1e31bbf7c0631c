"""Pure attention maths: word merging, [CLS] attention, rollout, sentence-pair blocks, per-head change."""

from __future__ import annotations

import numpy as np
import pytest

from kdemo.explain.attention_math import (
    PAIR_FILTERS,
    attention_rollout,
    cls_attention,
    head_change,
    merge_scores,
    merge_word_pieces,
    segment_block,
)


def _att(num_layers=2, num_heads=3, seq_len=6, seed=0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(num_layers, num_heads, seq_len, seq_len)) * 2
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- merging
def test_merge_word_pieces_by_hand():
    # tokens: [CLS] super ##b [SEP] -> words: [CLS] superb [SEP]
    att = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],
            [0.5, 0.1, 0.1, 0.3],
            [0.2, 0.2, 0.2, 0.4],
            [0.0, 0.6, 0.4, 0.0],
        ]
    )
    merged = merge_word_pieces(att, np.array([0, 1, 1, 2]))
    expected = np.array(
        [
            [0.1, 0.2 + 0.3, 0.4],  # to a word: summed over its pieces
            [(0.5 + 0.2) / 2, (0.1 + 0.1 + 0.2 + 0.2) / 2, (0.3 + 0.4) / 2],  # from a word: mean of its pieces
            [0.0, 0.6 + 0.4, 0.0],
        ]
    )
    np.testing.assert_allclose(merged, expected, atol=1e-12)


def test_merge_keeps_rows_summing_to_one_and_batches_over_leading_axes():
    att = _att(seq_len=7)
    groups = np.array([0, 1, 1, 1, 2, 3, 3])
    merged = merge_word_pieces(att, groups)
    assert merged.shape == (2, 3, 4, 4) and merged.dtype == np.float32
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-6)
    for layer in range(2):
        for h in range(3):
            np.testing.assert_allclose(merged[layer, h], merge_word_pieces(att[layer, h], groups), atol=1e-7)


def test_merge_with_one_token_per_word_is_the_identity():
    att = _att()
    np.testing.assert_allclose(merge_word_pieces(att, np.arange(6)), att, atol=1e-7)


@pytest.mark.parametrize(
    ("groups", "match"),
    [(np.array([0, 1, 1]), r"shape \(6,\)"), (np.array([0, 2, 2, 3, 3, 3]), r"none missing")],
)
def test_merge_rejects_bad_groups(groups, match):
    with pytest.raises(ValueError, match=match):
        merge_word_pieces(_att(), groups)


def test_merge_scores_sums_pieces():
    np.testing.assert_allclose(merge_scores(np.array([1.0, 2.0, -0.5, 4.0]), np.array([0, 1, 1, 2])), [1.0, 1.5, 4.0])


# ---------------------------------------------------------------------------------------------------- [CLS] and rollout
def test_cls_attention_is_first_row_averaged_over_heads():
    att = _att()
    cls = cls_attention(att)
    assert cls.shape == (2, 6)
    np.testing.assert_allclose(cls[1], (att[1, 0, 0] + att[1, 1, 0] + att[1, 2, 0]) / 3, atol=1e-7)
    np.testing.assert_allclose(cls.sum(axis=-1), 1.0, atol=1e-6)


def test_rollout_one_layer_is_half_attention_half_identity():
    att = _att(num_layers=1)
    expected = 0.5 * att[0].astype(np.float64).mean(axis=0) + 0.5 * np.eye(6)  # rows already sum to 1
    np.testing.assert_allclose(attention_rollout(att)[0], expected, atol=1e-12)


def test_rollout_multiplies_layers_in_order():
    att = _att(num_layers=3)
    mixed = [0.5 * att[layer].astype(np.float64).mean(axis=0) + 0.5 * np.eye(6) for layer in range(3)]
    rollout = attention_rollout(att)
    assert rollout.shape == (3, 6, 6)
    np.testing.assert_allclose(rollout[1], mixed[1] @ mixed[0], atol=1e-12)
    np.testing.assert_allclose(rollout[2], mixed[2] @ mixed[1] @ mixed[0], atol=1e-12)
    assert not np.allclose(rollout[2], mixed[0] @ mixed[1] @ mixed[2])  # order matters: later layers on the left
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, atol=1e-12)


def test_rollout_of_pure_self_attention_is_identity_and_residual_zero_is_plain_product():
    eye = np.broadcast_to(np.eye(5), (4, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(attention_rollout(eye)[-1], np.eye(5))
    att = _att(num_layers=2)
    means = att.astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(attention_rollout(att, residual=0.0)[-1], means[1] @ means[0], atol=1e-12)
    with pytest.raises(ValueError, match=r"residual in 0–1"):
        attention_rollout(att, residual=1.5)
    with pytest.raises(ValueError, match=r"\(num_layers, num_heads, seq_len, seq_len\)"):
        attention_rollout(att[0])


# ---------------------------------------------------------------------------------------------------- pair blocks
SEGMENTS = np.array([0, 0, 0, 0, 1, 1])  # [CLS] a a [SEP] | b [SEP]


@pytest.mark.parametrize(
    ("pair_filter", "rows", "cols"),
    [("A→A", [0, 1, 2, 3], [0, 1, 2, 3]), ("A→B", [0, 1, 2, 3], [4, 5]), ("B→A", [4, 5], [0, 1, 2, 3]), ("B→B", [4, 5], [4, 5])],
)
def test_segment_block_cuts_rows_and_columns(pair_filter, rows, cols):
    att = _att()
    r, c, block = segment_block(att, SEGMENTS, pair_filter)
    assert r.tolist() == rows and c.tolist() == cols
    np.testing.assert_array_equal(block, att[:, :, rows][:, :, :, cols])


def test_segment_block_all_and_errors():
    att = _att()
    r, c, block = segment_block(att, SEGMENTS, "all")
    assert block is att and r.tolist() == c.tolist() == list(range(6))
    assert PAIR_FILTERS == ("all", "A→A", "A→B", "B→A", "B→B")
    with pytest.raises(ValueError, match=r"Expected a sentence pair for the filter 'A→B'.*Fill in the second text"):
        segment_block(att, np.zeros(6, dtype=int), "A→B")
    with pytest.raises(ValueError, match=r"Expected a pair filter in"):
        segment_block(att, SEGMENTS, "A-B")


# ---------------------------------------------------------------------------------------------------- head change
def test_head_change_zero_for_same_one_for_disjoint():
    att = _att()
    np.testing.assert_array_equal(head_change(att, att), np.zeros((2, 3)))
    a = np.zeros((1, 2, 3, 3))
    a[..., 0] = 1.0  # every token attends to token 0
    b = np.zeros((1, 2, 3, 3))
    b[..., 2] = 1.0  # every token attends to token 2
    np.testing.assert_allclose(head_change(a, b), np.ones((1, 2)))


def test_head_change_is_mean_total_variation():
    a, b = _att(seed=1), _att(seed=2)
    change = head_change(a, b)
    layer, h = 1, 2
    expected = np.mean([0.5 * np.abs(b[layer, h, i].astype(float) - a[layer, h, i]).sum() for i in range(6)])
    assert change[layer, h] == pytest.approx(expected, abs=1e-9)
    assert ((change > 0) & (change < 1)).all()
    with pytest.raises(ValueError, match=r"same shape"):
        head_change(a, a[:, :2])
