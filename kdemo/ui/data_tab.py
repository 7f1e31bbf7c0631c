"""Data tab: upload a labelled file (or use the example), choose columns and task, and read the data doctor."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import gradio as gr

from kdemo.data.columns import check_texts
from kdemo.data.encodings import ENCODING_CHOICES
from kdemo.data.lengths import count_longer
from kdemo.data.limits import upload_limit_note
from kdemo.data.sniff import FILE_TYPES, sniff
from kdemo.data.tables import read_info
from kdemo.errors import DataError, KdemoError
from kdemo.run.models import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.tasks import TASKS
from kdemo.ui.hub_data import build as build_hub_box
from kdemo.ui.hub_data import wire as wire_hub_box
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE, Session
from kdemo.ui.views import tokens, view_for

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "assets" / "example_reviews.csv"
PREVIEW_ROWS = 20
#: Outputs of :func:`load_data` (preview, columns, summary, counts, doctor, lengths, task, class weights).
LOAD_OUTPUTS = 9


@user_errors
def load_data(train_file: str | None, val_file: str | None, val_pct: float, request: gr.Request,
              progress=gr.Progress()):  # noqa: B008 - Gradio's way: a Progress default, never an API input
    """Read the uploaded training (and optional validation) file, propose columns, run the data doctor.

    The encoding of text files is detected (:mod:`kdemo.data.encodings`); :func:`reload_data` reads the training
    file again with a chosen one.

    Returns:
        Preview table, text-column dropdown, label-column(s) dropdown, summary markdown, class-count table, doctor
        markdown, text-length histogram, task radio, and the class-weight checkbox. Meanwhile ``progress`` shows the
        stage: reading the file (detecting its encoding), the rows or sentences read, the data doctor, done.
    """
    return _load(train_file, val_file, val_pct, request, progress=progress)


@user_errors
def reload_data(train_file: str | None, val_file: str | None, val_pct: float, encoding: str | None,
                request: gr.Request, progress=gr.Progress()):  # noqa: B008 - a Progress default, not an input
    """Read the training file again with ``encoding`` (a Python codec from the Encoding menu; ``""`` detects it).

    Returns:
        As :func:`load_data`.
    """
    return _load(train_file, val_file, val_pct, request, encoding or None, progress=progress)


def encoding_menu(request: gr.Request):
    """The Encoding menu after a load: shown when the detection was unsure or an encoding was chosen, set to the
    codec used."""
    session = STORE.get(request)
    df = getattr(session.data, "train_df", None)
    info = read_info(df) if df is not None else {}
    codecs = {codec for _, codec in ENCODING_CHOICES}
    codec = info.get("codec") if info.get("encoding_method") == "given" and info.get("codec") in codecs else ""
    show = info.get("encoding_sure") is False or info.get("encoding_method") == "given"
    return gr.update(visible=show, value=codec if show else "")


def _load(train_file: str | None, val_file: str | None, val_pct: float, request: gr.Request,
          encoding: str | None = None, progress=None):
    """Read a file into the session; a refused file leaves the session's data and choices as they were.

    ``progress`` (a ``gr.Progress``, or None) is told each stage, without a fraction: Gradio then shows the words
    and no made-up share of the work."""
    session = STORE.get(request)
    if not train_file:
        raise DataError("Expected a training file. Received: nothing. Upload a CSV, TSV, JSONL, Parquet or XLSX file, "
                        "a CoNLL/BIO token file, or click 'Use example data'.")
    before = (session.data, session.doctor_report, session.class_weight_offer, session.use_class_weight)
    try:
        # a table or a token file (one word and its tag per line, or JSONL of tokens and tags): its view reads it once
        outputs = view_for(sniff(train_file)).load(session, train_file, val_file, val_pct, encoding=encoding,
                                                   preview_rows=PREVIEW_ROWS, progress=progress)
    except Exception:
        session.data, session.doctor_report, session.class_weight_offer, session.use_class_weight = before
        raise
    session.upload_file = str(train_file)
    if progress is not None:
        progress(None, desc="Done")
    return outputs


def _example_copy() -> Path:
    """The example CSV copied to the system's temporary folder, from where Gradio may show it in the file box
    (``assets/`` is outside its allowed folders when the app runs from elsewhere)."""
    copy = Path(tempfile.gettempdir()) / "kdemo-example" / EXAMPLE_CSV.name
    if not copy.is_file() or copy.stat().st_size != EXAMPLE_CSV.stat().st_size:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLE_CSV, copy)
    return copy


@user_errors
def load_example(val_pct: float, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - not an input
    """Load the example movie-review CSV shipped in ``assets/`` (outputs and progress as :func:`load_data`)."""
    return load_data(str(_example_copy()), None, val_pct, request, progress=progress)


def file_box(session: Session):
    """The Training-file box for the session: the file its data was read from (after a reload, a refused upload or
    the example); the loaded file's name in the label when that file is gone (a restart); no change without data
    (a page still loading must not clear a file the user just chose)."""
    label = "Training file"
    if session.data is None:
        return gr.update()
    if session.upload_file and Path(session.upload_file).is_file():
        return gr.update(value=session.upload_file, label=label)
    return gr.update(value=None, label=f"{label} (loaded: {session.data_name}; upload it again to read it again)")


def loaded_file(request: gr.Request):
    """The Training-file box after a successful load: the file that was read (see :func:`file_box`)."""
    return file_box(STORE.get(request))


def refused(request: gr.Request):
    """After a refused file (its message already shown): the Data tab's outputs stay as they were, and so does the
    session's data; the Training-file box shows the file that data came from again, not the refused one.

    Returns:
        ``gr.update()`` (no change) for each of :func:`load_data`'s outputs (which also clears their error marks),
        then the file box's update.
    """
    session = STORE.get(request)
    box = file_box(session) if session.data is not None else gr.update(value=None)  # nothing loaded: empty
    return (*(gr.update() for _ in range(LOAD_OUTPUTS)), box)


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
    view_for(session.spec).require_columns(session)  # a token file has none
    df = session.require_data().train_df
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns or [])
    if not label_columns:
        raise DataError(f"Expected at least one label column. Received: none. Pick it from {list(df.columns)}.")
    for role, col in [("text", text_column)] + [("label", c) for c in label_columns]:
        if col not in df.columns:
            raise DataError(f"Expected the {role} column to be one of {list(df.columns)}. Received: {col!r}.")
    if text_column in label_columns:
        raise DataError(f"Expected different text and label columns. Received: {text_column!r} for both.")
    session.set_columns(text_column, label_columns)  # the same table, other columns: nothing is read again
    summary, counts, doctor, figure, checkbox = view_for(session.spec).run_doctor(session, val_pct, None)
    return summary, counts, doctor, figure, gr.update(value=session.data.spec.task.value), checkbox


@user_errors
def set_text_pair(text_pair_column: str | None, request: gr.Request) -> str:
    """Train on sentence pairs: the chosen column holds each row's second text (NLI hypothesis, STS sentence 2, …).

    Args:
        text_pair_column: A column of the table, or empty for single texts.

    Returns:
        A markdown line saying how rows are read.
    """
    session = STORE.get(request)
    view_for(session.spec).require_columns(session)
    data = session.require_data()
    df = data.train_df
    column = (text_pair_column or "").strip() or None
    if column is not None:
        if column not in df.columns:
            raise DataError(f"Expected the second-text column to be one of {list(df.columns)}. Received: {column!r}.")
        if column == data.text_column or column in data.label_columns:
            raise DataError(f"Expected a second-text column other than the text column ({data.text_column!r}) and "
                            f"the label columns. Received: {column!r}. Choose the first text under 'Text column' "
                            "and press 'Re-check with these columns', then pick the second text here.")
        check_texts(df, column)
    session.data = dataclasses.replace(data, text_pair_column=column)  # the same table: nothing is read again
    STORE.persist(session)
    if column is None:
        return "Each row is one text."
    return f"Each row is a sentence pair: `{data.text_column}` and `{column}`, read together by the model."


def restore(session: Session, val_pct: float) -> tuple:
    """The Data tab's outputs for a session that already has data (a reloaded page, or a browser back after a
    restart): as :func:`load_data`'s, then the second-text menu and its note; ``gr.update()`` (no change) for
    all of them without data."""
    if session.data is None:
        return tuple(gr.update() for _ in range(11))
    return view_for(session.spec).restore(session, val_pct, PREVIEW_ROWS)


def pair_menu(request: gr.Request):
    """The second-text menu after a load: the table's columns, nothing chosen."""
    session = STORE.get(request)
    df = getattr(session.data, "train_df", None)
    columns = list(df.columns) if df is not None else []
    return gr.update(choices=[("(none: single texts)", "")] + [(c, c) for c in columns], value=""), ""


@user_errors
def set_task(task: str, val_pct: float, request: gr.Request):
    """Override the detected task and re-run the doctor for it.

    Returns:
        Summary markdown, class-count table, doctor markdown, length histogram, class-weight checkbox.
    """
    session = STORE.get(request)
    session.require_data()
    return view_for(session.spec).set_task(session, task, val_pct)


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
    session.require_data()
    return session.doctor_report.to_dict()


@user_errors
def entity_preview(request: gr.Request):
    """The first sentences of a token file with their entities highlighted (``gr.HighlightedText``); hidden for
    tables.

    Returns:
        An update of the highlighted preview: ``[(text, entity type or None), ...]`` and visible for a token file.
    """
    session = STORE.get(request)
    if session.data is None:
        return gr.update(value=None, visible=False)
    return view_for(session.spec).entity_preview(session)


def truncation_note(session: Session, model_name: str | None, maxlen: float | None) -> str:
    """How many training texts are longer than ``maxlen`` tokens of the chosen model (cut when it reads them), from
    the data the session holds (nothing is read again; a random sample of a big table is tokenized).

    Args:
        session: The session (its ``data``).
        model_name: The Train tab's model (Hub id or folder); empty for the default model.
        maxlen: The chosen maxlen in tokens.

    Returns:
        A markdown line; ``""`` without data or maxlen, or when the model's tokenizer cannot be loaded here.
    """
    try:
        texts = session.require_data().texts()
    except (KdemoError, KeyError):  # no data, or a table whose text column is gone
        return ""
    if not maxlen or maxlen < 1:
        return ""
    maxlen, name = int(maxlen), (model_name or "").strip() or DEFAULT_MODEL_ID
    try:
        tokenizer = load_tokenizer(resolve_model_source(name, policy=session.policy))
    except KdemoError:
        return ""
    longer, total, estimated = count_longer(texts, tokenizer, maxlen)
    if not longer:
        return f"✅ All {total:,} training texts fit in maxlen {maxlen} (tokens of `{name}`): none is cut."
    about = "about " if estimated else ""
    return (f"✂️ {about}{longer:,} of {total:,} training texts ({longer / max(total, 1):.0%}) are longer than maxlen "
            f"{maxlen} (tokens of `{name}`) and will be cut to it. A larger maxlen keeps more of them, at more memory "
            "and time per step.")


@user_errors
def use_suggestions(model_name: str | None, request: gr.Request):
    """Put the data doctor's suggested maxlen and batch size into the Train tab's fields ("Use these settings").

    Args:
        model_name: The Train tab's model, whose tokens the truncation count is in.

    Returns:
        The Train tab's maxlen and batch-size updates, and a markdown line saying what was set and how many training
        texts the suggested maxlen cuts.

    Raises:
        KdemoError: Before an upload, or when the doctor made no suggestion for this data.
    """
    session = STORE.get(request)
    session.require_data()
    maxlen = getattr(session.doctor_report, "suggested_maxlen", None)
    batch = getattr(session.doctor_report, "suggested_batch_size", None)
    if not maxlen and not batch:
        raise DataError("Expected the data doctor's suggested maxlen and batch size. Received: none for this data "
                        "(the default model's tokenizer could not be loaded). Set them in the Train tab.")
    said = " and ".join(f"{what} **{value}**" for what, value in (("maxlen", maxlen), ("batch size", batch)) if value)
    note = truncation_note(session, model_name, maxlen)
    return (gr.update(value=maxlen) if maxlen else gr.update(), gr.update(value=batch) if batch else gr.update(),
            f"Train tab set to the doctor's {said}. {note}".strip())


def wire_suggestions(data: dict, model_name, maxlen, batch_size) -> None:
    """Wire "Use these settings" to the Train tab's fields (built after this tab).

    Args:
        data: What :func:`build` returned (its ``use_settings`` button and ``settings_note``).
        model_name: The Train tab's model field (input).
        maxlen: The Train tab's maxlen field (output).
        batch_size: The Train tab's batch-size field (output).
    """
    data["use_settings"].click(use_suggestions, [model_name], [maxlen, batch_size, data["settings_note"]],
                               api_name="use_suggestions")


def build() -> dict:
    """Lay out the Data tab and wire its events.

    Returns:
        The components other tabs read (``text_column``, ``label_column``, ``val_pct``, ``task``, ``summary``;
        ``use_settings`` and ``settings_note``, wired by :func:`wire_suggestions`),
        and ``restore`` (:func:`restore`, then :func:`file_box`) with the components it fills (``restore_outputs``),
        for the page-load event.
    """
    gr.Markdown(
        "Upload a labelled table (CSV, TSV, JSONL, Parquet or XLSX; the encoding is detected): a column of texts and "
        "a label column (classes; `a|b` for several labels per text; numbers for regression) or several 0/1 columns. "
        "Columns and task are proposed; change them if needed. The data doctor lists what to fix, with row numbers. "
        "For named entities (token classification), upload a CoNLL/BIO file (a word and its tag per line, a blank "
        "line between sentences) or a JSONL of `tokens` and `ner_tags`. For question answering, upload SQuAD JSON or a "
        "table with `question`, `context` and `answers` columns. " + upload_limit_note(),
        elem_id="data-intro",
    )
    with gr.Row():
        train_file = gr.File(label="Training file", elem_id="train-file", file_types=list(FILE_TYPES), type="filepath")
        val_file = gr.File(label="Validation file (optional)", file_types=list(FILE_TYPES), type="filepath")
    with gr.Row():
        example_btn = gr.Button("Use example data (120 movie reviews)", variant="secondary")
        load_btn = gr.Button("Load file", variant="primary")
    hub_box = build_hub_box()
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
        use_settings = gr.Button("Use these settings (the doctor's maxlen and batch size) in the Train tab", size="sm",
                                 elem_id="use-settings")
        settings_note = gr.Markdown(elem_id="data-settings-note")
    with gr.Row():
        doctor = gr.Markdown(elem_id="data-doctor")
        lengths = gr.Plot(label="Text lengths", show_label=False)  # the figure has its title
    entities = gr.HighlightedText(label="Entities in the first sentences", visible=False, show_legend=True,
                                  color_map=tokens.ENTITY_COLORS, combine_adjacent=False, elem_id="data-entities")
    with gr.Row():
        counts = gr.Dataframe(headers=["class", "rows", "share"], label="Class (entity type) counts", interactive=False,
                              scale=1)
        preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True, scale=3)
    with gr.Accordion("Data doctor report (JSON)", open=False):
        report_json = gr.JSON()
        json_btn = gr.Button("Show", size="sm")

    doctor_outputs = [summary, counts, doctor, lengths]
    outputs = [preview, text_column, label_column, *doctor_outputs, task, use_class_weight]
    # a refused file changes nothing: the steps after a load run only on success, and `refused` puts the file box
    # back and re-sends the outputs unchanged (which clears Gradio's error marks on them); the message is the toast
    kept = [*outputs, train_file]
    for event, preview_api in (
        (load_btn.click(load_data, [train_file, val_file, val_pct], outputs, api_name="load_data"), "entity_preview"),
        (train_file.upload(load_data, [train_file, val_file, val_pct], outputs, api_visibility="private"), None),
        (example_btn.click(load_example, [val_pct], outputs, api_name="load_example"), None),
    ):
        event.failure(refused, None, kept, api_visibility="private", show_progress="hidden")
        event.success(loaded_file, None, [train_file], api_visibility="private", show_progress="hidden").then(
            encoding_menu, None, [encoding], api_visibility="private").then(
            pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
            entity_preview, None, [entities], **({"api_name": preview_api} if preview_api else
                                                 {"api_visibility": "private"}))
    from_hub = wire_hub_box(hub_box, val_pct, outputs, _load)
    from_hub.failure(refused, None, kept, api_visibility="private", show_progress="hidden")
    from_hub.failure(lambda: "", None, [hub_box["note"]], api_visibility="private", show_progress="hidden")
    from_hub.success(pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
        entity_preview, None, [entities], api_visibility="private")
    reload = encoding.input(reload_data, [train_file, val_file, val_pct, encoding], outputs, api_name="reload_data")
    reload.failure(refused, None, kept, api_visibility="private", show_progress="hidden")
    reload.success(pair_menu, None, [text_pair_column, pair_note], api_visibility="private").then(
        entity_preview, None, [entities], api_visibility="private")
    check_btn.click(set_columns, [text_column, label_column, val_pct], [*doctor_outputs, task, use_class_weight],
                    api_name="set_columns")
    task.input(set_task, [task, val_pct], [*doctor_outputs, use_class_weight], api_name="set_task")
    use_class_weight.input(set_class_weight, [use_class_weight], [class_weight_note], api_name="set_class_weight")
    text_pair_column.input(set_text_pair, [text_pair_column], [pair_note], api_name="set_text_pair")
    json_btn.click(diagnose_json, None, [report_json], api_name="diagnose")
    return {"text_column": text_column, "label_column": label_column, "val_pct": val_pct, "task": task,
            "summary": summary, "use_settings": use_settings, "settings_note": settings_note, "restore_outputs": [*outputs, text_pair_column, pair_note, train_file],
            "restore": lambda session, val_pct: (*restore(session, val_pct), file_box(session))}
