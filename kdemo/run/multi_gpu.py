"""A run on every GPU of the host, as a ``torchrun`` subprocess: what it is given, how it starts, what it says.

The run's :class:`~kdemo.run.config.TrainConfig` and its data (:class:`~kdemo.run.data.RunData`, already read) are
written into a folder (:func:`write_run`); ``torchrun --nproc_per_node=N -m kdemo train --config RUN.json --out
MODEL --progress-jsonl --stop-file STOP`` (:func:`kdemo.distributed.launch.torchrun_command`) trains it; rank 0's
JSON progress lines come back as :class:`~kdemo.training.callbacks.ProgressEvent` objects (:func:`read_progress`);
the folder it saved is the run's result (:func:`kdemo.run.result.load_result`): nothing is prepared or validated
again in the caller.
"""

from __future__ import annotations

import collections
import json
import math
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd

import kdemo.atomic as atomic
from kdemo.data.frames import JSON, write_frame
from kdemo.distributed.context import check_batch_size
from kdemo.distributed.launch import parse_progress_line, torchrun_command
from kdemo.errors import TrainingError
from kdemo.run.config import TrainConfig
from kdemo.run.data import RunData
from kdemo.training.callbacks import ProgressEvent

#: The config file a multi-GPU run is started with, inside its folder.
RUN_FILE = "run.json"
#: The file whose creation asks the run to stop after the current batch, inside its folder.
STOP_FILE = "stop"
#: Lines of the run's other output kept for the error message when it fails.
TAIL_LINES = 30
#: Seconds a stop waits for the run to end by itself (after the current batch, validation and saving) before it
#: sends SIGTERM to the process group.
STOP_GRACE_S = 120.0


def write_table(folder: str | os.PathLike, stem: str, df: pd.DataFrame) -> Path:
    """Write a run's table for a subprocess that reads it with :func:`kdemo.data.tables.read_table`: Parquet
    through :func:`kdemo.data.frames.write_frame` (column types kept), or JSON lines where Parquet cannot hold a
    column (e.g. mixed types in one column), since ``write_frame``'s exact JSON form is not a table file.

    Args:
        folder: Where to write.
        stem: The file's name without suffix.
        df: The table.

    Returns:
        The file written.
    """
    path = write_frame(folder, stem, df)
    if path.suffix != JSON:
        return path
    path.unlink(missing_ok=True)
    lines = Path(folder) / f"{stem}.jsonl"
    atomic.write_text(lines, df.to_json(orient="records", lines=True, force_ascii=False))
    return lines


def check_nproc(config: TrainConfig, nproc: int) -> None:
    """Refuse a global batch that does not split across ``nproc`` GPUs, before anything starts
    (:func:`kdemo.distributed.context.check_batch_size`, the check every rank makes again).

    Raises:
        DistributedError: If ``config.batch_size`` is not a multiple of ``nproc``.
    """
    check_batch_size(config.batch_size, nproc, unit="GPUs")


def write_run(config: TrainConfig, data: RunData, folder: str | os.PathLike) -> Path:
    """Write what the torchrun workers read: the data as files (:meth:`RunData.files_in`) and the config naming
    them (``RUN.json``, :meth:`TrainConfig.to_dict`).

    Args:
        config: The run's settings.
        data: The run's data, as read once by the caller (tables are written, token files named as they are).
        folder: The run's folder (created).

    Returns:
        The config file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    changes = {**data.files_in(folder), "data_name": config.data_name or "data"}
    path = folder / RUN_FILE
    atomic.write_text(path, json.dumps(config.replace(**changes).to_dict()))
    return path


def command(nproc: int, folder: str | os.PathLike, out: str | os.PathLike) -> list[str]:
    """The torchrun command of the run written into ``folder`` by :func:`write_run`, saving into ``out``, with
    the stop file of the folder."""
    folder = Path(folder)
    return torchrun_command(nproc, folder / RUN_FILE, out, stop_file=folder / STOP_FILE)


def read_progress(lines: Iterable[str], tail: collections.deque) -> Iterator[ProgressEvent]:
    """The progress events among a run's output lines (rank 0's ``--progress-jsonl``); every other line is kept
    in ``tail`` (its last :data:`TAIL_LINES`, for an error message).

    Args:
        lines: The run's output, line by line (e.g. ``proc.stdout``).
        tail: Receives the lines that are not progress.

    Yields:
        One :class:`~kdemo.training.callbacks.ProgressEvent` per progress line (non-finite numbers, sent as null,
        come back as NaN).
    """
    for line in lines:
        fields = parse_progress_line(line)
        if fields is None:
            tail.append(line.rstrip())
            continue
        fields.update({k: math.nan for k in ("loss", "lr", "elapsed_s", "eta_s") if fields.get(k) is None})
        yield ProgressEvent(**fields)


def new_tail() -> collections.deque:
    """An empty tail for :func:`read_progress`, keeping the last :data:`TAIL_LINES` lines."""
    return collections.deque(maxlen=TAIL_LINES)


def failure(nproc: int, code: int, tail: Iterable[str]) -> TrainingError:
    """The error of a run that exited with ``code``, showing the end of its output."""
    shown = "\n".join(tail)
    return TrainingError(f"Expected the run on {nproc} GPUs to finish. Received: exit code {code}. Its last "
                         f"output:\n{shown}\nFix the cause above, or train on one device.")


def start_process(cmd: list[str], cwd: Path) -> subprocess.Popen:
    """Start ``cmd`` in a new process group (so that a stop reaches torchrun and every rank), stdout and stderr
    merged into one text pipe, line-buffered."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, start_new_session=True)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group of ``proc`` (started by :func:`start_process`); nothing if it is gone."""
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


def watch_stop(stop: threading.Event, proc: subprocess.Popen, stop_file: Path, grace_s: float) -> None:
    """Once ``stop`` is set: create the stop file, then SIGTERM the process group if the run is still there after
    ``grace_s`` seconds. Returns when the run ends."""
    while proc.poll() is None:
        if stop.wait(0.2):
            stop_file.touch()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGTERM)
            return


def train_on_gpus(config: TrainConfig, data: RunData, nproc: int, folder: str | os.PathLike,
                  out: str | os.PathLike, *, stop: threading.Event,
                  on_progress: Callable[[ProgressEvent], None] | None = None,
                  launcher: Callable[[list[str], Path], subprocess.Popen] = start_process,
                  grace_s: float = STOP_GRACE_S) -> Path | None:
    """Train ``config`` on ``data`` with ``nproc`` torchrun processes; rank 0 saves the run's folder into ``out``
    (load it with :func:`kdemo.run.result.load_result`).

    Args:
        config: The run's settings; ``config.batch_size`` is the global batch, split across the processes.
        data: The run's data, already read (written into ``folder`` for the workers, not read again here).
        nproc: Processes (GPUs) to start.
        folder: The run's folder (its config, tables and stop file).
        out: Folder rank 0 saves the trained run to.
        stop: Once set, the run stops after the current batch (stop file); the model is still validated and
            saved. A run still there ``grace_s`` seconds later gets SIGTERM.
        on_progress: Called with each of rank 0's progress events.
        launcher: Starts the command (default :func:`start_process`; tests pass a fake torchrun).
        grace_s: Seconds between the stop file and SIGTERM.

    Returns:
        ``out``, or None when the run was stopped before it saved a model.

    Raises:
        TrainingError: If the batch size does not divide by ``nproc``, or the run failed (the message holds the end
            of its output).
    """
    check_nproc(config, nproc)
    folder, out = Path(folder), Path(out)
    write_run(config, data, folder)
    stop_file = folder / STOP_FILE
    stop_file.unlink(missing_ok=True)
    proc = launcher(command(nproc, folder, out), folder)
    threading.Thread(target=watch_stop, args=(stop, proc, stop_file, grace_s), daemon=True,
                     name="kdemo-multi-gpu-stop").start()
    tail = new_tail()
    try:
        for event in read_progress(proc.stdout, tail):
            if on_progress is not None:
                on_progress(event)
        code = proc.wait()
    finally:
        if proc.poll() is None:  # an error here must not leave the GPUs held by a run nobody watches
            signal_group(proc, signal.SIGTERM)
    if code != 0:
        if stop.is_set() and not (out / "config.json").exists():
            return None  # stopped before a model existed
        raise failure(nproc, code, tail)
    return out
