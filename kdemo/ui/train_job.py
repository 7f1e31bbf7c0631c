"""The Train tab's background job: what runs on the device queue, and how its state reads to the user."""

from __future__ import annotations

import torch

from kdemo.data.dataset import steps_for
from kdemo.device import describe_device, resolve_precision
from kdemo.errors import KdemoError
from kdemo.hub.card import write_model_card
from kdemo.inference.predictor import get_predictor
from kdemo.jobs import CANCELLED, FAILED, QUEUED, STOPPED, Job, log_event
from kdemo.modeling.classifier import DEFAULT_MODEL_ID
from kdemo.modeling.freezing import num_blocks
from kdemo.run.config import TrainConfig
from kdemo.text.loaders import texts_from_df
from kdemo.training.callbacks import ProgressEvent
from kdemo.training.learner import get_learner
from kdemo.ui.session import STORE, Session

#: Rows in the top-losses table.
TOP_LOSSES = 10


def make_config(model_name, maxlen, batch_size, lr, epochs, precision, val_pct, freeze=True) -> TrainConfig:
    """The UI's raw field values as a validated :class:`~kdemo.run.config.TrainConfig`.

    Raises:
        KdemoError: If a field is not a number or is out of range (the message names it).
    """
    try:
        return TrainConfig(
            model_name=(model_name or DEFAULT_MODEL_ID).strip(),
            maxlen=int(maxlen) if maxlen else None,
            batch_size=int(batch_size),
            lr=float(lr),
            epochs=int(epochs),
            val_pct=float(val_pct),
            precision=precision or "auto",
            freeze_lower=None if freeze in (True, None) else 0.0,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, KdemoError):
            raise
        raise KdemoError(f"Expected numbers for maxlen, batch size, learning rate and epochs. Received: {exc}.") from exc


def prepare(session: Session, cfg: TrainConfig):
    """Tokenize the session's data and build a fresh classifier and learner for ``cfg``.

    Returns:
        ``(preproc, learner)``.
    """
    df = session.require_data()
    torch.manual_seed(cfg.seed)
    trn, val, preproc = texts_from_df(
        df, session.text_column, session.label_columns or [session.label_column], val_df=session.val_df, val_pct=cfg.val_pct,
        model_name=cfg.model_name, maxlen=cfg.maxlen, random_state=cfg.seed, verbose=0, task=session.task,
    )
    preproc.precision = cfg.precision
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=cfg.batch_size, seed=cfg.seed,
                          freeze_lower=cfg.freeze_lower)
    return preproc, learner


def training_job(session: Session, cfg: TrainConfig) -> Job:
    """A job that prepares the data and model, runs ``fit_onecycle``, validates, and saves the predictor.

    The job writes its progress (steps, losses, ETA, notes) into itself and its results into ``session``; its
    ``result`` is ``{"report", "top_losses", "num_layers", "num_heads"}``, or None when Stop came before training
    started. Stop (``job.request_stop()``) during the fit ends it after the current batch; the model is still
    validated and saved.
    """

    def on_progress(job: Job, ev: ProgressEvent) -> None:
        job.epoch, job.eta_s, job.total_steps = ev.epoch, ev.eta_s, ev.total_steps
        if ev.phase == "train":
            del job.step_losses[ev.step - 1:]  # a retry after an out-of-memory error starts again from step 1
            job.step_losses.append(ev.loss)
        else:
            val_loss = float(ev.logs["val_loss"]) if ev.logs and "val_loss" in ev.logs else None
            if val_loss is not None:
                job.val_points.append((ev.step, val_loss))
            log_event("epoch_end", **job.fields(), epoch=ev.epoch + 1, step=ev.step, loss=ev.loss, val_loss=val_loss)

    def run(job: Job) -> dict:
        job.phase = "Loading the model and tokenizing the data"
        preproc, learner = prepare(session, cfg)
        session.preproc, session.learner, session.predictor, session.report = preproc, learner, None, None
        if job.stop_event.is_set():  # Stop pressed while loading: the fit would clear the flag, so end here
            return None
        learner.stop_event = job.stop_event  # Stop reaches the fit's StopRequest callback
        class_weight = "balanced" if session.use_class_weight and learner.task == "single_label" else None
        job.total_steps = steps_for(len(learner.train_data), cfg.batch_size) * cfg.epochs
        job.phase = "Training"
        try:
            learner.fit_onecycle(cfg.lr, cfg.epochs, verbose=0, progress=lambda ev: on_progress(job, ev), class_weight=class_weight)
        finally:
            job.notes.extend(learner.notices)
            if learner.notices:
                log_event("oom_backoff", **job.fields(), retries=len(learner.notices), batch_size=learner.batch_size,
                          accumulation_steps=learner.accumulation_steps)
        job.phase = "Evaluating on the validation split and saving the model"
        report = learner.validation_report()
        session.report = report
        session.training_params = {
            **cfg.to_dict(), "maxlen": preproc.maxlen, "precision": resolve_precision(cfg.precision),
            "schedule": "one-cycle (warmup 10 %, cosine decay)", "optimizer": "AdamW (torch fused), weight decay 0.01",
            "device": describe_device(), "steps": len(job.step_losses), "stopped_early": learner.stopped_early,
            "frozen": (f"embeddings and the lowest {learner.frozen_blocks} of {num_blocks(learner.model)} blocks"
                       if learner.freeze_lower > 0 else "nothing (every layer trained)"),
        }
        if learner.accumulation_steps > 1:
            session.training_params.update(batch_size=learner.batch_size, gradient_accumulation_steps=learner.accumulation_steps)
        if class_weight:
            session.training_params["class_weight"] = "balanced"
        meta = {
            "metrics": {k: v for k, v in report.to_dict().items() if isinstance(v, (int, float))},
            "training": session.training_params,
            "example": str(session.train_df[session.text_column].iloc[0])[:200],
            "dataset_name": session.data_name,
        }
        session.require_disk_room(STORE.limits.max_disk_bytes)
        session.predictor = get_predictor(learner.model, preproc, meta=meta)
        write_model_card(session.predictor.save(session.workdir / "model"))
        hf = learner.model.hf_model.config
        top = learner.top_losses_table(TOP_LOSSES)
        return {"report": report, "top_losses": top, "num_layers": hf.num_hidden_layers, "num_heads": hf.num_attention_heads}

    return Job(run, kind="train", owner=session.owner, epochs=cfg.epochs)


def status_line(job: Job, position: int) -> str:
    """One markdown line describing ``job`` for the Train tab.

    Args:
        job: The session's job.
        position: Jobs ahead of it in the device queue (see :meth:`kdemo.jobs.JobQueue.position`).
    """
    notes = "".join(f"\n\n⚠️ {n}" for n in job.notes)
    step = len(job.step_losses)
    recent = job.step_losses[-10:]
    loss = f", loss {sum(recent) / len(recent):.4f}" if recent else ""
    if job.state == QUEUED and position == 0:
        return "⏳ Starting…"  # next in line: the worker picks it up now
    if job.state == QUEUED:
        ahead = "1 job" if position == 1 else f"{position} jobs"
        return (f"⏳ Waiting for the device: {ahead} ahead of yours (queue position {position + 1}). It starts by itself; "
                f"you can close or reload this page. Press Stop to leave the queue.{notes}")
    if job.state == CANCELLED:
        return "⏹️ Left the queue before starting; nothing was trained."
    if job.state == FAILED:
        error = job.error
        message = str(error) if isinstance(error, KdemoError) else (
            f"Training failed ({type(error).__name__}: {str(error)[:300]}). Your data is still here; try other settings.")
        return f"❌ {message}{notes}"
    if job.done:
        verb = "⏹️ Stopped" if job.state == STOPPED else "✅ Finished"
        return f"{verb} after {step}/{job.total_steps} steps in {job.elapsed_s:.0f} s{loss}.{notes}"
    if job.phase != "Training" or not step:
        return f"⏳ {job.phase or 'Starting'}…{notes}"
    return (f"⏳ Epoch {job.epoch + 1}/{job.epochs}, step {step}/{job.total_steps}{loss}; "
            f"{job.elapsed_s:.0f} s elapsed, about {job.eta_s:.0f} s left.{notes}")
