"""Fonts for figures whose labels hold Chinese, Japanese or Korean text.

Matplotlib's bundled DejaVu Sans has no CJK glyphs: a token label such as ``酒店`` renders as empty boxes, with a
"Glyph … missing from font(s) DejaVu Sans" warning. :func:`with_cjk_fonts` gives every text of a figure that needs
them a font list that falls back, glyph by glyph (Matplotlib ≥ 3.6), to Noto Sans CJK, found with
:mod:`matplotlib.font_manager` among the system fonts. Install it with Debian's ``fonts-noto-cjk``
(``apt-get install -y fonts-noto-cjk``; on Hugging Face Spaces through ``packages.txt``). Without it, figures
still render, and one warning says what to install.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from kdemo.data.languages import has_cjk

#: Latin font first (Matplotlib ships it), so ASCII keeps its usual look.
BASE_FONT = "DejaVu Sans"
#: File-name stems of fonts with CJK glyphs, best first (Debian: fonts-noto-cjk, fonts-wqy-zenhei).
CJK_FONT_FILES = ("NotoSansCJK-Regular", "NotoSansCJKsc-Regular", "NotoSansSC-Regular", "NotoSansCJK",
                  "SourceHanSans", "NotoSerifCJK-Regular", "wqy-zenhei", "wqy-microhei")
INSTALL_HINT = ("Install a font with these glyphs: apt-get install -y fonts-noto-cjk (Debian/Ubuntu), or add "
                "fonts-noto-cjk to packages.txt on Hugging Face Spaces.")


@functools.lru_cache(maxsize=1)
def cjk_font_name() -> str | None:
    """The family name of an installed CJK font, registered with Matplotlib (None, with one warning, if none).

    The font file is looked up among the system fonts (not Matplotlib's font cache, which may predate the font's
    installation) and added to the font manager.
    """
    files = font_manager.findSystemFonts()
    for stem in CJK_FONT_FILES:
        found = sorted(f for f in files if Path(f).name.startswith(stem))
        if found:
            font_manager.fontManager.addfont(found[0])
            return font_manager.FontProperties(fname=found[0]).get_name()
    warnings.warn(f"No font with Chinese/Japanese/Korean glyphs was found, so such labels in figures show as "
                  f"empty boxes. {INSTALL_HINT}", stacklevel=2)
    return None


def font_family(texts) -> list[str]:
    """Font families for labels: ``[BASE_FONT]``, plus the CJK font when any of ``texts`` has CJK characters."""
    cjk = cjk_font_name() if any(has_cjk(str(t)) for t in texts) else None
    return [BASE_FONT, cjk] if cjk else [BASE_FONT]


def with_cjk_fonts(fig: Figure) -> Figure:
    """Give every text of ``fig`` holding CJK characters (tick labels, titles, legends, cell texts) the CJK font.

    Args:
        fig: A finished figure.

    Returns:
        ``fig``, changed in place.
    """
    for text in fig.findobj(Text):
        if has_cjk(text.get_text()):
            text.set_fontfamily(font_family([text.get_text()]))
    return fig
