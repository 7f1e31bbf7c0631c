"""Train tab: model and hyperparameters, LR finder, one-cycle training with a live loss curve and Stop."""

from __future__ import annotations

import threading
import time

import gradio as gr
import pandas as pd
import torch

from kdemo.callbacks import ProgressEvent, ProgressReporter
from kdemo.config import TrainConfig
from kdemo.data import suggest_maxlen, texts_from_df
from kdemo.dataset import steps_for
from kdemo.device import describe_device, resolve_precision
from kdemo.errors import KdemoError
from kdemo.hub import write_model_card
from kdemo.learner import get_learner
from kdemo.models import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.plots import confusion_matrix_figure, loss_curve_figure, regression_figure
from kdemo.predictor import get_predictor
from kdemo.report import ClassificationReport, MultiLabelReport
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE, Session, TrainingJob

POLL_S = 1.0


def _config(model_name, maxlen, batch_size, lr, epochs, precision, val_pct) -> TrainConfig:
    try:
        return TrainConfig(
            model_name=(model_name or DEFAULT_MODEL_ID).strip(),
            maxlen=int(maxlen) if maxlen else None,
            batch_size=int(batch_size),
            lr=float(lr),
            epochs=int(epochs),
            val_pct=float(val_pct),
            precision=precision or "auto",
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, KdemoError):
            raise
        raise KdemoError(f"Expected numbers for maxlen, batch size, learning rate and epochs. Received: {exc}.") from exc


def _prepare(session: Session, cfg: TrainConfig):
    """Tokenize the session's data and build a fresh classifier and learner for ``cfg``."""
    df = session.require_data()
    torch.manual_seed(cfg.seed)
    trn, val, preproc = texts_from_df(
        df, session.text_column, session.label_columns or [session.label_column], val_df=session.val_df, val_pct=cfg.val_pct,
        model_name=cfg.model_name, maxlen=cfg.maxlen, random_state=cfg.seed, verbose=0, task=session.task,
    )
    preproc.precision = cfg.precision
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=cfg.batch_size, seed=cfg.seed)
    return preproc, learner


@user_errors
def suggest_maxlen_for(model_name: str, request: gr.Request) -> int:
    """Suggest maxlen: the token length (multiple of 8) covering 95 % of the training texts, for this model."""
    session = STORE.get(request)
    df = session.require_data()
    tokenizer = load_tokenizer(resolve_model_source(model_name or None))
    return suggest_maxlen(tokenizer, df[session.text_column].astype(str).tolist(), cap=512)


@user_errors
def find_lr(model_name, maxlen, batch_size, lr, epochs, precision, val_pct, request: gr.Request, progress=gr.Progress()):
    """Run the LR finder (LR-range test) on a fresh copy of the model; the weights are restored afterwards.

    Returns:
        The LR-finder plot and a markdown line with the suggested learning rates.
    """
    session = STORE.get(request)
    if session.job is not None and session.job.running:
        raise KdemoError("Training is running. Wait for it to finish or press Stop before running the LR finder.")
    cfg = _config(model_name, maxlen, batch_size, lr, epochs, precision, val_pct)
    progress(0.0, desc="Loading model and tokenizing")
    preproc, learner = _prepare(session, cfg)
    num_steps = 100
    reporter = ProgressReporter(lambda ev: progress((ev.step, num_steps), desc="LR finder", unit="steps"), num_steps, 1)
    session.learner = learner
    learner.lr_find(num_steps=num_steps, verbose=0, callbacks=[reporter])
    try:
        suggestions = learner.lr_estimate()
        fig = learner.lr_plot(suggest=True, return_fig=True)
    except KdemoError:
        raise KdemoError(
            f"The LR finder ran only {len(learner.lr_finder.losses)} steps, too few to suggest a rate. "
            "Use more data or a smaller batch size."
        ) from None
    text = (
        f"Suggested learning rates: **{suggestions['min_loss_div10']:.1e}** (minimum loss ÷ 10) and "
        f"**{suggestions['steepest']:.1e}** (steepest descent), clipped to 1e-6…5e-4 for fine-tuning. "
        f"{len(learner.lr_finder.losses)} steps; the model's weights were restored."
    )
    return fig, text


def _status(job: TrainingJob) -> str:
    step = len(job.step_losses)
    if job.error is not None:
        return f"❌ {job.error}"
    loss = f", loss {sum(job.step_losses[-10:]) / len(job.step_losses[-10:]):.4f}" if job.step_losses else ""
    if job.done:
        return f"{'⏹️ Stopped' if job.stopped else '✅ Finished'} after {step}/{job.total_steps} steps in {job.elapsed_s:.0f} s{loss}."
    return (
        f"⏳ Epoch {job.epoch + 1}/{job.epochs}, step {step}/{job.total_steps}{loss}; "
        f"{job.elapsed_s:.0f} s elapsed, about {job.eta_s:.0f} s left."
    )


def _report_outputs(report) -> tuple[str, pd.DataFrame, object]:
    """Markdown summary, table and figure of a validation report of any task."""
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


TOP_LOSSES = 10


@user_errors
def train(model_name, maxlen, batch_size, lr, epochs, precision, val_pct, request: gr.Request, progress=gr.Progress()):
    """Fine-tune with the one-cycle policy in a background thread, streaming status and the loss curve.

    Yields:
        Status markdown, loss-curve plot, report markdown, per-class table, confusion-matrix (or regression
        scatter) plot, the Attention tab's layer and head slider updates, and the top-losses table.
    """
    session = STORE.get(request)
    if session.job is not None and session.job.running:
        raise KdemoError("Training is already running in this session. Press Stop first, or wait for it to finish.")
    cfg = _config(model_name, maxlen, batch_size, lr, epochs, precision, val_pct)
    empty = pd.DataFrame()
    keep = gr.update()
    yield "⏳ Loading the model and tokenizing the data…", None, "", empty, None, keep, keep, empty
    preproc, learner = _prepare(session, cfg)
    session.preproc, session.learner, session.predictor, session.report = preproc, learner, None, None
    class_weight = "balanced" if getattr(session, "use_class_weight", False) and learner.task == "single_label" else None
    job = TrainingJob(total_steps=steps_for(len(learner.train_data), cfg.batch_size) * cfg.epochs, epochs=cfg.epochs)
    session.job = job

    def on_progress(ev: ProgressEvent) -> None:
        job.epoch, job.eta_s, job.elapsed_s = ev.epoch, ev.eta_s, ev.elapsed_s
        if ev.phase == "train":
            job.step_losses.append(ev.loss)
        elif ev.logs and "val_loss" in ev.logs:
            job.val_points.append((ev.step, float(ev.logs["val_loss"])))

    def run() -> None:
        start = time.perf_counter()
        try:
            learner.fit_onecycle(cfg.lr, cfg.epochs, verbose=0, progress=on_progress, class_weight=class_weight)
            job.stopped = learner.stopped_early
        except Exception as exc:  # noqa: BLE001 - reported to the user by the polling loop
            job.error = exc
        finally:
            job.elapsed_s = time.perf_counter() - start
            job.done = True

    job.thread = threading.Thread(target=run, name=f"kdemo-train-{request.session_hash}", daemon=True)
    job.thread.start()
    while True:
        job.thread.join(POLL_S)
        if not job.thread.is_alive():
            break
        progress((len(job.step_losses), job.total_steps), desc="Training", unit="steps")
        yield _status(job), loss_curve_figure(job.step_losses, job.total_steps, job.val_points), "", empty, None, keep, keep, empty
    if job.error is not None:
        raise job.error
    yield "⏳ Evaluating on the validation split and saving the model…", keep, "", empty, None, keep, keep, empty
    report = learner.validate(print_report=False)
    session.report = report
    session.training_params = {
        **cfg.to_dict(), "maxlen": preproc.maxlen, "precision": resolve_precision(cfg.precision),
        "schedule": "one-cycle (warmup 10 %, cosine decay)", "optimizer": "AdamW (torch fused), weight decay 0.01",
        "device": describe_device(), "steps": len(job.step_losses), "stopped_early": job.stopped,
    }
    if class_weight:
        session.training_params["class_weight"] = "balanced"
    meta = {
        "metrics": {k: v for k, v in report.to_dict().items() if isinstance(v, (int, float))},
        "training": session.training_params,
        "example": str(session.train_df[session.text_column].iloc[0])[:200],
        "dataset_name": session.data_name,
    }
    session.predictor = get_predictor(learner.model, preproc, meta=meta)
    folder = session.predictor.save(session.workdir / "model")
    write_model_card(folder)
    hf = learner.model.hf_model.config
    report_md, table, cm = _report_outputs(report)
    yield (
        _status(job), loss_curve_figure(job.step_losses, job.total_steps, job.val_points), report_md, table, cm,
        gr.update(maximum=hf.num_hidden_layers, value=hf.num_hidden_layers),
        gr.update(maximum=hf.num_attention_heads, value=1),
        learner.top_losses(TOP_LOSSES),
    )


@user_errors
def stop(request: gr.Request) -> str:
    """Ask the running training of this session to stop after the current batch."""
    session = STORE.get(request)
    if session.job is None or not session.job.running or session.learner is None:
        return "Nothing is training right now."
    session.learner.request_stop()
    return "⏹️ Stopping after the current batch; the model stays usable."


def build(data: dict, attention: dict) -> None:
    """Lay out the Train tab and wire its events.

    Args:
        data: Components from the Data tab (``val_pct``).
        attention: Components from the Attention tab (``layer``, ``head``) updated after training.
    """
    gr.Markdown(f"Device: **{describe_device()}**. Defaults suit the embedded all-MiniLM-L6-v2 on a CPU.")
    with gr.Row():
        model_name = gr.Textbox(value=DEFAULT_MODEL_ID, label="Model (Hub id or local folder)", scale=3)
        maxlen = gr.Number(value=128, precision=0, label="maxlen (tokens)", minimum=8, maximum=4096)
        suggest_btn = gr.Button("Suggest maxlen from data", size="sm")
    with gr.Row():
        batch_size = gr.Number(value=32, precision=0, label="Batch size", minimum=1)
        lr = gr.Number(value=1e-4, label="Learning rate (peak)", elem_id="lr")
        epochs = gr.Slider(1, 10, value=1, step=1, label="Epochs", elem_id="epochs")
        precision = gr.Radio(["auto", "bf16", "fp32"], value="auto", label="Precision")
    with gr.Row():
        lr_btn = gr.Button("Find learning rate")
        train_btn = gr.Button("Train", variant="primary", elem_id="train-btn")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
    with gr.Row():
        lr_plot = gr.Plot(label="LR finder")
        loss_plot = gr.Plot(label="Training loss")
    lr_text = gr.Markdown()
    status = gr.Markdown(elem_id="train-status")
    report_md = gr.Markdown(elem_id="train-report")
    with gr.Row():
        per_class = gr.Dataframe(label="Per-class metrics", interactive=False)
        confusion = gr.Plot(label="Confusion matrix / predicted vs true")
    top_losses = gr.Dataframe(
        label=f"Top losses: the {TOP_LOSSES} validation rows the model gets most wrong", interactive=False, wrap=True,
        elem_id="top-losses",
    )

    settings = [model_name, maxlen, batch_size, lr, epochs, precision, data["val_pct"]]
    suggest_btn.click(suggest_maxlen_for, [model_name], [maxlen], api_name="suggest_maxlen")
    lr_btn.click(find_lr, settings, [lr_plot, lr_text], api_name="lr_find", concurrency_id="gpu")
    train_btn.click(
        train, settings, [status, loss_plot, report_md, per_class, confusion, attention["layer"], attention["head"], top_losses],
        api_name="train", concurrency_id="gpu", concurrency_limit=1,
    )
    stop_btn.click(stop, None, [status], api_name="stop", concurrency_limit=None)
