"""What the tabs show for the table tasks (single-label, multi-label, regression): the Data tab's columns, doctor
summary and class counts, the Train tab's per-class report, the Predict tab's class probabilities and CSV.

The tab modules wire these to their events; :func:`kdemo.ui.views.view_for` picks this module from the task's spec.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gradio as gr
import pandas as pd

import kdemo.data.lengths as lengths
from kdemo.data.columns import guess_columns
from kdemo.data.doctor import DataReport, diagnose
from kdemo.data.labels import guess_label_columns
from kdemo.data.tables import read_info, read_table
from kdemo.errors import DataError
from kdemo.evaluation.report import ClassificationReport, MultiLabelReport
from kdemo.inference.predictions_csv import predictions_table, text_column_for, write_csv
from kdemo.plots import confusion_matrix_figure, regression_figure
from kdemo.run import TrainConfig, read_data
from kdemo.run.models import DEFAULT_MODEL_ID
from kdemo.tasks import MULTI_LABEL, REGRESSION, TASKS, spec_for
from kdemo.ui.session import STORE, Session
from kdemo.ui.views.common import DOCTOR_STAGE, default_tokenizer, length_figure, reading_stage, say

#: The Predict tab shows class probabilities (``gr.Label``), not entities.
ENTITIES = False
#: What a model's outputs are called in the Predict tab's load message.
CLASS_WORDS = "classes"
#: The Attention tab offers a second text (sentence pairs) where the model was trained on pairs.
TAKES_PAIRS = True
#: What the Predict tab shows: class probabilities (``gr.Label``).
OUTPUT = "classes"
#: Names of the two texts of a pair (the Attention tab's segments A and B).
SEGMENTS = ("A", "B")
#: Labels of the Predict and Attention tabs' two text boxes.
INPUT_LABELS = ("Text", "Second text (only for a model trained on sentence pairs)")
#: Texts longer than maxlen are cut (no windows): the Train tab hides ``doc_stride``.
WINDOWS = False
EMPTY_COUNTS = pd.DataFrame({"class": [], "rows": [], "share": []})


def task_choices() -> list[str]:
    """The Data tab's task radio choices for a table: the table tasks."""
    return [t.value for t in TASKS]


def _counts_table(report: DataReport) -> pd.DataFrame:
    if not report.class_counts:
        return EMPTY_COUNTS
    counts = pd.DataFrame({"class": list(report.class_counts), "rows": list(report.class_counts.values())})
    denominator = report.rows if report.task == MULTI_LABEL else counts["rows"].sum()
    counts["share"] = (counts["rows"] / max(denominator, 1)).round(3)
    return counts


def summary(session: Session, report: DataReport, val_pct: float) -> str:
    """The Data tab's one-line summary of a table: rows, task, columns, encoding, split and the doctor's verdict."""
    data = session.require_data()
    df = data.train_df
    if data.val_df is not None:
        split = f"validation file: **{len(data.val_df)}** rows"
    else:
        n_val = int(round(len(df) * val_pct))
        split = f"validation: **{n_val}** rows ({val_pct:.0%}, split off), training: **{len(df) - n_val}** rows"
    what = (f"regression target `{report.label_columns[0]}`" if report.task == REGRESSION else
            f"**{len(report.class_counts)} classes** ({report.task.replace('_', '-')})")
    labels = ", ".join(f"`{c}`" for c in report.label_columns)
    info = read_info(df)
    encoding = info.get("encoding")
    enc = f"; read as **{encoding}**" if encoding and encoding != "UTF-8" else ""
    if info.get("encoding_sure") is False:
        enc += " (⚠️ unsure: check the preview, or choose the encoding in the Encoding menu)"
    head = (f"**{data.data_name or ''}**: {len(df)} rows, {what}; text column `{report.text_column}`, "
            f"label {labels}{enc}")
    if not report.ok:
        return f"⚠️ {head}. Cannot train yet: {report.errors[0].message} (see the data doctor below)"
    warnings = sum(p.severity == "warning" for p in report.problems)
    more = f" The data doctor has {warnings} warning(s) below." if warnings else ""
    return f"✅ {head}; {split}.{more}"


def run_doctor(session: Session, val_pct: float, task: str | None):
    """Diagnose the session's table, store the report and the task, and return the outputs every handler shares."""
    data = session.require_data()
    tokenizer = default_tokenizer()
    report = diagnose(data.train_df, data.text_column, list(data.label_columns), val_df=data.val_df, task=task,
                      tokenizer=tokenizer, model_name=DEFAULT_MODEL_ID if tokenizer is not None else None)
    session.doctor_report = report
    if report.task is not None and report.task != data.spec.task.value:  # the doctor's (or the user's) task
        session.data = dataclasses.replace(data, spec=spec_for(report.task))
    session.class_weight_offer = report.class_weight
    session.use_class_weight = session.use_class_weight and report.class_weight is not None
    STORE.persist(session)  # the table and these choices come back after a restart
    return doctor_outputs(session, report, val_pct)


def doctor_outputs(session: Session, report: DataReport, val_pct: float):
    """Summary, class counts, doctor markdown, length figure and class-weight checkbox for ``report``."""
    offer = report.class_weight is not None
    checkbox = gr.update(visible=offer, value=session.use_class_weight,
                         info=("Weights " + ", ".join(f"{report.class_names[i]}: {w:.2f}" for i, w in
                                                      report.class_weight.items())) if offer else None)
    figure = length_figure(report, maxlen_note=" (covers 95 %)")
    return summary(session, report, val_pct), _counts_table(report), report.to_markdown(), figure, checkbox


def load(session: Session, train_file: str, val_file: str | None, val_pct: float, *, encoding: str | None = None,
         preview_rows: int = 20, progress=None) -> tuple:
    """Read an uploaded table once (and its validation table), propose columns, and run the data doctor.

    Args:
        session: The session; its ``data`` becomes the table as :func:`kdemo.run.read_data` sees it.
        train_file: The uploaded file.
        val_file: Optional validation table.
        val_pct: Fraction 0–1 held out when there is no validation file.
        encoding: Codec to read the training file with; None detects it.
        preview_rows: Rows in the preview.
        progress: A ``gr.Progress`` (or None) told each stage: reading, the rows read, the data doctor.

    Returns:
        The Data tab's load outputs: preview, text- and label-column dropdowns, summary, class counts, doctor
        markdown, length histogram, task radio, class-weight checkbox.

    Raises:
        DataError: If the file cannot be read or has no label column.
    """
    say(progress, reading_stage(train_file, encoding))
    df = read_table(train_file, encoding=encoding)  # the one read: the run trains on this table
    val_df = read_table(val_file) if val_file else None
    say(progress, f"Read {len(df):,} rows" + (f" (and {len(val_df):,} validation rows)" if val_df is not None else ""))
    text_col, label_col = guess_columns(df)
    if label_col is None:
        raise DataError(
            f"Expected at least two columns (a text and a label). Received: only {list(df.columns)} in {Path(train_file).name!r}."
        )
    label_cols = guess_label_columns(df, text_col, label_col)
    config = TrainConfig(data_name=Path(train_file).name, text_column=text_col, label_columns=tuple(label_cols))
    session.data = read_data(config, df, val_df)  # nothing read again: the tables are given
    session.use_class_weight = False
    say(progress, DOCTOR_STAGE)
    summary_md, counts, doctor, figure, checkbox = run_doctor(session, val_pct, None)
    columns = list(df.columns)
    return (
        df.head(preview_rows), gr.update(choices=columns, value=text_col, visible=True),
        gr.update(choices=columns, value=label_cols, visible=True),
        summary_md, counts, doctor, figure, gr.update(choices=task_choices(), value=session.data.spec.task.value),
        checkbox,
    )


def restore(session: Session, val_pct: float, preview_rows: int = 20) -> tuple:
    """The Data tab's outputs for a session that has a table (a reloaded page, or a browser back after a restart):
    as :func:`load`'s, then the second-text menu and its note; ``gr.update()`` for all of them without a table."""
    data = session.data
    df = getattr(data, "train_df", None)
    if df is None or data.text_column not in df.columns:
        return tuple(gr.update() for _ in range(11))
    if session.doctor_report is not None:  # a reload: the report of this session's data is still in memory
        outputs = doctor_outputs(session, session.doctor_report, val_pct)
    else:  # back after a restart: diagnose the stored table again
        outputs = run_doctor(session, val_pct, data.spec.task.value)
    summary_md, counts, doctor, figure, checkbox = outputs
    columns = list(df.columns)
    pair = gr.update(choices=[("(none: single texts)", "")] + [(c, c) for c in columns],
                     value=data.text_pair_column or "")
    data = session.data  # the doctor may have changed the task
    return (df.head(preview_rows), gr.update(choices=columns, value=data.text_column),
            gr.update(choices=columns, value=list(data.label_columns)), summary_md, counts, doctor, figure,
            gr.update(value=data.spec.task.value), checkbox, pair, "")


def require_columns(session: Session) -> None:
    """A table has columns to choose: nothing to refuse."""


def set_task(session: Session, task: str, val_pct: float):
    """Override the detected task and re-run the doctor (outputs as :func:`run_doctor`).

    Raises:
        DataError: If ``task`` is not a table task.
    """
    if task not in TASKS:
        raise DataError(f"Expected the task to be one of {[t.value for t in TASKS]}. Received: {task!r}.")
    return run_doctor(session, val_pct, task)


def entity_preview(session: Session):
    """A table has no entities: the Data tab's entity preview is hidden."""
    return gr.update(value=None, visible=False)


def report_outputs(report) -> tuple[str, pd.DataFrame, object]:
    """The Train tab's report markdown, per-class table and confusion matrix (or regression scatter)."""
    if isinstance(report, ClassificationReport):
        table = report.per_class.reset_index(names="class").round(3)
        text = f"**Validation:** accuracy **{report.accuracy:.3f}**, macro-F1 **{report.macro_f1:.3f}** on {report.num_rows} rows."
        return text, table, confusion_matrix_figure(report.confusion_matrix, report.class_names)
    if isinstance(report, MultiLabelReport):
        table = report.per_label.reset_index(names="label").round(3)
        text = (
            f"**Validation:** micro-F1 **{report.micro_f1:.3f}**, macro-F1 **{report.macro_f1:.3f}**, subset accuracy "
            f"{report.subset_accuracy:.3f} on {report.num_rows} rows; per-label thresholds tuned on this split."
        )
        return text, table, None
    table = pd.DataFrame([report.to_dict()]).round(4)
    text = f"**Validation:** MAE **{report.mae:.4f}**, RMSE **{report.rmse:.4f}**, R² **{report.r2:.3f}** on {report.num_rows} rows."
    return text, table, regression_figure(report.y_true, report.y_pred)


def train_options(session: Session, maxlen, doc_stride) -> tuple:
    """The Train tab's maxlen (unchanged) and doc_stride (hidden: a table has no windows) updates."""
    return gr.update(), gr.update(visible=False)


def suggest_maxlen(data, tokenizer, *, coverage: float = 0.95, cap: int = 512) -> int:
    """The token length (multiple of 8) covering ``coverage`` of the training texts (or sentence pairs, both texts
    counted as the model reads them) with ``tokenizer``: the library's rule,
    :func:`kdemo.data.lengths.suggest_maxlen`, on the table's texts."""
    texts = data.train_df[data.text_column].astype(str).tolist()
    if data.text_pair_column:
        texts = list(zip(texts, data.train_df[data.text_pair_column].astype(str).tolist()))
    return lengths.suggest_maxlen(tokenizer, texts, coverage=coverage, cap=cap)


def predict_file(predictor, path: str, session: Session) -> Path:
    """Predict every row of a table file into the session's ``predictions.csv`` (class probabilities)."""
    df = read_table(path)
    note = read_info(df).get("encoding_note")
    if note:  # an unsure encoding: predictions on mojibake would look plausible, so say so
        gr.Warning(note)
    data = session.data
    column = text_column_for(df, getattr(data, "text_column", None), name=Path(path).name)
    pair = getattr(data, "text_pair_column", None)
    pair = pair if pair in df.columns else None
    return write_csv(predictions_table(predictor, df, column, pair), session.workdir / "predictions.csv")


def attention(predictor, text: str, text_pair: str | None):
    """The classifier's attention maps for a text or a sentence pair."""
    return predictor.attention(text, text_pair or None)
