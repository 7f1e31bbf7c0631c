"""CJK labels render with real glyphs: Matplotlib's "Glyph … missing" warning is turned into a test failure."""

from __future__ import annotations

import io
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from matplotlib import font_manager
from PIL import Image

from kdemo import fonts
from kdemo.explain.attention_plots import plot_head, plot_layer_heads, plot_token_strips
from kdemo.plots import confusion_matrix_figure

TOKENS = ["[CLS]", "这", "家", "酒", "店", "的", "房", "间", "很", "干", "净", "，", "。", "[SEP]"]  # CJK punctuation too
#: Skipped on a machine without the font, except in CI (.ci/run installs fonts-noto-cjk), where it must pass.
needs_cjk_font = pytest.mark.skipif(
    not os.environ.get("CI") and not any(Path(f).name.startswith(fonts.CJK_FONT_FILES)
                                         for f in font_manager.findSystemFonts()),
    reason="no CJK font installed (apt-get install -y fonts-noto-cjk)")


@contextmanager
def no_missing_glyphs():
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"Glyph .* missing")
        yield


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _attention(n: int) -> np.ndarray:
    att = np.random.default_rng(0).random((2, 2, n, n))
    return att / att.sum(-1, keepdims=True)


@needs_cjk_font
def test_heatmap_of_a_chinese_sentence_has_no_missing_glyphs(tmp_path):
    with no_missing_glyphs():
        png = _png(plot_head(TOKENS, _attention(len(TOKENS)), 0, 0))
    (tmp_path / "head_zh.png").write_bytes(png)
    assert Image.open(io.BytesIO(png)).size[0] > 100


@needs_cjk_font
def test_other_figures_with_cjk_labels_have_no_missing_glyphs():
    att = _attention(len(TOKENS))
    with no_missing_glyphs():
        _png(plot_layer_heads(TOKENS, att, 1))
        _png(plot_token_strips(TOKENS, att[:, 0, 0], att[1, 0, 0]))
        _png(confusion_matrix_figure(np.array([[3, 1], [0, 4]]), ["正面", "負面"]))  # simplified and traditional
        _png(confusion_matrix_figure(np.array([[3, 1], [0, 4]]), ["ポジティブ", "부정"]))  # kana and Hangul


@needs_cjk_font
def test_the_check_catches_boxes_without_the_cjk_font():
    """The guard is real: the same figure with only DejaVu Sans fails it."""
    fig = plot_head(TOKENS, _attention(len(TOKENS)), 0, 0)
    for text in fig.findobj(lambda a: hasattr(a, "set_fontfamily")):
        text.set_fontfamily(["DejaVu Sans"])
    with pytest.raises(UserWarning, match="Glyph .* missing"), no_missing_glyphs():
        _png(fig)


def test_ascii_labels_keep_the_base_font():
    assert fonts.font_family(["[CLS]", "good"]) == [fonts.BASE_FONT]


def test_without_a_cjk_font_figures_still_render_with_one_clear_warning(monkeypatch):
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    fonts.cjk_font_name.cache_clear()
    try:
        with pytest.warns(UserWarning, match="fonts-noto-cjk"):
            assert fonts.font_family(["酒店"]) == [fonts.BASE_FONT]
    finally:
        fonts.cjk_font_name.cache_clear()
