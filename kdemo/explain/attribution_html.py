"""Token attributions as HTML that a notebook displays, the way ktrain's ``predictor.explain`` shows eli5's output."""

from __future__ import annotations

import html

import numpy as np

from kdemo.explain.attributions import Attribution


class ExplanationHTML:
    """HTML that Jupyter renders (``_repr_html_``), like the ``IPython.display.HTML`` object ktrain returns.

    Attributes:
        data: The HTML markup.
        attribution: The :class:`~kdemo.explain.attributions.Attribution` it shows.
    """

    def __init__(self, data: str, attribution: Attribution):
        self.data = data
        self.attribution = attribution

    def _repr_html_(self) -> str:
        return self.data

    def __str__(self) -> str:
        return self.data

    def __repr__(self) -> str:
        return f"<ExplanationHTML y={self.attribution.label!r}, {len(self.attribution.scores)} words>"


def _color(score: float, scale: float) -> str:
    alpha = min(abs(score) / scale, 1.0) * 0.8 if scale > 0 else 0.0
    rgb = "22, 163, 74" if score >= 0 else "220, 38, 38"  # green raises the class, red lowers it (eli5's colours)
    return f"rgba({rgb}, {alpha:.3f})"


def attribution_html(attribution: Attribution, probability: float | None = None) -> ExplanationHTML:
    """Render word-level attributions as highlighted text.

    Args:
        attribution: From :func:`kdemo.explain.attributions.explain` (merged to words here).
        probability: The predicted probability of the explained class (0–1), shown in the header.

    Returns:
        ``IPython.display.HTML`` (what ktrain returns) when IPython is installed, else an :class:`ExplanationHTML`;
        either has ``.data`` (the markup), ``_repr_html_()`` and ``.attribution``. The markup is a header ``y=<label> (probability …, score …)`` and each word on a green
        (raises the class's logit) or red (lowers it) background whose strength is the score relative to the
        largest one; the score is in each word's tooltip.
    """
    words = attribution.merge_words()
    scores = np.asarray(words.scores, dtype=np.float64)
    keep = ~words.info.special
    scale = float(np.abs(scores[keep]).max()) if keep.any() else 0.0
    spans = [
        f'<span style="background-color: {_color(s, scale)}; padding: 0 2px; border-radius: 3px" '
        f'title="{s:+.3f}">{html.escape(w)}</span>'
        for w, s, k in zip(words.tokens, scores, keep) if k
    ]
    prob = f"probability {probability:.3f}, " if probability is not None else ""
    header = (f'<p style="margin: 0 0 4px 0"><b>y={html.escape(attribution.label)}</b> ({prob}score '
              f"{attribution.f_input:.3f}) top features by {html.escape(attribution.method)}</p>")
    body = f'<p style="line-height: 1.9">{" ".join(spans)}</p>'
    markup = f'<div class="kdemo-explanation">{header}{body}</div>'
    try:  # in a notebook, the very type ktrain returns (eli5's show_prediction gives IPython's HTML)
        from IPython.display import HTML
    except ImportError:
        return ExplanationHTML(markup, attribution)
    shown = HTML(markup)
    shown.attribution = attribution
    return shown
