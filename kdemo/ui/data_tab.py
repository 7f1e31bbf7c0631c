"""Data tab: upload a labelled file (or use the example), choose columns and task, and read the data doctor."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure

from kdemo.data.columns import check_texts, guess_columns
from kdemo.data.doctor import DataReport, diagnose
from kdemo.data.encodings import ENCODING_CHOICES
from kdemo.data.labels import guess_label_columns
from kdemo.data.tables import read_info, read_table
from kdemo.errors import DataError, KdemoError
from kdemo.modeling.classifier import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.plots import length_histogram_figure
from kdemo.tasks import MULTI_LABEL, REGRESSION, TASKS
from kdemo.data.token_files import looks_like_token_file
from kdemo.ui import token_views
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE, Session

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "assets" / "example_reviews.csv"
PREVIEW_ROWS = 20
#: Suffixes always read as token files (their errors then name the line); others are sniffed.
TOKEN_SUFFIXES = (".conll", ".bio", ".iob")
FILE_TYPES = [".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx", *TOKEN_SUFFIXES]
EMPTY_COUNTS = pd.DataFrame({"class": [], "rows": [], "share": []})


@functools.lru_cache(maxsize=1)
def _default_tokenizer():
    """The default model's tokenizer (token lengths are measured with it); None if it cannot be loaded."""
    try:
        return load_tokenizer(resolve_model_source(None))
    except KdemoError:
        return None


def length_figure(report: DataReport) -> Figure | None:
    """Histogram of text lengths with the suggested maxlen marked (None when there are no lengths)."""
    if not report.length_hist_counts:
        return None
    return length_histogram_figure(report.length_hist_counts, report.length_hist_edges, report.suggested_maxlen,
                                   unit=report.length_unit, maxlen_note=" (covers 95 %)")


def _counts_table(report: DataReport) -> pd.DataFrame:
    if not report.class_counts:
        return EMPTY_COUNTS
    counts = pd.DataFrame({"class": list(report.class_counts), "rows": list(report.class_counts.values())})
    denominator = report.rows if report.task == MULTI_LABEL else counts["rows"].sum()
    counts["share"] = (counts["rows"] / max(denominator, 1)).round(3)
    return counts


def _summary(session: Session, report: DataReport, val_pct: float) -> str:
    df = session.require_data()
    if session.val_df is not None:
        split = f"validation file: **{len(session.val_df)}** rows"
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
    head = f"**{session.data_name}**: {len(df)} rows, {what}; text column `{report.text_column}`, label {labels}{enc}"
    if not report.ok:
        return f"⚠️ {head}. Cannot train yet: {report.errors[0].message} (see the data doctor below)"
    warnings = sum(p.severity == "warning" for p in report.problems)
    more = f" The data doctor has {warnings} warning(s) below." if warnings else ""
    return f"✅ {head}; {split}.{more}"


def _run_doctor(session: Session, val_pct: float, task: str | None):
    """Diagnose the session's data, store the result, and return the outputs shared by every handler."""
    df = session.require_data()
    tokenizer = _default_tokenizer()
    report = diagnose(df, session.text_column, session.label_columns, val_df=session.val_df, task=task,
                      tokenizer=tokenizer, model_name=DEFAULT_MODEL_ID if tokenizer is not None else None)
    session.doctor_report, session.task = report, report.task
    session.class_weight_offer = report.class_weight
    session.use_class_weight = session.use_class_weight and report.class_weight is not None
    STORE.persist(session)  # the table and these choices come back after a restart
    return _doctor_outputs(session, report, val_pct)


def _doctor_outputs(session: Session, report: DataReport, val_pct: float):
    """Summary, class counts, doctor markdown, length figure and class-weight checkbox for ``report``."""
    offer = report.class_weight is not None
    checkbox = gr.update(visible=offer, value=session.use_class_weight,
                         info=("Weights " + ", ".join(f"{report.class_names[i]}: {w:.2f}" for i, w in
                                                      report.class_weight.items())) if offer else None)
    return (_summary(session, report, val_pct), _counts_table(report), report.to_markdown(), length_figure(report),
            checkbox)


@user_errors
def load_data(train_file: str | None, val_file: str | None, val_pct: float, request: gr.Request):
    """Read the uploaded training (and optional validation) file, propose columns, run the data doctor.

    The encoding of text files is detected (:mod:`kdemo.data.encodings`); :func:`reload_data` reads the training
    file again with a chosen one.

    Returns:
        Preview table, text-column dropdown, label-column(s) dropdown, summary markdown, class-count table, doctor
        markdown, text-length histogram, task radio, and the class-weight checkbox.
    """
    return _load(train_file, val_file, val_pct, request)


@user_errors
def reload_data(train_file: str | None, val_file: str | None, val_pct: float, encoding: str | None,
                request: gr.Request):
    """Read the training file again with ``encoding`` (a Python codec from the Encoding menu; ``""`` detects it).

    Returns:
        As :func:`load_data`.
    """
    return _load(train_file, val_file, val_pct, request, encoding or None)


def encoding_menu(request: gr.Request):
    """The Encoding menu after a load: shown when the detection was unsure or an encoding was chosen, set to the
    codec used."""
    session = STORE.get(request)
    info = read_info(session.train_df) if session.train_df is not None else {}
    codecs = {codec for _, codec in ENCODING_CHOICES}
    codec = info.get("codec") if info.get("encoding_method") == "given" and info.get("codec") in codecs else ""
    show = info.get("encoding_sure") is False or info.get("encoding_method") == "given"
    return gr.update(visible=show, value=codec if show else "")


def _load(train_file: str | None, val_file: str | None, val_pct: float, request: gr.Request,
          encoding: str | None = None):
    session = STORE.get(request)
    if not train_file:
        raise DataError("Expected a training file. Received: nothing. Upload a CSV, TSV, JSONL, Parquet or XLSX file, "
                        "a CoNLL/BIO token file, or click 'Use example data'.")
    token_file = Path(train_file).suffix.lower() in TOKEN_SUFFIXES or looks_like_token_file(train_file)
    if token_file:  # one word and its tag per line, or JSONL of tokens and tags: NER
        return token_views.load_token_data(session, train_file, val_file, val_pct, tokenizer=_default_tokenizer(),
                                           encoding=encoding, preview_rows=PREVIEW_ROWS)
    df = read_table(train_file, encoding=encoding)
    val_df = read_table(val_file) if val_file else None
    text_col, label_col = guess_columns(df)
    if label_col is None:
        raise DataError(
            f"Expected at least two columns (a text and a label). Received: only {list(df.columns)} in {Path(train_file).name!r}."
        )
    label_cols = guess_label_columns(df, text_col, label_col)
    token_views.forget_token_data(session)
    session.train_df, session.val_df = df, val_df
    session.data_name = Path(train_file).name
    session.text_pair_column = None
    session.set_columns(text_col, label_cols)
    session.use_class_weight = False
    summary, counts, doctor, figure, checkbox = _run_doctor(session, val_pct, None)
    columns = list(df.columns)
    return (
        df.head(PREVIEW_ROWS), gr.update(choices=columns, value=text_col, visible=True),
        gr.update(choices=columns, value=label_cols, visible=True),
        summary, counts, doctor, figure, gr.update(choices=token_views.task_choices(False), value=session.task),
        checkbox,
    )


@user_errors
def load_example(val_pct: float, request: gr.Request):
    """Load the example movie-review CSV shipped in ``assets/`` (outputs as :func:`load_data`)."""
    return load_data(str(EXAMPLE_CSV), None, val_pct, request)


@user_errors
def set_columns(text_column: str, label_columns: list[str] | str, val_pct: float, request: gr.Request):
    """Use other text/label columns, detect the task again and re-run the doctor.

    Args:
        text_column: The text column.
        label_columns: One label column, or several 0/1 columns (multi-label).
        val_pct: Validation share when there is no validation file.

    Returns:
        Summary markdown, class-count table, doctor markdown, length histogram, task radio, class-weight checkbox.
    """
    session = STORE.get(request)
    if session.is_token_data:
        raise DataError("Expected a table to choose columns in. Received: a token file (one word and its tag per "
                        "line), which has no text or label columns. Upload a table to train a text classifier.")
    df = session.require_data()
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns or [])
    if not label_columns:
        raise DataError(f"Expected at least one label column. Received: none. Pick it from {list(df.columns)}.")
    for role, col in [("text", text_column)] + [("label", c) for c in label_columns]:
        if col not in df.columns:
            raise DataError(f"Expected the {role} column to be one of {list(df.columns)}. Received: {col!r}.")
    if text_column in label_columns:
        raise DataError(f"Expected different text and label columns. Received: {text_column!r} for both.")
    session.set_columns(text_column, label_columns)
    summary, counts, doctor, figure, checkbox = _run_doctor(session, val_pct, None)
    return summary, counts, doctor, figure, gr.update(value=session.task), checkbox


@user_errors
def set_text_pair(text_pair_column: str | None, request: gr.Request) -> str:
    """Train on sentence pairs: the chosen column holds each row's second text (NLI hypothesis, STS sentence 2, …).

    Args:
        text_pair_column: A column of the table, or empty for single texts.

    Returns:
        A markdown line saying how rows are read.
    """
    session = STORE.get(request)
    df = session.require_data()
    column = (text_pair_column or "").strip() or None
    if column is not None:
        if column not in df.columns:
            raise DataError(f"Expected the second-text column to be one of {list(df.columns)}. Received: {column!r}.")
        if column == session.text_column or column in session.label_columns:
            raise DataError(f"Expected a second-text column other than the text column ({session.text_column!r}) and "
                            f"the label columns. Received: {column!r}. Choose the first text under 'Text column' "
                            "and press 'Re-check with these columns', then pick the second text here.")
        check_texts(df, column)
    session.text_pair_column = column
    STORE.persist(session)
    if column is None:
        return "Each row is one text."
    return f"Each row is a sentence pair: `{session.text_column}` and `{column}`, read together by the model."


def restore(session: Session, val_pct: float) -> tuple:
    """The Data tab's outputs for a session that already has data (a reloaded page, or a browser back after a
    restart): as :func:`load_data`'s, then the second-text menu and its note; ``gr.update()`` (no change) for
    all of them without data."""
    if session.is_token_data:  # a token file: read again from the session's copy (its original name kept)
        name = session.data_name
        val_file = str(session.token_val_file) if session.token_val_file else None
        outputs = token_views.load_token_data(session, str(session.token_file), val_file, val_pct,
                                              tokenizer=_default_tokenizer(), preview_rows=PREVIEW_ROWS)
        session.data_name = name
        return (*outputs, gr.update(choices=[("(none: single texts)", "")], value=""), "")
    if session.train_df is None or session.text_column not in session.train_df.columns:
        return tuple(gr.update() for _ in range(11))
    if session.doctor_report is not None:  # a reload: the report of this session's data is still in memory
        summary, counts, doctor, figure, checkbox = _doctor_outputs(session, session.doctor_report, val_pct)
    else:  # back after a restart: diagnose the stored table again
        summary, counts, doctor, figure, checkbox = _run_doctor(session, val_pct, session.task)
    columns = list(session.train_df.columns)
    pair = gr.update(choices=[("(none: single texts)", "")] + [(c, c) for c in columns], value=session.text_pair_column or "")
    return (session.train_df.head(PREVIEW_ROWS), gr.update(choices=columns, value=session.text_column),
            gr.update(choices=columns, value=session.label_columns), summary, counts, doctor, figure,
            gr.update(value=session.task), checkbox, pair, "")


def pair_menu(request: gr.Request):
    """The second-text menu after a load: the table's columns, nothing chosen."""
    session = STORE.get(request)
    columns = list(session.train_df.columns) if session.train_df is not None else []
    return gr.update(choices=[("(none: single texts)", "")] + [(c, c) for c in columns], value=""), ""


@user_errors
def set_task(task: str, val_pct: float, request: gr.Request):
    """Override the detected task and re-run the doctor for it.

    Returns:
        Summary markdown, class-count table, doctor markdown, length histogram, class-weight checkbox.
    """
    session = STORE.get(request)
    if session.is_token_data:
        if task != token_views.TOKEN_TASK:
            raise DataError(f"Expected {token_views.TOKEN_TASK!r} for a token file (one tag per word). Received: "
                            f"{task!r}. Upload a table to train a text classifier.")
        return gr.update(), gr.update(), gr.update(), gr.update(), gr.update(visible=False, value=False)
    if task not in TASKS:
        raise DataError(f"Expected the task to be one of {[t.value for t in TASKS]}. Received: {task!r}.")
    return _run_doctor(session, val_pct, task)


@user_errors
def set_class_weight(use: bool, request: gr.Request) -> str:
    """Turn balanced class weights on or off for training (only when the doctor offered them)."""
    session = STORE.get(request)
    session.require_data()
    if use and not session.class_weight_offer:
        raise DataError("Expected imbalanced single-label data before using class weights. Received: the data doctor "
                        "did not offer them for this data. Leave the box unticked.")
    session.use_class_weight = bool(use)
    STORE.persist(session)
    return "Balanced class weights: **on**." if use else "Balanced class weights: off."


@user_errors
def diagnose_json(request: gr.Request) -> dict:
    """The data doctor's full report for the loaded data (see :meth:`kdemo.data.doctor.DataReport.to_dict`)."""
    session = STORE.get(request)
    session.require_any_data()
    report = session.doctor_report
    return report.to_dict() if hasattr(report, "to_dict") else dataclasses.asdict(report)


@user_errors
def entity_preview(request: gr.Request):
    """The first sentences of a token file with their entities highlighted (``gr.HighlightedText``); hidden for
    tables.

    Returns:
        An update of the highlighted preview: ``[(text, entity type or None), ...]`` and visible for a token file.
    """
    session = STORE.get(request)
    if not session.is_token_data:
        return gr.update(value=None, visible=False)
    preview = session.doctor_report.preview[:token_views.PREVIEW_SENTENCES]
    return gr.update(value=token_views.highlighted_preview(preview), visible=True)


def build() -> dict:
    """Lay out the Data tab and wire its events.

    Returns:
        The components other tabs read (``text_column``, ``label_column``, ``val_pct``, ``task``, ``summary``),
        and ``restore`` (:func:`restore`) with the components it fills (``restore_outputs``), for the page-load event.
    """
    gr.Markdown(
        "Upload a labelled table (CSV, TSV, JSONL, Parquet or XLSX; the encoding is detected): a column of texts and "
        "a label column (classes; `a|b` for several labels per text; numbers for regression) or several 0/1 columns. "
        "Columns and task are proposed; change them if needed. The data doctor lists what to fix, with row numbers. "
        "For named entities (token classification), upload a CoNLL/BIO file (a word and its tag per line, a blank "
        "line between sentences) or a JSONL of `tokens` and `ner_tags`."
    )
    with gr.Row():
        train_file = gr.File(label="Training file", elem_id="train-file", file_types=FILE_TYPES, type="filepath")
        val_file = gr.File(label="Validation file (optional)", file_types=FILE_TYPES, type="filepath")
    with gr.Row():
        example_btn = gr.Button("Use example data (120 movie reviews)", variant="secondary")
        load_btn = gr.Button("Load file", variant="primary")
    with gr.Row():
        text_column = gr.Dropdown(label="Text column", choices=[], interactive=True, elem_id="data-text-column")
        label_column = gr.Dropdown(label="Label column(s)", choices=[], multiselect=True, interactive=True)
        val_pct = gr.Slider(0.05, 0.5, value=0.1, step=0.05, label="Validation share (when no validation file)")
    with gr.Row():
        check_btn = gr.Button("Re-check with these columns", size="sm")
        text_pair_column = gr.Dropdown(label="Second text column (sentence pairs; optional)", value="",
                                       choices=[("(none: single texts)", "")], interactive=True,
                                       allow_custom_value=True, elem_id="text-pair-column")  # checked server-side
        pair_note = gr.Markdown()
    encoding = gr.Dropdown(ENCODING_CHOICES, value="", label="Encoding (detection was unsure: choose one to read the "
                           "file again)", visible=False, interactive=True, allow_custom_value=True,
                           elem_id="data-encoding")
    summary = gr.Markdown(elem_id="data-summary")
    with gr.Row():
        task = gr.Radio([t.value for t in TASKS], value=None, label="Task (detected; change to override)", elem_id="data-task")
        use_class_weight = gr.Checkbox(label="Use balanced class weights", visible=False, elem_id="class-weight")
        class_weight_note = gr.Markdown()
    with gr.Row():
        doctor = gr.Markdown(elem_id="data-doctor")
        lengths = gr.Plot(label="Text lengths", show_label=False)  # the figure has its title
    entities = gr.HighlightedText(label="Entities in the first sentences", visible=False, show_legend=True,
                                  color_map=token_views.ENTITY_COLORS, combine_adjacent=False, elem_id="data-entities")
    with gr.Row():
        counts = gr.Dataframe(headers=["class", "rows", "share"], label="Class (entity type) counts", interactive=False,
                              scale=1)
        preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True, scale=3)
    with gr.Accordion("Data doctor report (JSON)", open=False):
        report_json = gr.JSON()
        json_btn = gr.Button("Show", size="sm")

    doctor_outputs = [summary, counts, doctor, lengths]
    outputs = [preview, text_column, label_column, *doctor_outputs, task, use_class_weight]
    load_btn.click(load_data, [train_file, val_file, val_pct], outputs, api_name="load_data").then(
        encoding_menu, None, [encoding], api_visibility="private").then(
        pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
        entity_preview, None, [entities], api_name="entity_preview")
    train_file.upload(load_data, [train_file, val_file, val_pct], outputs, api_visibility="private").then(
        encoding_menu, None, [encoding], api_visibility="private").then(
        pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
        entity_preview, None, [entities], api_visibility="private")
    example_btn.click(load_example, [val_pct], outputs, api_name="load_example").then(
        encoding_menu, None, [encoding], api_visibility="private").then(
        pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
        entity_preview, None, [entities], api_visibility="private")
    encoding.input(reload_data, [train_file, val_file, val_pct, encoding], outputs, api_name="reload_data").then(
        pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
        entity_preview, None, [entities], api_visibility="private")
    check_btn.click(set_columns, [text_column, label_column, val_pct], [*doctor_outputs, task, use_class_weight],
                    api_name="set_columns")
    task.input(set_task, [task, val_pct], [*doctor_outputs, use_class_weight], api_name="set_task")
    use_class_weight.input(set_class_weight, [use_class_weight], [class_weight_note], api_name="set_class_weight")
    text_pair_column.input(set_text_pair, [text_pair_column], [pair_note], api_name="set_text_pair")
    json_btn.click(diagnose_json, None, [report_json], api_name="diagnose")
    return {"text_column": text_column, "label_column": label_column, "val_pct": val_pct, "task": task,
            "summary": summary, "restore": restore, "restore_outputs": [*outputs, text_pair_column, pair_note]}
