"""The Train tab's job on all GPUs of the host: the run as a ``torchrun`` subprocess, its progress streamed back.

On a host with more than one visible GPU the tab offers "all N GPUs". The job then writes the session's tables
and the run's :class:`~kdemo.run.config.TrainConfig` JSON into a folder of the session, starts
``torchrun --nproc_per_node=N -m kdemo train --config RUN.json --out MODEL --progress-jsonl --stop-file STOP``
(:func:`kdemo.distributed.launch.torchrun_command`) in its own process group, and turns rank 0's JSON progress
lines into the job's steps and losses, as the in-process job does. Stop creates the stop file (every rank stops
after the same batch; the model is still validated and saved) and, if the run has not ended
:data:`STOP_GRACE_S` seconds later, sends SIGTERM to the whole process group. The finished folder is loaded into
the session (predictor, and a learner holding the trained weights for the report, top losses and attention).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from kdemo.distributed.launch import parse_progress_line, torchrun_command
from kdemo.errors import TrainingError
from kdemo.inference.predictor import load_predictor
from kdemo.jobs import Job
from kdemo.run.config import TrainConfig
from kdemo.run.train import prepare
from kdemo.training.callbacks import ProgressEvent
from kdemo.ui.auth import folder_policy
from kdemo.ui.session import STORE, Session
from kdemo.ui.train_job import job_result, record_progress, session_data

#: Seconds Stop waits for the run to end by itself (after the current batch, validation and saving) before it
#: sends SIGTERM to the process group.
STOP_GRACE_S = 120.0
#: Lines of the run's other output kept for the error message when it fails.
TAIL_LINES = 30
#: The Train tab's device choice for one process (one GPU or the CPU).
ONE_DEVICE = "one device"


def gpu_count() -> int:
    """CUDA GPUs visible to this process (``torch.cuda.device_count()``; 0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def all_gpus_choice(count: int) -> str:
    """The Train tab's label for a run on every GPU, e.g. ``"all 4 GPUs"``."""
    return f"all {count} GPUs"


def start_process(cmd: list[str], cwd: Path) -> subprocess.Popen:
    """Start ``cmd`` in a new process group (so that Stop reaches torchrun and every rank), stdout and stderr
    merged into one text pipe, line-buffered."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, start_new_session=True)


def _write_table(df, stem: Path) -> str:
    """Write ``df`` for the subprocess: Parquet (keeps the column types), or JSON lines where Parquet cannot hold
    a column (e.g. mixed types in one column). Returns the file's path."""
    path = stem.with_suffix(".parquet")
    try:
        df.to_parquet(path, index=False)
    except (ValueError, TypeError, NotImplementedError):  # pyarrow's ArrowInvalid / ArrowTypeError /
        # ArrowNotImplementedError (subclasses of these): a column it cannot type
        path.unlink(missing_ok=True)
        path = stem.with_suffix(".jsonl")
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    return str(path)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


def _watch_stop(job: Job, proc: subprocess.Popen, stop_file: Path, grace_s: float) -> None:
    """On Stop: create the stop file, then SIGTERM the process group if the run is still there after ``grace_s``."""
    while proc.poll() is None:
        if job.stop_event.wait(0.2):
            stop_file.touch()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGTERM)
            return


def multi_gpu_job(session: Session, cfg: TrainConfig, nproc: int, *,
                  launcher: Callable[[list[str], Path], subprocess.Popen] = start_process,
                  grace_s: float | None = None) -> Job:
    """A job that trains ``cfg`` on ``nproc`` GPUs through torchrun and loads the result into ``session``.

    Args:
        session: The session (its tables, columns and folder).
        cfg: The run's settings; ``cfg.batch_size`` is the global batch, split across the GPUs.
        nproc: Processes (GPUs) to start.
        launcher: Starts the command (tests pass a fake that runs a script printing progress lines).
        grace_s: Seconds between the stop file and SIGTERM (default :data:`STOP_GRACE_S`).

    Returns:
        The :class:`~kdemo.jobs.Job`; its ``result`` is that of :func:`kdemo.ui.train_job.training_job`.

    Raises:
        TrainingError: From the job (in ``job.error``): the batch size does not divide by ``nproc``, or the run
            failed (the message holds the end of its output).
    """
    grace_s = STOP_GRACE_S if grace_s is None else grace_s
    data = session_data(session, cfg)  # the data as it is now, even if the Data tab changes while queued

    def run(job: Job) -> dict | None:
        if cfg.batch_size % nproc:
            raise TrainingError(f"Expected a batch size divisible by the {nproc} GPUs (it is the global batch, split "
                                f"evenly). Received: batch size {cfg.batch_size}. Use a multiple of {nproc}.")
        job.phase = f"Starting {nproc} training processes (one per GPU)"
        session.predictor = session.report = session.result = None
        session.require_disk_room(STORE.limits.max_disk_bytes)
        folder = session.workdir / "multi_gpu"
        folder.mkdir(parents=True, exist_ok=True)
        if session.is_token_data:  # the config names the session's copies of the token files already
            changes = {"data_name": cfg.data_name or "data"}
        else:
            changes = {"train_file": _write_table(data.train_df, folder / "train"), "val_file": None,
                       "data_name": cfg.data_name or "data", "text_column": data.text_column,
                       "label_columns": list(data.label_columns)}
            if data.val_df is not None:
                changes["val_file"] = _write_table(data.val_df, folder / "val")
        (folder / "run.json").write_text(json.dumps(cfg.replace(**changes).to_dict()), encoding="utf-8")
        stop_file = folder / "stop"
        stop_file.unlink(missing_ok=True)
        out = session.workdir / "model"
        proc = launcher(torchrun_command(nproc, folder / "run.json", out, stop_file=stop_file), folder)
        threading.Thread(target=_watch_stop, args=(job, proc, stop_file, grace_s), daemon=True,
                         name="kdemo-multi-gpu-stop").start()
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        try:
            for line in proc.stdout:
                fields = parse_progress_line(line)
                if fields is None:
                    tail.append(line.rstrip())
                    continue
                if job.phase.startswith("Starting"):
                    job.phase = "Training"
                nan = float("nan")  # non-finite numbers travel as null in the JSON lines
                fields.update({k: nan for k in ("loss", "lr", "elapsed_s", "eta_s") if fields.get(k) is None})
                record_progress(job, ProgressEvent(**fields))
            code = proc.wait()
        finally:
            if proc.poll() is None:  # an error here must not leave the GPUs held by a run nobody watches
                _signal_group(proc, signal.SIGTERM)
        if code != 0:
            if job.stop_event.is_set() and not (out / "config.json").exists():
                return None  # stopped before a model existed
            shown = "\n".join(tail)
            raise TrainingError(f"Expected the run on {nproc} GPUs to finish. Received: exit code {code}. Its last "
                                f"output:\n{shown}\nFix the cause above, or train on one device.")
        job.phase = "Loading the trained model"
        predictor = load_predictor(out)
        preproc, learner = prepare(cfg, data, policy=folder_policy(session.workdir, STORE.root))
        learner.model.hf_model.load_state_dict(predictor.model.state_dict())
        report = learner.validation_report()
        session.preproc, session.learner = preproc, learner
        session.predictor, session.report = predictor, report
        return job_result(report, learner)

    return Job(run, kind="train", owner=session.owner, epochs=cfg.epochs)
