"""The Train tab's background job: what runs on the device queue, and how its state reads to the user.

The job runs :func:`kdemo.train` (the one owner of a training run) on the session's data, under the session's
folder policy, and saves its folder (predictor, record, ``training_params.json``, model card) into the session.
"""

from __future__ import annotations

import shutil
import time

from kdemo.errors import KdemoError, TrainingError
from kdemo.jobs import CANCELLED, FAILED, FINISHED, INTERRUPTED, QUEUED, STOPPED, Job, log_event
from kdemo.run import ProgressEvent, RunData, TrainConfig, TrainResult, planned_steps, train
from kdemo.run.checkpoints import RESUME_DIR, read_state
from kdemo.run.config import ONE_CYCLE
from kdemo.run.models import DEFAULT_MODEL_ID, FAST_FREEZE_LOWER
from kdemo.ui.runs import record_run, set_active
from kdemo.ui.session import STORE, Session
from kdemo.ui.store import CHECKPOINT_DIR, MODEL_DIR

#: Rows in the top-losses table.
TOP_LOSSES = 10
#: Most seconds between two writes of a running job's progress to the session store (epoch ends are written too).
PERSIST_EVERY_S = 5.0


def make_config(session: Session, model_name, maxlen, batch_size, lr, epochs, precision, val_pct,
                freeze=False, schedule=ONE_CYCLE, early_stopping=None, reduce_on_plateau=None, cycle_len=1,
                cycle_mult=1, run_name=None, doc_stride=None, quick_baseline=False) -> TrainConfig:
    """The session's data (its columns, task and name: :meth:`~kdemo.run.data.RunData.config_fields`) and the Train
    tab's raw field values as a validated :class:`~kdemo.run.config.TrainConfig` (which coerces and checks them).

    Args:
        session: The session (its data as read at upload, and its class-weight choice).
        model_name: Hub id or local folder ("" for the default).
        maxlen: Tokens per text, or empty for automatic.
        batch_size: Rows per optimizer step.
        lr: Peak learning rate, per optimizer step.
        epochs: Passes over the data.
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"``.
        val_pct: Fraction 0–1 held out when there is no validation file.
        freeze: Freeze the embeddings and the lowest third of the blocks (the tab's faster option); False (the
            default) trains every layer, as the CLI and the Python API do.
        schedule: ``"one_cycle"`` (default), ``"autofit"`` or ``"sgdr"`` (:data:`kdemo.run.config.SCHEDULES`).
        early_stopping: autofit: patience in epochs (0 or empty: off); the best epoch's weights are kept.
        reduce_on_plateau: autofit: epochs without improvement before the learning rate is halved (0 or empty: off).
        cycle_len: SGDR: epochs of the first cycle.
        cycle_mult: SGDR: growth factor of each next cycle.
        run_name: The run's name in trackio and the Runs view (empty: trackio picks one).
        doc_stride: Tokens two windows of a long context share (question answering); empty keeps the default (128).
        quick_baseline: Also train ktrain's NBSVM on the same rows (:attr:`TrainConfig.quick_baseline`).

    Returns:
        The run's config.

    Raises:
        KdemoError: Before an upload, or if a field is not a number or is out of range (the message names it).
    """
    data = session.require_data()
    weighted = data.spec.class_weight and session.use_class_weight  # the spec says whether class weights apply
    return TrainConfig(
        **data.config_fields(),
        model_name=model_name or DEFAULT_MODEL_ID,
        maxlen=maxlen or None,
        batch_size=batch_size,
        lr=lr,
        epochs=epochs,
        val_pct=val_pct,
        precision=precision or "auto",
        freeze_lower=FAST_FREEZE_LOWER if freeze else 0.0,
        class_weight="balanced" if weighted else None,
        schedule=schedule or ONE_CYCLE,
        early_stopping=int(early_stopping) if early_stopping else None,
        reduce_on_plateau=int(reduce_on_plateau) if reduce_on_plateau else None,
        cycle_len=cycle_len or 1,
        cycle_mult=cycle_mult or 1,
        run_name=run_name or None,
        quick_baseline=bool(quick_baseline),
        **({"doc_stride": doc_stride} if doc_stride else {}),
    )


def record_progress(job: Job, ev: ProgressEvent) -> None:
    """Write one progress event into the job (steps, losses, validation points, ETA, phase, epoch log line)."""
    job.epoch, job.eta_s, job.total_steps = ev.epoch, ev.eta_s, ev.total_steps
    if ev.phase == "train":
        del job.step_losses[ev.step - 1:]  # a retry after an out-of-memory error starts again from step 1
        job.step_losses.append(ev.loss)
        return
    val_loss = float(ev.logs["val_loss"]) if ev.logs and "val_loss" in ev.logs else None
    if val_loss is not None:
        del job.val_points[ev.epoch:]
        job.val_points.append((ev.step, val_loss))
    log_event("epoch_end", **job.fields(), epoch=ev.epoch + 1, step=ev.step, loss=ev.loss, val_loss=val_loss)
    if ev.epoch + 1 == ev.epochs:
        job.phase = "Evaluating on the validation split and saving the model"


def data_key(data: RunData | None) -> str:
    """What tells one upload's data from another's: its name, its columns or sentence count, and its size; a run's
    report belongs to the data whose key it carries (:func:`job_result`)."""
    if data is None:
        return ""
    return f"{data.data_name}|{data.summary()}|{len(data.texts())}"


def job_result(result: TrainResult, data: RunData | None = None) -> dict:
    """What a finished training job hands the Train tab: ``{"report", "top_losses", "num_layers", "num_heads",
    "baseline", "warnings"}``.

    Args:
        result: The run's result (trained here, or loaded from the folder a multi-GPU run saved: then without top
            losses, None).

    Returns:
        The report, the :data:`TOP_LOSSES` validation rows of highest loss (a DataFrame, or None), and the model's
        layer and head counts (the attention view's sliders), the constant guess's scores
        (:meth:`kdemo.evaluation.sanity.Baseline.to_dict`, or None) and the health check's warnings, and what
        the report belongs to: ``model``, ``data_name``, ``data_key`` (:func:`data_key` of ``data``; ``""`` when not
        given) and ``finished_at`` (``time.time()``).
    """
    return {"report": result.report, "top_losses": result.top_losses(TOP_LOSSES), "num_layers": result.num_layers,
            "num_heads": result.num_heads, "baseline": result.baseline.to_dict() if result.baseline else None,
            "warnings": list(result.warnings), "quick_baseline": result.params.get("quick_baseline"),
            "model": result.config.model_name, "data_name": result.config.data_name,
            "data_key": data_key(data), "finished_at": time.time()}


def resumable(session: Session) -> bool:
    """Whether the session's training job can be resumed: it was interrupted by a restart or stopped, and its
    checkpoint has not reached the planned end."""
    job = session.job
    if job is None or job.kind != "train" or job.state not in (INTERRUPTED, STOPPED) or session.train_config is None:
        return False
    try:
        return not read_state(session.workdir / CHECKPOINT_DIR).finished
    except TrainingError:  # no checkpoint yet: an interrupted run starts again, a stopped one has nothing to resume
        return job.state == INTERRUPTED


def training_job(session: Session, cfg: TrainConfig, *, resume: bool = False) -> Job:
    """A job that runs :func:`kdemo.train` on the session's data and saves the result into the session's folder.

    The job writes its progress (steps, losses, ETA, notes) into itself and its results into ``session``; its
    ``result`` is ``{"report", "top_losses", "num_layers", "num_heads"}``, or None when Stop came before training
    started. Stop (``job.request_stop()``) during the fit ends it after the current batch; the model is still
    validated and saved. One-cycle runs write resume checkpoints into the session's ``checkpoint`` folder (deleted
    when the run reaches its end); with ``resume``, the job continues the run found there (or starts it again when
    the restart came before its first checkpoint), its loss curve continuing from the checkpoint's steps. The job is
    recorded in the session's store (:mod:`kdemo.ui.store`) as it starts, after every epoch, every few seconds of
    training, and at its end.
    """

    data = session.require_data()  # the data as read at upload; a later change in the Data tab makes a new one
    checkpoint = session.workdir / CHECKPOINT_DIR
    session.train_config, session.loaded_model = cfg, None  # this run's model replaces a loaded one
    STORE.persist(session)
    resume_from = None
    if resume and (checkpoint / RESUME_DIR).is_dir():
        resume_from = checkpoint
    elif checkpoint.exists():
        shutil.rmtree(checkpoint, ignore_errors=True)  # a new run: the old checkpoints are not its own

    def run(job: Job) -> dict | None:
        job.phase = "Loading the model and tokenizing the data"
        session.predictor = session.report = session.result = session.learner = session.preproc = None
        session.require_disk_room(STORE.limits.max_disk_bytes)  # before the work, not after it
        if resume_from is not None:
            state = read_state(resume_from)
            job.step_losses, job.val_points = list(state.step_losses), [tuple(p) for p in state.val_points]
        STORE.persist_job(session, job)
        prepared, saved = [], [time.monotonic()]

        def on_prepared(preproc, learner) -> None:
            prepared.append(learner)
            session.preproc, session.learner = preproc, learner
            job.total_steps = planned_steps(cfg, learner)  # progress events then give optimizer steps
            job.phase = "Training"
            STORE.persist_job(session, job)

        def on_progress(ev: ProgressEvent) -> None:
            record_progress(job, ev)
            if ev.phase == "epoch_end" or time.monotonic() - saved[0] > PERSIST_EVERY_S:
                STORE.persist_job(session, job)
                saved[0] = time.monotonic()

        try:
            result = train(cfg, data=data, progress=on_progress,
                           stop=job.stop_event, policy=session.policy,
                           on_prepared=on_prepared, checkpoint_folder=checkpoint, resume_from=resume_from)
        except BaseException as exc:
            job.error = exc
            STORE.persist_job(session, job, FAILED)
            raise
        finally:
            if prepared and prepared[0].notices:  # out-of-memory retries, also when the run then failed
                learner = prepared[0]
                job.notes.extend(learner.notices)
                log_event("oom_backoff", **job.fields(), retries=len(learner.notices), batch_size=learner.batch_size,
                          accumulation_steps=learner.accumulation_steps)
        if result is None:  # Stop pressed while loading
            STORE.persist_job(session, job, STOPPED)
            return None
        job.notes.extend(n for n in result.notices if n not in job.notes)  # e.g. the model's language coverage
        result.save(session.workdir / MODEL_DIR)
        session.result, session.predictor, session.report = result, result.predictor, result.report
        job.result = job_result(result, data)  # the queue sets it too; the store needs it now
        stopped = job.stop_event.is_set()
        kept = record_run(session.workdir, result, session.workdir / MODEL_DIR, status="stopped" if stopped else "finished",
                          step_losses=job.step_losses, val_points=job.val_points)  # the Runs tab's entry
        set_active(session.workdir, kept["id"])
        job.notes.append(f"Saved as run **{kept['name']}** in the Runs tab; it is now the model in use in Predict, "
                         "Attention and Hub.")
        STORE.persist_job(session, job, STOPPED if stopped else FINISHED)
        if not stopped:
            shutil.rmtree(checkpoint, ignore_errors=True)  # the run is complete: its model is saved
        return job.result

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
    if job.state == INTERRUPTED:
        done = f" after step {step}/{job.total_steps} (epoch {job.epoch + 1}/{job.epochs})" if step else " before its first checkpoint"
        return (f"⏸️ Training was interrupted{done}: the server stopped. Press **Resume** to continue from the last "
                f"checkpoint to the planned end.{notes}")
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
    if not step:
        return f"⏳ {job.phase or 'Starting'}…{notes}"
    if job.phase != "Training":  # the fit is over: say what happens now, and how far training went
        return f"⏳ Epoch {job.epoch + 1}/{job.epochs}, step {step}/{job.total_steps} done{loss}. {job.phase}…{notes}"
    return (f"⏳ Epoch {job.epoch + 1}/{job.epochs}, step {step}/{job.total_steps}{loss}; "
            f"{job.elapsed_s:.0f} s elapsed, about {job.eta_s:.0f} s left.{notes}")
