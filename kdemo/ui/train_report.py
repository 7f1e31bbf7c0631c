"""The lines around the Train tab's validation report: what it belongs to (model, data, time), the constant guess's
and the quick baseline's scores beside the model's, and the warning of a run that learned nothing."""

from __future__ import annotations

import time

from kdemo.ui.session import Session
from kdemo.ui.train_job import data_key


def health_md(result: dict) -> str:
    """Markdown lines under the report: the constant guess's scores beside the model's, and a warning when the run
    learned nothing (:func:`kdemo.evaluation.sanity.health_check`); ``""`` for a result without them."""
    base, warnings = result.get("baseline"), result.get("warnings") or []
    lines = []
    if base:
        scores = ", ".join(f"{k.replace('_', '-')} {v:.3f}" for k, v in base["metrics"].items())
        lines.append(f"Baseline, {base['description']}: {scores}. The model's score must beat it.")
    quick = result.get("quick_baseline")
    if quick:
        lines.append(f"Quick baseline: ktrain's {quick['model'].upper()} on the same {quick['rows']} training rows "
                     f"({quick['seconds']:.1f} s): accuracy **{quick['accuracy']:.3f}**, what a bag-of-bigrams model "
                     "reaches without fine-tuning.")
    if warnings:
        lines.append("⚠️ **The model learned nothing useful.** " + " ".join(warnings))
    return "\n\n".join(lines)


def belongs_to(session: Session, result: dict) -> str:
    """The report's first line: which model, data and time it belongs to; a warning first when the session's data
    changed since the run (a new upload), so that an old report is not read as the new data's."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(result["finished_at"])) if result.get("finished_at") else "earlier"
    old = result.get("data_name") or "the data of that run"
    line = f"Validation of `{result.get('model') or '?'}` on **{old}**, {when}."
    data = session.data
    key = result.get("data_key")
    current = data_key(data) if key and data is not None else None
    if data is None or (current is not None and current != key) or (not key and data.data_name != result.get("data_name")):
        now = getattr(data, "data_name", None) or "none"
        return (f"⚠️ **This report belongs to earlier data** ({old}), not to the data loaded now ({now}). Expected a "
                f"run on the loaded data: press Train to validate a model on it.\n\n{line}")
    return line
