"""Train tab: model and hyperparameters, LR finder, one-cycle training as a background job with a live loss curve.

Training runs on the device queue (:data:`kdemo.ui.session.DEVICE_QUEUE`), not in the HTTP request: the Train
button queues a job and returns, and a ``gr.Timer`` polls the session's job once a second. A reloaded page finds its
session again (see :mod:`kdemo.ui.session`) and shows the running or finished job. API clients call ``/train`` and
then ``/training_status`` until it reports the end.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from kdemo.data.languages import analyse_languages
from kdemo.device import describe_device
from kdemo.errors import KdemoError
from kdemo.jobs import FINISHED, QUEUED, STOPPED, Job
from kdemo.plots import loss_curve_figure
from kdemo.run import lr_find
from kdemo.run.config import ONE_CYCLE, SCHEDULES
from kdemo.run.lr_find import LR_FIND_STEPS
from kdemo.run.models import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.tasks import spec_for
from kdemo.ui.data_tab import truncation_note
from kdemo.ui.errors import user_errors
from kdemo.ui.multi_gpu_job import ONE_DEVICE, all_gpus_choice, gpu_count, multi_gpu_job
from kdemo.ui.session import DEVICE_QUEUE, STORE, Session
from kdemo.ui.train_job import TOP_LOSSES, make_config, resumable, status_line, training_job
from kdemo.ui.train_report import belongs_to, health_md
from kdemo.ui.views import view_for

#: Seconds between two polls of the job by an open page.
POLL_S = 1.0
#: Column headers shown while the tables are empty (Gradio shows "1 2 3" for a table without columns).
METRIC_COLUMNS = ["class", "precision", "recall", "f1-score", "support"]
TOP_LOSS_COLUMNS = ["row", "true", "predicted", "loss", "text"]
#: Characters of a text the top-losses table shows (the whole text appears below it when its row is clicked).
TOP_LOSS_TEXT_CHARS = 120


#: The schedule choices as the Train tab names them.
SCHEDULE_LABELS = {"one_cycle": "one-cycle (default)", "autofit": "autofit (early stopping, plateau cuts)",
                   "sgdr": "SGDR (warm restarts)"}


@user_errors
def suggest_maxlen_for(model_name: str, request: gr.Request) -> int:
    """Suggest maxlen: the token length (multiple of 8) covering 95 % of the training texts (or sentence pairs), for
    this model."""
    session = STORE.get(request)
    data = session.require_data()
    tokenizer = load_tokenizer(resolve_model_source(model_name or None, policy=session.policy))
    return view_for(data.spec).suggest_maxlen(data, tokenizer)


@user_errors
def model_coverage(model_name: str, request: gr.Request) -> str:
    """Whether the model's tokenizer can read the session's texts: the data doctor's language-coverage warning
    for *this* model (:meth:`kdemo.data.languages.LanguageReport.warning`), shown next to the model field.

    Returns:
        Markdown: a warning naming the language, the share of unknown tokens and models that cover it; a short
        line when the model covers the data; ``""`` without data or when the tokenizer cannot be loaded here.
    """
    session = STORE.get(request)
    try:
        texts = session.require_data().texts()
    except (KdemoError, KeyError):  # no data, or a table whose text column is gone
        return ""
    name = (model_name or "").strip() or DEFAULT_MODEL_ID
    try:
        tokenizer = load_tokenizer(resolve_model_source(name, policy=session.policy))
    except KdemoError as exc:
        return f"ℹ️ Could not check which languages `{name}` reads: {exc}"
    report = analyse_languages(texts, tokenizer)
    warning = report.warning(name)
    if warning:
        return f"⚠️ {warning}"
    return (f"✅ `{name}` knows {100 - (report.unk_share or 0) * 100:.0f} % of the tokens of this data "
            f"(languages: {report.describe()}).")


@user_errors
def truncation(model_name: str, maxlen: float | None, request: gr.Request) -> str:
    """The line under the maxlen field: how many training texts are longer than the chosen maxlen (cut to it), in
    the chosen model's tokens (:func:`kdemo.ui.data_tab.truncation_note`); for data read in windows, that nothing is
    cut."""
    session = STORE.get(request)
    view = view_for(session.spec)
    return view.window_note(maxlen) if session.data is not None and view.WINDOWS else truncation_note(
        session, model_name, maxlen)


@user_errors
def train_options(maxlen, doc_stride, request: gr.Request):
    """The maxlen and doc_stride fields for the session's data (doc_stride shown only for data read in windows)."""
    session = STORE.get(request)
    return view_for(session.spec).train_options(session, maxlen, doc_stride)


def _wire_truncation(data: dict, model_name, maxlen, note) -> None:
    """Count the texts the chosen maxlen cuts whenever maxlen, the model or the data changes."""
    maxlen.change(truncation, [model_name, maxlen], [note], api_name="truncation", show_progress="hidden")
    model_name.blur(truncation, [model_name, maxlen], [note], api_visibility="private", show_progress="hidden")
    data["summary"].change(truncation, [model_name, maxlen], [note], api_visibility="private", show_progress="hidden")


def _wait(job: Job, progress, desc: str) -> None:
    """Block until ``job`` ends, showing its queue position, then its steps, in ``progress``."""
    while not job.wait(0.5):
        ahead = DEVICE_QUEUE.position(job)
        if ahead:
            progress(0.0, desc=f"Waiting for the device: {ahead} job(s) ahead")
        elif job.total_steps:
            progress((len(job.step_losses), job.total_steps), desc=desc, unit="steps")


@user_errors
def find_lr(model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze, doc_stride=None,
            request: gr.Request = None, progress=gr.Progress()):  # noqa: B008 - Gradio injects it
    """Run the LR finder (LR-range test) on a fresh copy of the model, as a job on the device queue.

    Returns:
        The LR-finder plot and a markdown line with the suggested learning rates.
    """
    session = STORE.get(request)

    def run(job: Job):
        job.phase = "Loading the model and tokenizing the data"

        def on_step(ev):  # one loss per step of the range test
            job.step_losses.append(ev.loss)

        def on_prepared(learner):
            session.learner = learner
            job.total_steps, job.phase = LR_FIND_STEPS, "LR finder"

        return lr_find(cfg, data, policy=policy, num_steps=LR_FIND_STEPS, on_step=on_step, stop=job.stop_event,
                       on_prepared=on_prepared)

    with session.lock:  # one check-and-submit at a time: two clicks must not queue two jobs
        session.require_idle("running the LR finder")
        data = session.require_data()  # the data as it is now, even if the Data tab changes while queued
        cfg = make_config(session, model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze,
                          doc_stride=doc_stride)
        policy = session.policy
        resolve_model_source(cfg.model_name, policy=policy)
        job = session.lr_job = DEVICE_QUEUE.submit(Job(run, kind="lr_find", owner=session.owner))
    progress(0.0, desc="Queued")
    _wait(job, progress, "LR finder")
    if job.error is not None:
        raise job.error
    if job.state not in (FINISHED, STOPPED) or job.result is None:
        raise KdemoError("Expected the LR finder to run. Received: a Stop before it started. Press 'Find learning rate' "
                         "again to run it.")
    result = job.result
    if result.suggestions is None:
        raise KdemoError(f"The LR finder ran only {len(result.losses)} steps, too few to suggest a rate. "
                         "Use more data or a smaller batch size.")
    return result.figure, result.summary()


def _report_outputs(session: Session, report) -> tuple[str, pd.DataFrame, object]:
    """Markdown summary, table and figure of the validation report of the session's run, drawn by its task's view
    (the task of the run's config; of the session's data when the config leaves it open)."""
    task = getattr(session.train_config, "task", None)
    return view_for(spec_for(task) if task is not None else session.spec).report_outputs(report)


@user_errors
def report_for_data(request: gr.Request) -> str:
    """The report markdown again after the Data tab changed the data: marked as the earlier data's when it is."""
    return _job_outputs(STORE.get(request))[2] or gr.update()


def _top_losses_view(top: pd.DataFrame | None) -> pd.DataFrame:
    """The top-losses table as the tab shows it: row, true label, prediction and loss first, then the text cut to
    :data:`TOP_LOSS_TEXT_CHARS` characters with "…" (a whole review would push the other columns off-screen)."""
    if top is None or top.empty:
        return pd.DataFrame(columns=TOP_LOSS_COLUMNS)
    view = top.reindex(columns=TOP_LOSS_COLUMNS).copy()
    view["text"] = [t if len(t) <= TOP_LOSS_TEXT_CHARS else t[:TOP_LOSS_TEXT_CHARS - 1].rstrip() + "…"
                    for t in view["text"].astype(str)]
    view["row"] = [r if not isinstance(r, str) or len(r) <= 24 else r[:23] + "…" for r in view["row"]]  # a place
    return view


@user_errors
def top_loss_text(evt: gr.SelectData, request: gr.Request) -> str:
    """The whole text of the top-losses row clicked, with its true label, prediction and loss.

    Returns:
        Plain text for the box under the table; ``""`` when the session has no finished run's table.
    """
    job = STORE.get(request).job
    top = (job.result or {}).get("top_losses") if job is not None and job.done else None
    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if top is None or not isinstance(index, int) or not 0 <= index < len(top):
        return ""
    row = top.iloc[index]
    return f"Row {row['row']} (true: {row['true']}; predicted: {row['predicted']}; loss {row['loss']}):\n{row['text']}"


def _job_outputs(session: Session) -> tuple:
    """The Train tab's outputs for the session's training job (see :func:`training_status`)."""
    keep, metrics, top = gr.update(), pd.DataFrame(columns=METRIC_COLUMNS), pd.DataFrame(columns=TOP_LOSS_COLUMNS)
    job = session.job
    if job is None:
        return "", None, "", metrics, None, keep, keep, top, gr.Timer(active=False), gr.update(visible=False)
    done = job.done  # read once: the worker may finish the job while this runs; the status must match the outputs
    status = status_line(job, DEVICE_QUEUE.position(job))
    curve = loss_curve_figure(job.step_losses, job.total_steps, job.val_points) if job.step_losses else None
    resume_btn = gr.update(visible=done and resumable(session))
    if not done:
        return status, curve, "", metrics, None, keep, keep, top, gr.Timer(active=True), resume_btn
    if job.result is None:
        return status, curve, "", metrics, None, keep, keep, top, gr.Timer(active=False), resume_btn
    report_md, table, figure = _report_outputs(session, job.result["report"])
    report_md = "\n\n".join(x for x in (belongs_to(session, job.result), report_md, health_md(job.result)) if x)
    return (
        status, curve, report_md, table, figure,
        gr.update(maximum=job.result["num_layers"], value=job.result["num_layers"]),
        gr.update(maximum=job.result["num_heads"], value=1),
        _top_losses_view(job.result["top_losses"]), gr.Timer(active=False), resume_btn,
    )


def _settings_outputs(session: Session) -> tuple:
    """The Train tab's fields set to the session's last run (model, maxlen, batch size, learning rate, epochs,
    precision, freezing), so that a page back after a restart shows what Resume continues; no change without one."""
    cfg = session.train_config
    if cfg is None:
        return tuple(gr.update() for _ in range(8))
    return (gr.update(value=cfg.model_name), gr.update(value=cfg.maxlen) if cfg.maxlen else gr.update(),
            gr.update(value=cfg.batch_size), gr.update(value=cfg.lr), gr.update(value=cfg.epochs),
            gr.update(value=cfg.precision), gr.update(value=cfg.freeze_lower > 0), gr.update(value=cfg.doc_stride))


@user_errors
def train(model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze, schedule=ONE_CYCLE, early_stopping=0,
          reduce_on_plateau=0, cycle_len=1, cycle_mult=1, run_name="", devices=None, doc_stride=None,
          quick_baseline=False, request: gr.Request = None):
    """Queue fine-tuning of the session's data as a background job, and return at once.

    ``schedule`` is one-cycle (default), autofit (``early_stopping`` patience and ``reduce_on_plateau`` in epochs,
    0 for off; the best epoch's weights are kept and the report names it) or SGDR (``cycle_len``, ``cycle_mult``;
    ``epochs`` is then the number of cycles). ``run_name`` names the run in trackio and the Runs view.
    ``doc_stride`` (question answering) is the context tokens two windows share; ``quick_baseline`` also trains
    ktrain's NBSVM on the same rows (single-label) and shows its accuracy under the report.

    The job then runs on the device when the jobs before it have ended; poll ``/training_status`` for its state.
    ``devices`` (offered on hosts with more than one GPU) ``"all N GPUs"`` runs the job as a torchrun subprocess
    on every GPU (:mod:`kdemo.ui.multi_gpu_job`); otherwise it runs in this process, on one GPU or the CPU.
    ``doc_stride`` (tokens two windows of a long context share) is read by question answering only.

    Returns:
        A status line (running, or the position in the queue) and the polling timer, switched on.
    """
    session = STORE.get(request)
    with session.lock:
        session.require_idle("starting another training")
        session.require_data()
        cfg = make_config(session, model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze, schedule,
                          early_stopping, reduce_on_plateau, cycle_len, cycle_mult, run_name, doc_stride,
                          quick_baseline=bool(quick_baseline))
        # a bad or forbidden model name is refused now, not after queueing
        resolve_model_source(cfg.model_name, policy=session.policy)
        count = gpu_count()
        if devices and devices != ONE_DEVICE and count > 1:
            job = session.job = DEVICE_QUEUE.submit(multi_gpu_job(session, cfg, count))
        else:
            job = session.job = DEVICE_QUEUE.submit(training_job(session, cfg))
    return status_line(job, DEVICE_QUEUE.position(job)), gr.Timer(active=True)


@user_errors
def resume(request: gr.Request = None):
    """Continue this session's interrupted (server restart) or stopped training from its last checkpoint to the
    planned end, as a background job (same settings, same schedule and total steps; the loss curve continues).

    Returns:
        A status line and the polling timer, switched on.

    Raises:
        KdemoError: If there is nothing to resume (no interrupted or stopped run, or it already reached its end).
    """
    session = STORE.get(request)
    with session.lock:
        session.require_idle("resuming")
        if not resumable(session):
            raise KdemoError("Expected an interrupted or stopped training to resume. Received: none in this session "
                             "(or it already reached its planned end). Press Train to start one.")
        job = session.job = DEVICE_QUEUE.submit(training_job(session, session.train_config, resume=True))
    return status_line(job, DEVICE_QUEUE.position(job)), gr.Timer(active=True)


@user_errors
def training_status(request: gr.Request):
    """The state of this session's training job: called by the page's timer, and by API clients.

    Returns:
        Status markdown, loss-curve plot, report markdown, per-class table, confusion-matrix (or regression
        scatter) plot, the Attention tab's layer and head slider updates, the top-losses table, and the timer
        (kept on while the job is queued or running), and the Resume button (shown when the job was interrupted by
        a restart or stopped before its planned end). The report, tables and figures are filled in once the job
        has ended.
    """
    return _job_outputs(STORE.get(request))


@user_errors
def stop(request: gr.Request) -> str:
    """Stop this session's training: a queued job leaves the queue; a running one ends after the current batch."""
    session = STORE.get(request)
    job = next((j for j in (session.job, session.lr_job) if j is not None and j.active), None)
    if job is None:
        return "Nothing is training right now."
    queued = job.state == QUEUED  # not started yet (also when next in line)
    DEVICE_QUEUE.cancel(job)
    if queued:
        return "⏹️ Left the queue; nothing was trained."
    return "⏹️ Stopping after the current batch; the model stays usable."


def build(data: dict, attention: dict) -> dict:
    """Lay out the Train tab and wire its events.

    Args:
        data: Components from the Data tab (``val_pct``).
        attention: Components from the Attention tab (``layer``, ``head``) updated after training.

    Returns:
        ``{"outputs": [...], "restore": fn}``: the components :func:`training_status` fills, for the page-load
        event that shows a reconnecting browser its job, then the settings fields (model, maxlen, batch size,
        learning rate, epochs, precision, freezing) set to the session's last run; and the ``model_name``,
        ``maxlen`` and ``batch_size`` fields (the Data tab's "Use these settings" sets the last two), the polling
        ``timer``, and ``config_inputs`` (the fields a run's config is built from, in :func:`train`'s order).
    """
    gr.Markdown(f"Device: **{describe_device()}**. Defaults suit the embedded all-MiniLM-L6-v2 on a CPU.")
    with gr.Row():
        model_name = gr.Textbox(value=DEFAULT_MODEL_ID, label="Model (Hub id or local folder)", scale=3, elem_id="train-model")
        maxlen = gr.Number(value=128, precision=0, label="maxlen (tokens)", minimum=8, maximum=4096,
                           elem_id="train-maxlen")
        doc_stride = gr.Number(value=128, precision=0, minimum=1, maximum=4095, visible=False, elem_id="train-doc-stride",
                               label="doc_stride (tokens two windows of a long context share)")
        suggest_btn = gr.Button("Suggest maxlen from data", size="sm")
    maxlen_note = gr.Markdown(elem_id="maxlen-note")  # how many texts this maxlen cuts
    coverage = gr.Markdown(elem_id="model-coverage")
    with gr.Row():
        batch_size = gr.Number(value=32, precision=0, label="Batch size", minimum=1, elem_id="batch-size")
        lr = gr.Number(value=1e-4, label="Learning rate (peak)", elem_id="lr")
        epochs = gr.Slider(1, 10, value=1, step=1, label="Epochs", elem_id="epochs")
        precision = gr.Radio(["auto", "bf16", "fp32"], value="auto", label="Precision")
    freeze = gr.Checkbox(
        value=False, elem_id="freeze-lower",
        label="Faster: freeze the embeddings and the lowest third of the blocks (0.63-0.77x the time of every layer; SST-2 at the same "
              "accuracy; small or imbalanced data may lose a little). Unticked, every layer trains, as in ktrain and the CLI.",
    )
    quick = gr.Checkbox(value=False, elem_id="quick-baseline", label="Quick baseline: also train ktrain's NBSVM on the "
                        "same rows (seconds; single-label) and show its accuracy beside the fine-tuned model's")
    with gr.Accordion("Schedule", open=False, elem_id="schedule-box"):
        with gr.Row():
            schedule = gr.Radio([(SCHEDULE_LABELS[k], k) for k in SCHEDULES], value=ONE_CYCLE, label="Schedule",
                                elem_id="train-schedule", scale=3)
            run_name = gr.Textbox("", label="Run name (optional)", elem_id="train-run-name", scale=2)
        with gr.Row():
            early_stopping = gr.Number(value=0, precision=0, minimum=0, label="autofit: early stopping patience "
                                       "(epochs; 0 = off; best epoch kept)", elem_id="train-patience")
            reduce_on_plateau = gr.Number(value=0, precision=0, minimum=0, label="autofit: halve the LR after N "
                                          "epochs without improvement (0 = off)", elem_id="train-plateau")
            cycle_len = gr.Number(value=1, precision=0, minimum=1, label="SGDR: epochs of the first cycle",
                                  elem_id="train-cycle-len")
            cycle_mult = gr.Number(value=1, precision=0, minimum=1, label="SGDR: cycle length multiplier",
                                   elem_id="train-cycle-mult")
    count = gpu_count()
    devices = gr.Radio(  # only where there is a choice: the API of a one-GPU or CPU host keeps its inputs
        [ONE_DEVICE, all_gpus_choice(count)], value=all_gpus_choice(count), elem_id="train-devices",
        label=f"Devices: all {count} GPUs trains with data parallelism (torchrun; the batch size is split across them)",
    ) if count > 1 else None
    with gr.Row():
        lr_btn = gr.Button("Find learning rate")
        train_btn = gr.Button("Train", variant="primary", elem_id="train-btn")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
        resume_btn = gr.Button("Resume", variant="primary", elem_id="resume-btn", visible=False)
    with gr.Row():
        lr_plot = gr.Plot(label="LR finder", show_label=False)  # the figures carry their titles: a label would cover them
        loss_plot = gr.Plot(label="Training loss", show_label=False)
    lr_text = gr.Markdown()
    status = gr.Markdown(elem_id="train-status")
    report_md = gr.Markdown(elem_id="train-report")
    with gr.Row():
        per_class = gr.Dataframe(pd.DataFrame(columns=METRIC_COLUMNS), label="Per-class metrics (question answering: the questions with the lowest F1)", interactive=False)
        confusion = gr.Plot(label="Confusion matrix / predicted vs true", show_label=False)
    top_losses = gr.Dataframe(
        pd.DataFrame(columns=TOP_LOSS_COLUMNS), label=f"Top losses: the {TOP_LOSSES} validation rows the model gets most wrong "
        "(click a row for its whole text)", interactive=False, wrap=True, elem_id="top-losses",
        column_widths=["7%", "17%", "17%", "9%", "50%"],
    )
    full_text = gr.Textbox(label="Whole text of the clicked row", interactive=False, lines=3, max_lines=12,
                           elem_id="top-loss-text")
    timer = gr.Timer(POLL_S, active=False)

    settings = [model_name, maxlen, batch_size, lr, epochs, precision, data["val_pct"], freeze]
    outputs = [status, loss_plot, report_md, per_class, confusion, attention["layer"], attention["head"], top_losses, timer,
               resume_btn]
    suggest_btn.click(suggest_maxlen_for, [model_name], [maxlen], api_name="suggest_maxlen")
    _wire_truncation(data, model_name, maxlen, maxlen_note)
    model_name.submit(model_coverage, [model_name], [coverage], api_name="model_coverage")
    model_name.blur(model_coverage, [model_name], [coverage], api_visibility="private")
    data["summary"].change(model_coverage, [model_name], [coverage], api_visibility="private")
    data["summary"].change(report_for_data, None, [report_md], api_visibility="private")
    lr_btn.click(find_lr, [*settings, doc_stride], [lr_plot, lr_text], api_name="lr_find", concurrency_limit=None)
    data["summary"].change(train_options, [maxlen, doc_stride], [maxlen, doc_stride], api_name="train_options")
    train_inputs = (settings + [schedule, early_stopping, reduce_on_plateau, cycle_len, cycle_mult, run_name]
                    + [devices if devices is not None else gr.State(None), doc_stride, quick])
    train_btn.click(train, train_inputs, [status, timer], api_name="train", concurrency_limit=None)
    timer.tick(training_status, None, outputs, api_name="training_status", concurrency_limit=None, show_progress="hidden")
    stop_btn.click(stop, None, [status], api_name="stop", concurrency_limit=None)
    top_losses.select(top_loss_text, None, [full_text], api_visibility="private")
    resume_btn.click(resume, None, [status, timer], api_name="resume", concurrency_limit=None)
    restored = [*outputs, model_name, maxlen, batch_size, lr, epochs, precision, freeze, doc_stride]
    return {"outputs": restored, "restore": lambda session: (*_job_outputs(session), *_settings_outputs(session)),
            "model_name": model_name, "maxlen": maxlen, "batch_size": batch_size, "timer": timer,
            "config_inputs": settings + [schedule, early_stopping, reduce_on_plateau, cycle_len, cycle_mult]}
