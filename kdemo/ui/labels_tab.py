"""Labels tab: find the examples that are probably mislabeled (K-fold cross-validation with cleanlab, or the data
map), show why, keep / drop / relabel each, retrain on the corrected data, download the corrected file.

The search runs on the device queue (:data:`kdemo.ui.session.DEVICE_QUEUE`) like training: ``/find_label_issues``
queues it and follows it with Gradio's progress bar; Stop (``/stop_label_issues``) ends it after the current batch;
other requests are served meanwhile. Its result and the decisions live in the session (``session.labels``).
"""

from __future__ import annotations

import gradio as gr

from kdemo.errors import DataError
from kdemo.jobs import Job
from kdemo.run.label_issues.data_map import plot_data_map
from kdemo.run.models import resolve_model_source
from kdemo.ui import labels
from kdemo.ui.errors import user_errors
from kdemo.ui.session import DEVICE_QUEUE, STORE, Session
from kdemo.ui.train_job import make_config, status_line, training_job

CROSS_VALIDATION, DATA_MAP = "cross_validation", "data_map"
METHOD_CHOICES = [("K-fold cross-validation (thorough: K trainings, cleanlab)", CROSS_VALIDATION),
                  ("Data map (quick: one training's dynamics)", DATA_MAP)]
#: Seconds between two polls of a retrain by the tab.
POLL_S = 1.0


def _state(session: Session) -> labels.LabelState:
    if session.labels is None:
        raise DataError("Expected label issues to act on. Received: none in this session yet. Press 'Find label "
                        "issues' first.")
    return session.labels


def _outputs(session: Session, status: str) -> tuple:
    """Status, summary, table, data-map figure, new-label choices and the decisions line of the session's search."""
    state = session.labels
    issues = state.issues if state is not None else None
    figure = plot_data_map(issues) if issues is not None and issues.method == DATA_MAP else None
    names = list(issues.class_names) if issues is not None else []
    return (status, labels.summary_md(state), labels.table_view(state), gr.update(value=figure, visible=figure is not None),
            gr.update(choices=names, value=names[0] if names else None), labels.decisions_line(state))


def _wait(job: Job, progress) -> None:
    """Block until ``job`` ends, showing its queue position, then its fold and step, in ``progress``."""
    while not job.wait(0.5):
        ahead = DEVICE_QUEUE.position(job)
        if ahead:
            progress(0.0, desc=f"Waiting for the device: {ahead} job(s) ahead")
        else:
            progress(job.eta_s, desc=job.phase or "Starting")


@user_errors
def find_issues(method, folds, model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze,
                schedule=None, early_stopping=0, reduce_on_plateau=0, cycle_len=1, cycle_mult=1,
                request: gr.Request = None, progress=gr.Progress()):  # noqa: B008 - Gradio injects it
    """Find the probably mislabeled rows of the session's data with the Train tab's settings, as a job on the
    device queue (the request follows it; Stop ends it).

    ``method`` is ``"cross_validation"`` (K = ``folds`` trainings give out-of-sample probabilities to cleanlab) or
    ``"data_map"`` (one training's per-example confidence and variability, Swayamdipta et al. 2020).

    Returns:
        Status line, summary markdown, the table (row, text with its highlighting, given label, suggested label,
        label quality, flagged, action), the data-map figure (data map only), the new-label choices and the
        decisions line.

    Raises:
        KdemoError: Without data, for question answering, for K below 2 or above the rows or the smallest class, or
            for settings the Train tab refuses.
    """
    session = STORE.get(request)
    data_map = method == DATA_MAP
    with session.lock:  # one check-and-submit at a time
        session.require_idle("finding label issues")
        data = session.require_data()
        k = labels.check_request(data, folds, data_map)
        cfg = make_config(session, model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze, schedule,
                          early_stopping, reduce_on_plateau, cycle_len, cycle_mult)
        resolve_model_source(cfg.model_name, policy=session.policy)
        like = str(session.token_file) if session.token_file is not None else session.upload_file
        job = session.label_job = DEVICE_QUEUE.submit(labels.search_job(session, cfg, k, data_map, like))
    progress(0.0, desc="Queued")
    _wait(job, progress)
    if job.error is not None:
        raise job.error
    if job.result is None:
        return _outputs(session, "⏹️ Stopped before the search ended; the previous result (if any) is shown.")
    return _outputs(session, f"✅ Finished in {job.elapsed_s:.0f} s.")


@user_errors
def stop_search(request: gr.Request) -> str:
    """Stop this session's label-issue search: a queued one leaves the queue, a running one ends after the batch."""
    job = STORE.get(request).label_job
    if job is None or not job.active:
        return "Nothing is searching right now."
    DEVICE_QUEUE.cancel(job)
    return "⏹️ Stopping the search…"


@user_errors
def show(request: gr.Request):
    """The session's last search and decisions (the tab's outputs; also after a page reload)."""
    session = STORE.get(request)
    job = session.label_job
    status = "⏳ Searching…" if job is not None and job.active else ""
    return _outputs(session, status)


@user_errors
def set_action(rows, action, new_label, request: gr.Request):
    """Keep, drop or relabel (to ``new_label``) the rows given as ``"3, 17"``.

    Returns:
        The table and the decisions line.

    Raises:
        DataError: For an unknown row, or a new label that is not one of the data's classes.
    """
    state = _state(STORE.get(request))
    labels.decide(state, rows, action, new_label)
    return labels.table_view(state), labels.decisions_line(state)


@user_errors
def edit_table(table, request: gr.Request):
    """Read the table's edited ``action`` column (keep, drop or a new label) into the decisions."""
    state = _state(STORE.get(request))
    labels.decisions_from_table(state, table)
    return labels.table_view(state), labels.decisions_line(state)


@user_errors
def accept_all(request: gr.Request):
    """Relabel every flagged row to its suggested label; returns the table and the decisions line."""
    state = _state(STORE.get(request))
    labels.accept_suggestions(state)
    return labels.table_view(state), labels.decisions_line(state)


@user_errors
def clear_decisions(request: gr.Request):
    """Keep every row again; returns the table and the decisions line."""
    state = _state(STORE.get(request))
    state.decisions.clear()
    return labels.table_view(state), labels.decisions_line(state)


@user_errors
def download(request: gr.Request) -> str:
    """Write the training file with the decisions applied, in the uploaded file's format, into the session's folder.

    Returns:
        The file's path (offered for download).
    """
    session = STORE.get(request)
    return str(labels.write_corrected_file(_state(session), session.workdir))


@user_errors
def retrain(run_name, model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze, schedule=None,
            early_stopping=0, reduce_on_plateau=0, cycle_len=1, cycle_mult=1, request: gr.Request = None):
    """Apply the decisions and start a new training run on the corrected data (the session's data from now on)
    through the Train tab's job: it shows in the Train tab while it runs and in the Runs tab once done.

    Returns:
        A status line and the polling timers (this tab's and the Train tab's), switched on.
    """
    session = STORE.get(request)
    with session.lock:
        session.require_idle("retraining")
        state = _state(session)
        data = labels.corrected_data(state, session.workdir)
        before, session.data = session.data, data
        try:
            cfg = make_config(session, model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze,
                              schedule, early_stopping, reduce_on_plateau, cycle_len, cycle_mult,
                              run_name or f"corrected labels ({len(state.decisions)} changes)")
            resolve_model_source(cfg.model_name, policy=session.policy)
        except Exception:
            session.data = before
            raise
        STORE.persist(session)
        job = session.job = DEVICE_QUEUE.submit(training_job(session, cfg))
    return status_line(job, DEVICE_QUEUE.position(job)), gr.Timer(active=True), gr.Timer(active=True)


@user_errors
def retrain_status(request: gr.Request):
    """The retrain's status line (the session's training job) and this tab's timer, off once the job ended."""
    job = STORE.get(request).job
    if job is None:
        return "", gr.Timer(active=False)
    return status_line(job, DEVICE_QUEUE.position(job)), gr.Timer(active=not job.done)


def build(train: dict) -> dict:
    """Lay out the Labels tab and wire its events.

    Args:
        train: The Train tab's components: ``config_inputs`` (the settings a run's config is built from) and
            ``timer`` (its polling timer, switched on by a retrain).

    Returns:
        ``{"outputs": [...], "refresh": fn}``: what the tab's select event fills.
    """
    gr.Markdown("Find the rows whose label is probably wrong, with the **Train tab's settings** (model, maxlen, batch "
                "size, learning rate, epochs). K-fold cross-validation trains K models and gives their out-of-sample "
                "probabilities to cleanlab (confident learning, Northcutt et al. 2021); the data map reads one "
                "training's per-example confidence and variability (Swayamdipta et al. 2020).")
    with gr.Row():
        method = gr.Radio(METHOD_CHOICES, value=CROSS_VALIDATION, label="Method", elem_id="labels-method", scale=3)
        folds = gr.Number(value=5, precision=0, label="K (folds)", elem_id="labels-folds")
    with gr.Row():
        find_btn = gr.Button("Find label issues", variant="primary", elem_id="labels-find")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="labels-stop")
    status = gr.Markdown(elem_id="labels-status")
    summary = gr.Markdown(elem_id="labels-summary")
    figure = gr.Plot(label="Data map", show_label=False, visible=False, elem_id="labels-data-map")
    table = gr.Dataframe(
        labels.table_view(None), label="Rows by label quality (edit 'action': keep, drop or a new label)",
        datatype=["number", "html", "str", "str", "number", "str", "str"], interactive=True, wrap=True,
        static_columns=list(range(len(labels.TABLE_COLUMNS) - 1)), column_widths=["6%", "38%", "12%", "14%", "10%", "7%", "13%"],
        max_height=600, elem_id="labels-table",
    )
    with gr.Row():
        rows = gr.Textbox(label="Rows (e.g. 3, 17)", scale=2, elem_id="labels-rows")
        action = gr.Radio([labels.KEEP, labels.DROP, labels.RELABEL], value=labels.RELABEL, label="Action",
                          elem_id="labels-action", scale=2)
        new_label = gr.Dropdown([], label="New label", allow_custom_value=True, elem_id="labels-new-label", scale=2)
        set_btn = gr.Button("Set", elem_id="labels-set")
    with gr.Row():
        accept_btn = gr.Button("Relabel every flagged row to its suggestion", size="sm", elem_id="labels-accept")
        clear_btn = gr.Button("Keep every row", size="sm", elem_id="labels-clear")
    decisions = gr.Markdown(elem_id="labels-decisions")
    with gr.Row():
        run_name = gr.Textbox("", label="Run name (optional)", elem_id="labels-run-name", scale=2)
        retrain_btn = gr.Button("Retrain on the corrected data", variant="primary", elem_id="labels-retrain")
        download_btn = gr.Button("Download corrected file", elem_id="labels-download")
    retrain_md = gr.Markdown(elem_id="labels-retrain-status")
    corrected = gr.File(label="Corrected file", interactive=False, elem_id="labels-corrected-file")
    timer = gr.Timer(POLL_S, active=False)

    config_inputs = train["config_inputs"]
    outputs = [status, summary, table, figure, new_label, decisions]
    find_btn.click(find_issues, [method, folds, *config_inputs], outputs, api_name="find_label_issues",
                   concurrency_limit=None)
    stop_btn.click(stop_search, None, [status], api_name="stop_label_issues", concurrency_limit=None)
    set_btn.click(set_action, [rows, action, new_label], [table, decisions], api_name="set_label_action")
    table.input(edit_table, [table], [table, decisions], api_visibility="private")
    accept_btn.click(accept_all, None, [table, decisions], api_name="accept_label_suggestions")
    clear_btn.click(clear_decisions, None, [table, decisions], api_name="clear_label_decisions")
    download_btn.click(download, None, [corrected], api_name="download_corrected")
    retrain_btn.click(retrain, [run_name, *config_inputs], [retrain_md, timer, train["timer"]],
                      api_name="retrain_corrected", concurrency_limit=None)
    timer.tick(retrain_status, None, [retrain_md, timer], api_name="retrain_status", concurrency_limit=None,
               show_progress="hidden")
    return {"outputs": outputs, "refresh": show}
