"""The Train tab's job on all GPUs of the host: the run as a ``torchrun`` subprocess, its progress streamed back.

On a host with more than one visible GPU the tab offers "all N GPUs". The job hands the session's data (as read at
upload) and the run's :class:`~kdemo.run.config.TrainConfig` to :func:`kdemo.run.multi_gpu.train_on_gpus`, which
writes them into a folder of the session, starts ``torchrun --nproc_per_node=N -m kdemo train --config RUN.json
--out MODEL --progress-jsonl --stop-file STOP`` in its own process group and turns rank 0's JSON progress lines into
events; the job records them as the in-process job does. Stop creates the stop file (every rank stops after the same
batch; the model is still validated and saved) and, if the run has not ended :data:`STOP_GRACE_S` seconds later,
sends SIGTERM to the whole process group. The folder rank 0 saved is the result
(:func:`kdemo.run.result.load_result`: predictor, report, record): nothing is prepared or validated again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import torch

from kdemo.jobs import Job
from kdemo.run import ProgressEvent, TrainConfig, load_result
from kdemo.run.multi_gpu import STOP_GRACE_S, check_nproc, start_process, train_on_gpus
from kdemo.ui.session import STORE, Session
from kdemo.ui.store import MODEL_DIR
from kdemo.ui.train_job import job_result, record_progress

__all__ = ["ONE_DEVICE", "STOP_GRACE_S", "all_gpus_choice", "gpu_count", "multi_gpu_job", "start_process"]

#: The Train tab's device choice for one process (one GPU or the CPU).
ONE_DEVICE = "one device"
#: The session's folder a multi-GPU run's config, tables and stop file go to.
RUN_DIR = "multi_gpu"


def gpu_count() -> int:
    """CUDA GPUs visible to this process (``torch.cuda.device_count()``; 0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def all_gpus_choice(count: int) -> str:
    """The Train tab's label for a run on every GPU, e.g. ``"all 4 GPUs"``."""
    return f"all {count} GPUs"


def multi_gpu_job(session: Session, cfg: TrainConfig, nproc: int, *,
                  launcher: Callable[[list[str], Path], subprocess.Popen] = start_process,
                  grace_s: float | None = None) -> Job:
    """A job that trains ``cfg`` on ``nproc`` GPUs through torchrun and loads the result into ``session``.

    Args:
        session: The session (its data and folder).
        cfg: The run's settings; ``cfg.batch_size`` is the global batch, split across the GPUs.
        nproc: Processes (GPUs) to start.
        launcher: Starts the command (tests pass a fake that runs a script printing progress lines).
        grace_s: Seconds between the stop file and SIGTERM (default :data:`STOP_GRACE_S`).

    Returns:
        The :class:`~kdemo.jobs.Job`; its ``result`` is that of :func:`kdemo.ui.train_job.training_job` (without
        top losses: the validation outputs stay in the subprocess).

    Raises:
        TrainingError: From the job (in ``job.error``): the batch size does not divide by ``nproc``, or the run
            failed (the message holds the end of its output).
    """
    grace_s = STOP_GRACE_S if grace_s is None else grace_s
    data = session.require_data()  # the data as read at upload; a later change in the Data tab makes a new one

    def run(job: Job) -> dict | None:
        check_nproc(cfg, nproc)  # before anything changes in the session
        job.phase = f"Starting {nproc} training processes (one per GPU)"
        session.predictor = session.report = session.result = None
        session.require_disk_room(STORE.limits.max_disk_bytes)

        def on_progress(event: ProgressEvent) -> None:
            if job.phase.startswith("Starting"):
                job.phase = "Training"
            record_progress(job, event)

        out = train_on_gpus(cfg, data, nproc, session.workdir / RUN_DIR, session.workdir / MODEL_DIR,
                            stop=job.stop_event, on_progress=on_progress, launcher=launcher, grace_s=grace_s)
        if out is None:  # stopped before a model existed
            return None
        job.phase = "Loading the trained model"
        result = load_result(out)
        session.preproc = session.learner = None
        session.result, session.predictor, session.report = result, result.predictor, result.report
        return job_result(result)

    return Job(run, kind="train", owner=session.owner, epochs=cfg.epochs)
