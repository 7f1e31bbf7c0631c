"""What the views share: the default tokenizer the Data tab measures lengths with, and the length histogram drawn
from a data doctor's report (either kind: :class:`~kdemo.data.doctor.DataReport`,
:class:`~kdemo.data.token_doctor.TokenDiagnosis`)."""

from __future__ import annotations

import functools
from pathlib import Path

from matplotlib.figure import Figure

from kdemo.errors import KdemoError
from kdemo.plots import length_histogram_figure
from kdemo.run.models import load_tokenizer, resolve_model_source


@functools.lru_cache(maxsize=1)
def default_tokenizer():
    """The default model's tokenizer (token lengths are measured with it); None if it cannot be loaded."""
    try:
        return load_tokenizer(resolve_model_source(None))
    except KdemoError:
        return None


def length_figure(report, *, item: str = "text", count_label: str = "rows", maxlen_note: str = "") -> Figure | None:
    """Histogram of the lengths a data doctor counted, with its suggested maxlen marked; nothing is tokenized here.

    Args:
        report: A doctor's report: ``length_hist_counts``, ``length_hist_edges`` (``len(counts) + 1`` edges, in
            ``length_unit``), ``suggested_maxlen``.
        item: What one example is (``"text"``, ``"sentence"``).
        count_label: The y axis (``"rows"``, ``"sentences"``).
        maxlen_note: Text after the maxlen in the legend.

    Returns:
        The figure, or None when the report has no lengths.
    """
    if not report.length_hist_counts:
        return None
    return length_histogram_figure(report.length_hist_counts, report.length_hist_edges, report.suggested_maxlen,
                                   unit=report.length_unit, item=item, count_label=count_label,
                                   maxlen_note=maxlen_note)


#: What the Data tab's progress says while the data doctor runs.
DOCTOR_STAGE = "Data doctor: checking labels, lengths, languages"


def reading_stage(path: str, encoding: str | None) -> str:
    """What the Data tab's progress says while ``path`` is read (detecting its encoding when none is given)."""
    return f"Reading {Path(path).name}" + ("" if encoding else " (detecting the encoding)")


def say(progress, desc: str) -> None:
    """Tell ``progress`` (a ``gr.Progress``, or None) the stage ``desc``, with no fraction: the words, no made-up
    share of the work."""
    if progress is not None:
        progress(None, desc=desc)
