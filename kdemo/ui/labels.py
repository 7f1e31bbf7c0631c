"""The Labels tab's logic, without widgets: the label-issue job, the table it shows, the keep / drop / relabel
decisions, and the corrected data they make (no gradio here).

The job runs :func:`kdemo.run.label_issues.api.find_label_issues` on the session's data with the Train tab's settings,
on the device queue like training (:mod:`kdemo.ui.train_job`). Its result and the user's decisions are kept with the
session (:class:`LabelState`, ``session.labels``); the decisions always apply to the data as it was when the issues
were found, so a retrain that replaced the session's data does not shift the rows they name. Each finished fold (or
data-map run) is kept in the session's folder, and the search resumes from them: after a Stop, or a server restart
on the same ``--data-dir``, asking again with the same settings and data trains only what is missing (the decisions
themselves live in memory and are not restored).
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kdemo.errors import DataError
from kdemo.explain.attributions import explain
from kdemo.jobs import Job
from kdemo.run.label_issues.api import find_label_issues
from kdemo.run.label_issues.corrections import apply_corrections, token_frame, write_corrected
from kdemo.run.label_issues.result import LabelIssues
from kdemo.run import RunData, TrainConfig, read_data

#: Rows of the table the tab shows: the lowest label qualities (every flagged row when there are fewer).
SHOWN_ROWS = 200
#: Rows whose text is highlighted (attributions cost one integrated-gradients pass per row).
HIGHLIGHT_ROWS = 10
#: Integrated-gradients intervals of the highlighting (fixed: no refinement, to keep it quick).
HIGHLIGHT_STEPS = 16
#: The table's columns.
TABLE_COLUMNS = ["row", "text", "given_label", "suggested_label", "label_quality", "flagged", "action"]
KEEP, DROP, RELABEL = "keep", "drop", "relabel"
#: Label layouts whose examples get a text highlight (one class logit per text; see TaskSpec.label_layout).
HIGHLIGHTED_LAYOUTS = ("class", "multi_hot")
#: Sub-folder of the session's folder for the label-issue work (finished folds) and the corrected files.
WORK_DIR, CORRECTED_DIR = "label_issues", "corrected"


@dataclass
class LabelState:
    """One label-issue search of a session and the user's decisions about it.

    Attributes:
        issues: The :class:`~kdemo.run.label_issues.result.LabelIssues` found.
        data: The session's data the issues were found in (what the decisions apply to).
        like_path: The file that data was read from (the corrected file keeps its format), or None.
        decisions: ``{row: "drop" or a new label}``; rows not in it are kept.
        highlights: ``{row: HTML}`` of the highlighted rows (words pushing toward the suggested label).
        highlight_note: One sentence saying what the highlighting shows, or why there is none.
    """

    issues: LabelIssues
    data: RunData
    like_path: str | None = None
    decisions: dict[int, str] = field(default_factory=dict)
    highlights: dict[int, str] = field(default_factory=dict)
    highlight_note: str = ""


def check_request(data: RunData, folds: int, data_map: bool) -> int:
    """Refuse, before anything is queued, a search that cannot run on ``data``.

    Args:
        data: The session's data.
        folds: K of K-fold cross-validation (ignored for the data map).
        data_map: Whether the data map is asked for.

    Returns:
        ``folds`` as an int.

    Raises:
        DataError: For a task without labels to check (question answering), K below 2, or K above the number of
            rows (sentences) or of examples of the smallest class.
    """
    spec = data.spec
    if not spec.label_issues:  # the task has no cleanlab adapter (question answering)
        raise DataError(f"Expected a task with labels to check (single-label, multi-label, regression or named "
                        f"entities). Received: {spec.title}. Label issues cannot be found for this data.")
    try:
        k = int(folds)
    except (TypeError, ValueError):
        raise DataError(f"Expected K (folds) as a whole number 2 or more. Received: {folds!r}. Type a number.") from None
    if data_map:
        return k
    rows = len(data.texts())
    if k < 2 or k > rows:
        raise DataError(f"Expected K (folds) between 2 and the number of rows ({rows}). Received: K={k}. "
                        "Choose a smaller K, or the data map.")
    train_df = getattr(data, "train_df", None)
    if spec.label_layout == "class" and train_df is not None and data.label_columns:
        counts = train_df[data.label_columns[0]].astype(str).value_counts()
        if k > int(counts.min()):
            raise DataError(f"Expected K (folds) at most the size of the smallest class ({counts.idxmin()!r}: "
                            f"{int(counts.min())} rows), so that every fold holds each class. Received: K={k}. "
                            "Choose a smaller K, or the data map.")
    return k


def progress_line(ev, folds: int | None) -> tuple[float | None, str]:
    """The fraction done (0–1, or None when unknown) and a line for one progress event of the search.

    Args:
        ev: The event (:class:`~kdemo.training.callbacks.ProgressEvent`-like; a cross-validation event names its
            ``fold`` (0-based) and ``folds``).
        folds: K, or None for the data map.
    """
    fold, total = getattr(ev, "fold", None), getattr(ev, "folds", None) or folds
    step, steps = getattr(ev, "step", None), getattr(ev, "total_steps", None)
    within = step / steps if step and steps else 0.0
    if fold is not None and total:
        return min((fold + within) / total, 1.0), f"Fold {fold + 1} of {total}: training, step {step or 0}/{steps or '?'}"
    return (within if steps else None), f"Training (data map), step {step or 0}/{steps or '?'}"


def search_job(session, cfg: TrainConfig, folds: int, data_map: bool, like_path: str | None) -> Job:
    """A job that finds the label issues of the session's data and keeps them in ``session.labels``.

    The job's ``phase`` says what runs; ``epoch``/``epochs`` count the fold and K; ``eta_s`` holds the fraction
    done (0–1). Its result is the :class:`LabelState`, or None when Stop came first.
    """
    data = session.require_data()
    train_df = getattr(data, "train_df", None)

    def run(job: Job) -> LabelState | None:
        job.phase = "Loading the model and tokenizing the data"

        def on_progress(ev) -> None:
            fraction, line = progress_line(ev, None if data_map else folds)
            job.phase = line
            if fraction is not None:
                job.eta_s = fraction

        issues = find_label_issues(cfg, folds=folds, data_map=data_map, train_df=train_df,
                                   work_dir=session.workdir / WORK_DIR, resume=True, progress=on_progress,
                                   stop=job.stop_event,
                                   policy=session.policy)
        if issues is None or job.stop_event.is_set():
            return None
        state = LabelState(issues, data, like_path)
        job.phase = "Highlighting the words behind the top rows"
        state.highlights, state.highlight_note = highlight_rows(session.predictor, issues, data)
        session.labels = state
        return state

    return Job(run, kind="label_issues", owner=session.owner, epochs=folds)


def words_html(attribution) -> str:
    """Words on a green (pushes toward the explained label) or red (pushes away) background, strength relative to
    the largest |score|, score in each word's tooltip; special tokens left out."""
    words = attribution.merge_words()
    scores = np.asarray(words.scores, dtype=np.float64)
    keep = ~np.asarray(words.info.special)
    scale = float(np.abs(scores[keep]).max()) if keep.any() else 0.0
    spans = []
    for word, score, kept in zip(words.tokens, scores, keep):
        if not kept:
            continue
        alpha = min(abs(score) / scale, 1.0) * 0.8 if scale > 0 else 0.0
        rgb = "22, 163, 74" if score >= 0 else "220, 38, 38"
        spans.append(f'<span style="background-color: rgba({rgb}, {alpha:.3f}); padding: 0 2px; border-radius: 3px" '
                     f'title="{score:+.3f}">{html.escape(word)}</span>')
    return " ".join(spans)


def highlight_rows(predictor, issues: LabelIssues, data: RunData, limit: int = HIGHLIGHT_ROWS) -> tuple[dict, str]:
    """Attributions of the suggested label for the ``limit`` lowest-quality rows whose suggestion differs.

    Integrated gradients (Sundararajan et al. 2017; :func:`kdemo.explain.attributions.explain`, ``HIGHLIGHT_STEPS``
    intervals) of the suggested class's logit in the session's model in use, which must be a text classifier of the
    same classes.

    Returns:
        ``({row: HTML}, note)``: the highlighted rows and one sentence saying what they show or why there are none.
    """
    if data.spec.label_layout not in HIGHLIGHTED_LAYOUTS:
        return {}, f"No highlighting for {data.spec.title}: it explains one class per text."
    names = [str(c) for c in getattr(predictor, "class_names", None) or []]
    if predictor is None or not hasattr(predictor, "tokenizer") or set(names) != set(issues.class_names):
        return {}, ("No highlighting: it uses the model in use, and there is none trained on these classes yet. Train "
                    "one in the Train tab, then find the issues again to see which words push toward each suggestion.")
    shown = {}
    for rec in issues.table.itertuples(index=False):
        if len(shown) >= limit:
            break
        target = next((s for s in str(rec.suggested_label).split(", ") if s and s not in str(rec.given_label).split(", ")),
                      None)
        if target not in names or not str(rec.text).strip():
            continue
        attribution = explain(predictor.model, predictor.tokenizer, str(rec.text), method="ig", steps=HIGHLIGHT_STEPS,
                              tolerance=None, target=names.index(target), class_names=names,
                              maxlen=getattr(predictor, "maxlen", 512))
        shown[int(rec.row)] = words_html(attribution)
    return shown, (f"Highlighted: the {len(shown)} lowest-quality rows whose suggestion differs; green words push the "
                   "model in use toward the suggested label, red words away from it (integrated gradients of its "
                   f"logit, {HIGHLIGHT_STEPS} steps).")


def table_view(state: LabelState | None, limit: int = SHOWN_ROWS) -> pd.DataFrame:
    """The tab's table: the ``limit`` rows of lowest label quality (every flagged row first), the highlighted ones'
    text as HTML, and each row's action (``keep``, ``drop`` or the new label)."""
    if state is None:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    table = state.issues.table
    shown = pd.concat([table[table.is_issue], table[~table.is_issue]]).head(max(limit, int(table.is_issue.sum())))
    shown = shown.sort_values("label_quality", kind="stable")
    texts = [state.highlights.get(int(r), html.escape(str(t))) for r, t in zip(shown["row"], shown["text"])]
    return pd.DataFrame({
        "row": shown["row"].astype(int).to_numpy(), "text": texts, "given_label": shown["given_label"].astype(str).to_numpy(),
        "suggested_label": shown["suggested_label"].astype(str).to_numpy(),
        "label_quality": shown["label_quality"].astype(float).round(4).to_numpy(),
        "flagged": np.where(shown["is_issue"].to_numpy(bool), "yes", ""),
        "action": [state.decisions.get(int(r), KEEP) for r in shown["row"]],
    }, columns=TABLE_COLUMNS)


def check_label(state: LabelState, row: int, label: str) -> str:
    """``label`` as a new label of ``row``, checked against the task's classes.

    Returns:
        The label in the table's ``given_label`` format.

    Raises:
        DataError: If it is empty, names a class the data does not have, is not a number (regression) or has not
            one tag per word (named entities).
    """
    label = str(label or "").strip()
    names, layout = state.issues.class_names, state.data.spec.label_layout
    if not label:
        raise DataError(f"Expected a new label for row {row}. Received: an empty one. Pick a class, or choose keep or drop.")
    if layout == "target":
        try:
            return str(float(label))
        except ValueError:
            raise DataError(f"Expected a number as the new label of row {row}. Received: {label!r}.") from None
    parts = label.split() if layout == "word_tags" else [p.strip() for p in label.split(",") if p.strip()]
    unknown = [p for p in parts if p not in names]
    if unknown:
        raise DataError(f"Expected the new label of row {row} to use this data's classes ({', '.join(names)}). "
                        f"Received: {', '.join(map(repr, unknown))}. Pick one of the classes.")
    if layout == "word_tags":
        words = str(state.issues.table.set_index("row").loc[row, "text"]).split()
        if len(parts) != len(words):
            raise DataError(f"Expected one tag per word for row {row} ({len(words)} words). Received: {len(parts)} tags.")
        return " ".join(parts)
    return ", ".join(parts)


def parse_rows(state: LabelState, rows) -> list[int]:
    """Row numbers from ``"3, 17"`` (or a list), each one of the file's rows.

    Raises:
        DataError: If a row is not a whole number or not a row of the data.
    """
    items = rows if isinstance(rows, (list, tuple)) else str(rows or "").replace(";", ",").replace(" ", ",").split(",")
    known = set(state.issues.table["row"].astype(int))
    picked = []
    for item in items:
        if str(item).strip() == "":
            continue
        try:
            row = int(str(item).strip())
        except ValueError:
            raise DataError(f"Expected row numbers such as 3, 17. Received: {item!r}.") from None
        if row not in known:
            raise DataError(f"Expected a row of the data (0–{max(known)}). Received: row {row}.")
        picked.append(row)
    if not picked:
        raise DataError("Expected one or more row numbers, such as 3, 17. Received: none. Type the rows' numbers.")
    return picked


def decide(state: LabelState, rows, action: str, new_label: str = "") -> None:
    """Set the action of ``rows``: keep (forget the decision), drop, or relabel to ``new_label`` (checked)."""
    picked = parse_rows(state, rows)
    action = str(action or KEEP).strip().lower()
    if action not in (KEEP, DROP, RELABEL):
        raise DataError(f"Expected keep, drop or relabel. Received: {action!r}.")
    labels = {row: check_label(state, row, new_label) for row in picked} if action == RELABEL else {}
    for row in picked:
        if action == KEEP:
            state.decisions.pop(row, None)
        else:
            state.decisions[row] = DROP if action == DROP else labels[row]


def decisions_from_table(state: LabelState, table: pd.DataFrame) -> None:
    """Read the ``action`` column the user edited (``keep``, ``drop`` or a new label) into the decisions.

    Raises:
        DataError: If an action is neither keep, drop nor a label of the data (the row is named).
    """
    if table is None or "action" not in getattr(table, "columns", ()):
        return
    for row, action in zip(table["row"], table["action"]):
        row, action = int(row), str(action or "").strip()
        if action.lower() in ("", KEEP):
            state.decisions.pop(row, None)
        elif action.lower() == DROP:
            state.decisions[row] = DROP
        else:
            state.decisions[row] = check_label(state, row, action)


def accept_suggestions(state: LabelState) -> int:
    """Relabel every flagged row to its suggested label. Returns how many rows were set."""
    flagged = state.issues.issues
    for row, label in zip(flagged["row"], flagged["suggested_label"]):
        state.decisions[int(row)] = str(label)
    return len(flagged)


def decisions_line(state: LabelState | None) -> str:
    """Markdown counting the decisions: rows to drop and rows to relabel (with the rows)."""
    if state is None or not state.decisions:
        return "Every row is kept (no decision yet)."
    dropped = sorted(r for r, a in state.decisions.items() if a == DROP)
    relabelled = sorted(r for r, a in state.decisions.items() if a != DROP)
    return (f"**{len(dropped)}** row(s) to drop{': ' + ', '.join(map(str, dropped[:20])) if dropped else ''}; "
            f"**{len(relabelled)}** to relabel{': ' + ', '.join(map(str, relabelled[:20])) if relabelled else ''}.")


def corrected_frame(state: LabelState) -> pd.DataFrame:
    """The training table (a token file: its sentence frame, ``tokens`` and ``ner_tags``) with the decisions
    applied (:func:`kdemo.run.label_issues.corrections.apply_corrections`)."""
    data = state.data
    frame = getattr(data, "train_df", None)
    if frame is None:  # a token file: one row per sentence
        frame = token_frame(data.train)
    return apply_corrections(frame, dict(state.decisions), label_columns=list(data.label_columns),
                             task=data.spec.task.value)


def _corrected_path(state: LabelState, folder: Path) -> tuple[Path, Path]:
    """The file the corrected data is written to (``folder/corrected/<stem>-corrected<suffix>``) and the file whose
    format it keeps (the upload; a CSV named after the data without one)."""
    like = Path(state.like_path) if state.like_path else Path(f"{Path(state.data.data_name or 'data').stem}.csv")
    return Path(folder) / CORRECTED_DIR / f"{like.stem}-corrected{like.suffix or '.csv'}", like


def write_corrected_file(state: LabelState, folder: Path) -> Path:
    """Write the corrected training file into ``folder/corrected/`` in the uploaded file's format.

    Returns:
        The file's path, named ``<upload stem>-corrected<suffix>``.
    """
    out, like = _corrected_path(state, folder)
    return Path(write_corrected(corrected_frame(state), like, out))


def corrected_data(state: LabelState, folder: Path) -> RunData:
    """The session's data with the decisions applied, named ``<name> (corrected)``, for a new training run (a token
    file's is written into ``folder/corrected/`` and read from there, as a run reads its token file).

    Raises:
        DataError: If every row is dropped, or a decision does not fit the data.
    """
    data = state.data
    name = f"{data.data_name or 'data'} (corrected)"
    frame = corrected_frame(state)
    if len(frame) == 0:
        raise DataError("Expected rows left to train on. Received: every row dropped. Keep some rows.")
    fields = {**data.config_fields(), "data_name": name}
    if getattr(data, "train_df", None) is not None:
        return dataclasses.replace(read_data(TrainConfig(**fields), frame, data.val_df), data_name=name)
    out, like = _corrected_path(state, folder)
    fields["train_file"] = str(write_corrected(frame, like, out))
    return read_data(TrainConfig(**fields))


def summary_md(state: LabelState | None) -> str:
    """Markdown above the table: what was found, how, in how long, and what the highlighting shows."""
    if state is None:
        return "No label issues searched yet in this session."
    issues = state.issues
    how = (f"{issues.folds}-fold cross-validation (out-of-sample probabilities given to cleanlab)"
           if issues.method == "cross_validation" else "the data map (one run's training dynamics)")
    shown = min(len(issues.table), max(SHOWN_ROWS, len(issues)))
    return (f"Found **{len(issues)}** likely label issue(s) among {len(issues.table)} rows by {how} in "
            f"{issues.seconds:.0f} s. The table shows the {shown} rows of lowest label "
            f"quality (0–1, lower = more likely mislabeled). {state.highlight_note}")
