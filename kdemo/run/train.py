"""``kdemo.train``: one training run from a :class:`~kdemo.run.config.TrainConfig`, end to end.

read → checks → preprocess → model → learner → fit → validate → predictor, with the run's record and metadata
assembled here and nowhere else. The Train tab's job, the CLI (``python -m kdemo train``) and Python callers all go
through :func:`train`; the ktrain verbs it is built on (``texts_from_df``, ``get_learner``, ``fit_onecycle``, …) stay
the lower-level API.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pandas as pd

from kdemo.data.dataset import steps_for
from kdemo.data.languages import analyse_languages
from kdemo.distributed.context import setup
from kdemo.distributed.gradients import any_rank
from kdemo.errors import TrainingError
from kdemo.evaluation.sanity import baseline, health_check
from kdemo.inference.predictor import get_predictor
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.record import TrainingRecord
from kdemo.run.baseline import NOT_SINGLE_LABEL, baseline_for
from kdemo.run.config import AUTOFIT, ONE_CYCLE, SGDR, TrainConfig
from kdemo.run.data import RunData
from kdemo.run.pipeline import prepare, read_data
from kdemo.run.result import TrainResult, training_params
from kdemo.training.callbacks import ProgressEvent
from kdemo.training.callbacks.resume_checkpoint import DEFAULT_CHECKPOINT_EVERY_S
from kdemo.training.callbacks.tracking import TrackioTracker
from kdemo.training.checkpoint_state import read_state
from kdemo.training.learner import Learner
from kdemo.training.schedules import sgdr_cycle_epochs


def planned_steps(config: TrainConfig, learner: Learner) -> int:
    """Optimizer steps the run plans, counted as the fit loop counts them.

    Args:
        config: The run's settings (epochs, or SGDR cycles with their lengths).
        learner: The learner (its rows, batch size and gradient-accumulation steps after any out-of-memory back-off).

    Returns:
        Batches per epoch × epochs, divided by the gradient-accumulation steps (Keras drops an incomplete group).
        For autofit with early stopping, the steps of ``config.epochs`` epochs, the most it runs.
    """
    epochs = (sum(sgdr_cycle_epochs(config.epochs, config.cycle_len, config.cycle_mult)) if config.schedule == SGDR
              else config.epochs)
    return steps_for(len(learner.train_data), learner.batch_size) * epochs // learner.accumulation_steps


def _tracked_config(config: TrainConfig, learner: Learner) -> dict:
    """What trackio keeps as the run's config: the TrainConfig, with the task, the schedule's name and the
    learner's final batch layout."""
    return {**config.to_dict(), "task": learner.task, "schedule_name": config.schedule_name,
            "train_rows": len(learner.train_data), "val_rows": len(learner.val_data) if learner.val_data is not None else 0,
            "accumulation_steps": learner.accumulation_steps}


def _best_epoch(learner: Learner) -> int | None:
    """1-based epoch whose weights the model holds when they are not the last epoch's (early stopping's restored
    best, or the better epoch kept after a stop); None otherwise."""
    restored = getattr(learner, "restored_best_epoch", None)
    return None if restored is None else int(restored) + 1


def _fit(config: TrainConfig, learner: Learner, progress: Callable[[ProgressEvent], None], *,
         checkpoint_folder: str | None = None, resume: bool = False, checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S,
         callbacks: list | None = None):
    """Run the schedule of ``config`` on ``learner`` (or the rest of it, from ``checkpoint_folder``, with ``resume``);
    returns the Keras ``History``."""
    if resume:
        return learner.resume(checkpoint_folder, verbose=0, progress=progress, checkpoint_every_s=checkpoint_every_s,
                              callbacks=callbacks)
    class_weight = config.class_weight if learner.spec.class_weight else None
    common = {"class_weight": class_weight, "verbose": 0, "progress": progress, "callbacks": callbacks}
    if config.schedule == ONE_CYCLE:
        return learner.fit_onecycle(config.lr, config.epochs, checkpoint_folder=checkpoint_folder,
                                    checkpoint_every_s=checkpoint_every_s, **common)
    if config.schedule == AUTOFIT:
        return learner.autofit(config.lr, config.epochs, early_stopping=config.early_stopping,
                               reduce_on_plateau=config.reduce_on_plateau, **common)
    return learner.fit(config.lr, config.epochs, cycle_len=config.cycle_len, cycle_mult=config.cycle_mult, **common)


def train(
    config: TrainConfig,
    *,
    data: RunData | None = None,
    train_df: pd.DataFrame | None = None,
    val_df: pd.DataFrame | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    stop=None,
    policy: FolderPolicy = DEFAULT_POLICY,
    on_prepared: Callable[[object, Learner], None] | None = None,
    verbose: int = 0,
    checkpoint_folder: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | None = None,
    checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S,
    callbacks: list | None = None,
) -> TrainResult | None:
    """Run one fine-tuning run: read, check, preprocess, build, fit, validate, and assemble its record.

    Args:
        config: The run's settings (see :class:`~kdemo.run.config.TrainConfig`).
        data: The run's data as a door already read it (:func:`kdemo.run.pipeline.read_data`): then no file is
            read again. None reads ``config``'s files (or the tables given).
        train_df: Training table, instead of ``config.train_file`` (the app passes the uploaded table).
        val_df: Validation table, instead of ``config.val_file``.
        progress: Called with a :class:`~kdemo.training.callbacks.ProgressEvent` after every optimizer step and at
            the end of every epoch.
        stop: A ``threading.Event``; once set, the fit ends after the current batch and the model is still
            validated. Set before training starts, nothing is trained.
        policy: Which local model folders ``config.model_name`` may name (the app passes the session's policy).
        on_prepared: Called with ``(preproc, learner)`` once the data is tokenized and the model built.
        verbose: 1 prints a summary of the data.
        checkpoint_folder: One-cycle runs: write ktrain's per-epoch weights (``epoch-N``) and a resume checkpoint
            (``resume/``: after every epoch, every ``checkpoint_every_s`` seconds and on Stop) there.
        resume_from: The ``checkpoint_folder`` of an interrupted or stopped one-cycle run of the same config and
            data: continue it to its planned end (same schedule, same total steps), writing new checkpoints there.
            The tables and the model are prepared as for a new run, then the checkpoint's weights, optimizer and
            random states replace the fresh ones (:meth:`kdemo.training.learner.Learner.resume`).
        checkpoint_every_s: Most seconds between two resume checkpoints within an epoch.
        callbacks: Extra Keras callbacks for the fit, after the run's tracker (e.g. a
            :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics` recorder, as
            :func:`kdemo.run.label_issues.data_map.data_map_issues` passes).

    Returns:
        The :class:`~kdemo.run.result.TrainResult` (predictor, report, history, notices, record, params, the
        constant-guess ``baseline`` and the ``warnings`` of a run that learned nothing), or None
        when ``stop`` was set before training started. Its notices start with a warning when the model's tokenizer
        does not cover the texts' language (:func:`kdemo.data.languages.analyse_languages`).

    Raises:
        DataError: On unusable data (the message names rows and columns).
        ModelError: If the model cannot be loaded.
        TrainingError: If training fails for a reason the user can act on (e.g. out of memory at batch size 1), or
            ``resume_from`` holds no resumable checkpoint of this run.

    Data parallelism: launched by ``torchrun --nproc_per_node=N``, every rank runs this with the same config; each
    global batch of ``config.batch_size`` rows is split across the ranks and the gradients averaged, so the model
    equals one process's; ``result.save`` writes on rank 0 only.

    Example:
        >>> result = kdemo.train(kdemo.TrainConfig(train_file="reviews.csv", epochs=2))
        >>> result.save("out/")
    """
    started = time.monotonic()
    if resume_from is not None:
        if config.schedule != ONE_CYCLE:
            raise TrainingError(f"Expected a one-cycle run to resume. Received: schedule={config.schedule!r}; only "
                                "one-cycle runs write resume checkpoints. Start the run again.")
        checkpoint_folder = resume_from
        resumed = read_state(resume_from)  # before any work: a missing checkpoint fails fast
    setup()  # under torchrun: join the process group before the model is built, so each rank builds it on its own GPU
    # (the Learner checks that the global batch splits across the ranks; the CLI only reads RANK to know who prints)
    if data is None:
        data = read_data(config, train_df, val_df)
    preproc, learner = prepare(config, data, policy=policy, verbose=verbose)
    texts = data.texts()
    languages = analyse_languages(texts, preproc.tokenizer)  # a sample of rows: the card's language, the coverage
    warning = languages.warning(config.model_name)
    if on_prepared is not None:
        on_prepared(preproc, learner)
    if any_rank(stop is not None and stop.is_set()):  # under torchrun every rank takes the same decision
        return None
    if stop is not None:
        learner.stop_event = stop  # the fit's StopRequest callback watches it
    val_points: list[tuple[int, float]] = list(resumed.val_points) if resume_from is not None else []

    def on_progress(event: ProgressEvent) -> None:
        if event.phase == "epoch_end" and event.logs and "val_loss" in event.logs:
            del val_points[event.epoch:]  # an out-of-memory retry starts the run again
            val_points.append((event.step, float(event.logs["val_loss"])))
        if progress is not None:
            progress(event)

    tracker = None
    if config.track:
        tracker = TrackioTracker(config.project, config.run_name, _tracked_config(config, learner),
                                 first_step=len(resumed.step_losses) if resume_from is not None else 0)
    try:
        history = _fit(config, learner, on_progress, checkpoint_folder=str(checkpoint_folder) if checkpoint_folder else None,
                       resume=resume_from is not None, checkpoint_every_s=checkpoint_every_s,
                       callbacks=([tracker] if tracker is not None else []) + list(callbacks or []) or None)
        report = learner.validation_report()
        metrics = {k: v for k, v in report.to_dict().items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    finally:
        if tracker is not None:
            tracker.finish(locals().get("metrics"))
    record = TrainingRecord.from_learner(learner, report, val_points=val_points, total_steps=planned_steps(config, learner))
    meta = {"metrics": metrics, "example": data.example(), "dataset_name": data.data_name,
            "dataset_id": config.hub_dataset,
            "languages": languages.main_languages, "text_pairs": bool(data.text_pair_column)}
    predictor = get_predictor(learner.model, preproc, meta=meta)
    params = training_params(config, data=data, preproc=preproc, learner=learner, record=record, metrics=metrics,
                             languages=languages, seconds=time.monotonic() - started)
    base = baseline(report, learner.train_data, learner.val_data)  # the constant guess the score must beat
    warnings = health_check(report, base, record.step_losses)
    params["baseline"], params["warnings"] = base.to_dict() if base is not None else None, warnings
    if tracker is not None and tracker.name is not None:
        params["tracking"] = {"project": tracker.project, "run": tracker.name}
    params["best_epoch"] = _best_epoch(learner)
    quick = baseline_for(learner) if config.quick_baseline else None
    params["quick_baseline"] = quick.to_dict() if quick is not None else None
    notices = ([warning] if warning else []) + list(data.warnings) + list(learner.notices)
    if config.quick_baseline and quick is None:
        notices.append(NOT_SINGLE_LABEL)
    return TrainResult(config=config, predictor=predictor, report=report, history=history, notices=notices,
                       record=record, params=params, learner=learner, baseline=base, warnings=warnings)
