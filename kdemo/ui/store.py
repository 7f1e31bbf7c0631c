"""The app's persistent store: each session's files in a data folder that survives a server restart (no gradio here).

``python app.py --data-dir DIR`` keeps everything a browser session builds under ``DIR`` (default:
:func:`default_data_dir`)::

    DIR/browser_secret                 the key of the browser's encrypted session-key storage (stable across restarts)
    DIR/sessions/<digest>/session.json data choices: file name, columns, task, class weights, last activity
    DIR/sessions/<digest>/train.pkl    the uploaded training table (and val.pkl, the validation table)
    DIR/sessions/<digest>/job.json     the last training job: config, state, step losses, validation points, notes
    DIR/sessions/<digest>/job_result.pkl  the finished job's report, top losses and model sizes
    DIR/sessions/<digest>/model/       the trained predictor folder (kdemo.load_predictor, transformers.pipeline)
    DIR/sessions/<digest>/checkpoint/  the running job's checkpoints (resume/ and epoch-N/), deleted once it finishes

``<digest>`` is a SHA-256 digest of the session key, which only the owning browser holds: the server can find a
session's folder from its key, and nothing on disk leads back to a key. Every file is written with
:mod:`kdemo.atomic` (a kill leaves the old or the new version). The Hugging Face token is never written: it is
not part of a session. The pickles are written and read by this server only (never uploaded files).

A session whose folder has not been touched for ``idle_timeout_s`` is deleted by the store's sweep, also after a
restart; the per-session disk cap counts the whole folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from kdemo.atomic import write_bytes, write_text
from kdemo.jobs import CANCELLED, FAILED, FINISHED, INTERRUPTED, QUEUED, RUNNING, STOPPED, Job
from kdemo.training.checkpoint_state import RESUME_DIR, read_state

SESSION_FILE, JOB_FILE, RESULT_FILE = "session.json", "job.json", "job_result.pkl"
TABLE_FILES = {"train_df": "train.pkl", "val_df": "val.pkl"}
#: Sub-folders of a session's folder: the trained predictor and the running job's checkpoints.
MODEL_DIR, CHECKPOINT_DIR = "model", "checkpoint"
#: The session fields kept in ``session.json``.
FIELDS = ("data_name", "text_column", "label_column", "label_columns", "text_pair_column", "task", "use_class_weight",
          "class_weight_offer", "last_seen")


def _writable(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def default_data_dir() -> Path:
    """Where the app keeps its sessions unless ``--data-dir`` says otherwise.

    Returns:
        ``/data/kdemo`` when ``/data`` exists and is writable (a Hugging Face Space with persistent storage);
        else ``$XDG_CACHE_HOME/kdemo/app``, or ``~/.cache/kdemo/app`` without ``XDG_CACHE_HOME``.
    """
    space = Path("/data")
    if space.is_dir() and _writable(space):
        return space / "kdemo"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kdemo" / "app"


def folder_name(key: str) -> str:
    """The name of a session's folder: 32 hex digits of SHA-256 of its key (one-way)."""
    return hashlib.sha256(f"kdemo-session:{key}".encode()).hexdigest()[:32]


def browser_secret(data_dir: Path) -> str:
    """The secret that encrypts the session key in the browser (``gr.BrowserState``), created once per data folder
    (a new secret at every start would make every browser's stored key unreadable after a restart)."""
    path = Path(data_dir) / "browser_secret"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(24)
    write_text(path, secret)
    os.chmod(path, 0o600)
    return secret


def save_session(session) -> None:
    """Write the session's choices (``session.json``) and, when they changed, its tables, atomically."""
    folder = Path(session.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    for attr, name in TABLE_FILES.items():
        table = getattr(session, attr)
        if session.saved_tables.get(attr) is table:
            continue
        if table is None:
            (folder / name).unlink(missing_ok=True)
        else:
            write_bytes(folder / name, pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
        session.saved_tables[attr] = table
    data = {name: getattr(session, name) for name in FIELDS}
    if data["class_weight_offer"] is not None:
        data["class_weight_offer"] = {str(k): v for k, v in data["class_weight_offer"].items()}
    data["train_config"] = session.train_config.to_dict() if session.train_config is not None else None
    write_text(folder / SESSION_FILE, json.dumps(data))


def save_job(session, job: Job, state: str | None = None) -> None:
    """Write the session's training job (``job.json``) and, once it has one, its result, atomically.

    Args:
        session: The job's session.
        job: The job.
        state: The state to record instead of ``job.state`` (the job's function records its own end before the
            queue sets it).
    """
    folder = Path(session.workdir)
    state = state or job.state
    error = job.error
    record = {"id": job.id, "kind": job.kind, "state": state, "epochs": job.epochs, "epoch": job.epoch,
              "total_steps": job.total_steps, "step_losses": list(job.step_losses),
              "val_points": [list(p) for p in job.val_points], "notes": list(job.notes), "phase": job.phase,
              "elapsed_s": job.elapsed_s, "error": str(error) if error is not None else None, "saved_at": time.time()}
    if state in (FINISHED, STOPPED) and job.result is not None:
        write_bytes(folder / RESULT_FILE, pickle.dumps(job.result, protocol=pickle.HIGHEST_PROTOCOL))
    write_text(folder / JOB_FILE, json.dumps(record))


def _read_pickle(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f)  # noqa: S301 - written by this server into its own data folder, never uploaded


def restore_job(folder: Path) -> Job | None:
    """The session's last training job as saved, or None. A job saved as queued or running was cut off by the
    server's stop: it comes back as :data:`kdemo.jobs.INTERRUPTED`."""
    path = folder / JOB_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    job = Job(fn=lambda job: None, kind=record["kind"], id=record["id"], epochs=record["epochs"],
              epoch=record["epoch"], total_steps=record["total_steps"], step_losses=record["step_losses"],
              val_points=[tuple(p) for p in record["val_points"]], notes=record["notes"], phase=record["phase"])
    state = record["state"]
    job.state = INTERRUPTED if state in (QUEUED, RUNNING) else state
    job.ended_at = record["saved_at"]
    job.started_at = job.ended_at - record["elapsed_s"]
    if state == FAILED:
        job.error = RuntimeError(record["error"] or "failed")
    if state in (FINISHED, STOPPED) and (folder / RESULT_FILE).is_file():
        job.result = _read_pickle(folder / RESULT_FILE)
    if job.state not in (FINISHED, STOPPED, FAILED, CANCELLED, INTERRUPTED):
        job.state = INTERRUPTED
    job.done_event.set()
    return job


def restore_session(session) -> bool:
    """Fill a new :class:`~kdemo.ui.session.Session` from its folder (after a restart).

    Returns:
        Whether the folder held a saved session.
    """
    from kdemo.inference.predictor import load_predictor
    from kdemo.run.config import TrainConfig

    folder = Path(session.workdir)
    path = folder / SESSION_FILE
    if not path.is_file():
        return False
    data = json.loads(path.read_text(encoding="utf-8"))
    for name in FIELDS:
        if name in data:
            setattr(session, name, data[name])
    if session.class_weight_offer is not None:
        session.class_weight_offer = {int(k): float(v) for k, v in session.class_weight_offer.items()}
    session.train_config = TrainConfig.from_dict(data["train_config"]) if data.get("train_config") else None
    for attr, name in TABLE_FILES.items():
        table = _read_pickle(folder / name) if (folder / name).is_file() else None
        setattr(session, attr, table if isinstance(table, pd.DataFrame) else None)
        session.saved_tables[attr] = getattr(session, attr)
    session.job = job = restore_job(folder)
    if job is not None and job.state == INTERRUPTED and (folder / CHECKPOINT_DIR / RESUME_DIR).is_dir():
        state = read_state(folder / CHECKPOINT_DIR)  # the curve and the status show where Resume starts from
        job.step_losses, job.val_points = list(state.step_losses), [tuple(p) for p in state.val_points]
        job.epoch = state.epoch
    if (folder / MODEL_DIR).is_dir() and session.job is not None and session.job.state in (FINISHED, STOPPED):
        session.predictor = load_predictor(folder / MODEL_DIR)
        session.report = (session.job.result or {}).get("report")
    return True


def last_activity(folder: Path) -> float:
    """Unix time of the newest of a session folder's record files (0 when it has none)."""
    times = [(folder / name).stat().st_mtime for name in (SESSION_FILE, JOB_FILE) if (folder / name).is_file()]
    return max(times, default=0.0)


def remove_stale(sessions_root: Path, idle_timeout_s: float, keep: set[str], now: float | None = None) -> int:
    """Delete session folders untouched for ``idle_timeout_s`` seconds, except those named in ``keep`` (live).

    Returns:
        Folders deleted.
    """
    now = time.time() if now is None else now
    removed = 0
    if not sessions_root.is_dir():
        return 0
    for folder in sessions_root.iterdir():
        if not folder.is_dir() or folder.name in keep or folder.name.startswith("."):
            continue
        if now - max(last_activity(folder), folder.stat().st_mtime) > idle_timeout_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
