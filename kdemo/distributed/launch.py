"""Running a training run as a ``torchrun`` job: its command line, and its progress as JSON lines on stdout.

The app starts a run on all GPUs of its host as ``torchrun --nproc_per_node=N -m kdemo train --config RUN.json
--out DIR --progress-jsonl --stop-file FILE`` and reads the progress back from rank 0's stdout. Kept free of the
training code (events travel as dicts), so that the CLI and the UI both use it without import cycles.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys

#: Key that marks a progress line among the other output of a run.
PROGRESS_KEY = "kdemo_progress"


def torchrun_command(nproc_per_node: int, config_file: str | os.PathLike, out: str | os.PathLike, *,
                     stop_file: str | os.PathLike | None = None, nnodes: int = 1,
                     rdzv_endpoint: str | None = None, python: str | None = None) -> list[str]:
    """The argument list that trains ``config_file``'s run on ``nproc_per_node`` processes per machine.

    Uses ``python -m torch.distributed.run`` (what the ``torchrun`` script runs), so that the same interpreter
    and environment as the caller's is used.

    Args:
        nproc_per_node: Processes per machine (one per GPU).
        config_file: A TrainConfig JSON (``TrainConfig.to_dict()``) with ``train_file`` set.
        out: Folder rank 0 writes the predictor to.
        stop_file: A path whose creation asks the run to stop after the current batch (it is still validated
            and saved).
        nnodes: Machines taking part; with more than one, ``rdzv_endpoint`` is needed.
        rdzv_endpoint: ``host:port`` of the rendezvous (c10d) for several machines.
        python: Interpreter (default: the current one).

    Returns:
        The command as a list (for ``subprocess.Popen``).

    Raises:
        ValueError: If ``nproc_per_node`` or ``nnodes`` is below 1, or several nodes lack an endpoint.
    """
    if nproc_per_node < 1 or nnodes < 1:
        raise ValueError(f"Expected nproc_per_node and nnodes >= 1. Received: {nproc_per_node}, {nnodes}.")
    if nnodes > 1 and not rdzv_endpoint:
        raise ValueError("Expected rdzv_endpoint (host:port) for more than one node. Received: none.")
    cmd = [python or sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc_per_node}"]
    if nnodes > 1:
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}"]
    else:
        cmd += ["--standalone"]
    cmd += ["-m", "kdemo", "train", "--config", os.fspath(config_file), "--out", os.fspath(out), "--progress-jsonl"]
    if stop_file is not None:
        cmd += ["--stop-file", os.fspath(stop_file)]
    return cmd


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def progress_line(event) -> str:
    """One JSON line for a progress event (a dataclass such as ``ProgressEvent``): ``{"kdemo_progress": {...}}``."""
    return json.dumps({PROGRESS_KEY: _plain(dataclasses.asdict(event))})


def parse_progress_line(line: str) -> dict | None:
    """The event fields of a :func:`progress_line`, or None for any other line (logs, warnings, torchrun's output).

    Tolerates a prefix before the JSON (torchrun's ``--tee`` adds ``[default0]:``).
    """
    start = line.find("{")
    if start < 0 or PROGRESS_KEY not in line:
        return None
    try:
        data = json.loads(line[start:])
    except json.JSONDecodeError:
        return None
    fields = data.get(PROGRESS_KEY) if isinstance(data, dict) else None
    return fields if isinstance(fields, dict) else None
