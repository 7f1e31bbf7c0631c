"""The app's persistent store: each session's files in a data folder that survives a server restart (no gradio here).

``python app.py --data-dir DIR`` keeps everything a browser session builds under ``DIR`` (default:
:func:`default_data_dir`)::

    DIR/browser_secret                 the key of the browser's encrypted session-key storage (stable across restarts)
    DIR/sessions/<digest>/session.json data choices: file name, columns, task, class weights, last activity
    DIR/sessions/<digest>/train.parquet  the uploaded training table (and val.parquet, the validation table; .json
                                       instead for a table Parquet would change, see kdemo.data.frames)
    DIR/sessions/<digest>/job.json     the last training job: config, state, step losses, validation points, notes
    DIR/sessions/<digest>/job_result.json  the finished job's report, top losses and model sizes
    DIR/sessions/<digest>/model/       the trained or loaded predictor folder (kdemo.load_predictor,
                                       transformers.pipeline); ``session.json`` says which (``loaded_model``)
    DIR/sessions/<digest>/checkpoint/  the running job's checkpoints (resume/ and epoch-N/), deleted once it finishes

``<digest>`` is a SHA-256 digest of the session key, which only the owning browser holds: the server can find a
session's folder from its key, and nothing on disk leads back to a key. Every file is written with
:mod:`kdemo.atomic` (a kill leaves the old or the new version). The Hugging Face token is never written: it is
not part of a session. Nothing is pickled: tables are Parquet (or JSON), records JSON, models safetensors; the
``*.pkl`` files of an earlier version are never read (a session saved by it comes back without its tables and
report) and are deleted at the session's next save.

A session whose folder has not been touched for ``idle_timeout_s`` is deleted by the store's sweep, also after a
restart; the per-session disk cap counts the whole folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from kdemo.atomic import write_text
from kdemo.data.frames import frame_from_dict, frame_to_dict, read_frame, remove_frame, write_frame
from kdemo.errors import DataError
from kdemo.evaluation.report import RegressionReport
from kdemo.jobs import CANCELLED, FAILED, FINISHED, INTERRUPTED, QUEUED, RUNNING, STOPPED, Job
from kdemo.run import TrainConfig, read_data
from kdemo.run.checkpoints import RESUME_DIR, read_state
from kdemo.run.table_pipeline import TableRunData
from kdemo.tasks import SINGLE_LABEL, SPECS, spec_for

SESSION_FILE, JOB_FILE, RESULT_FILE = "session.json", "job.json", "job_result.json"
#: The session's tables: attribute -> file stem (``<stem>.parquet`` or ``<stem>.json``, see kdemo.data.frames).
TABLE_FILES = {"train_df": "train", "val_df": "val"}
#: Pickles written by an earlier version: never read, deleted at the session's next save.
LEGACY_FILES = ("train.pkl", "val.pkl", "job_result.pkl")
#: Version of ``job_result.json``'s layout.
RESULT_VERSION = 1
#: Sub-folders of a session's folder: the trained predictor and the running job's checkpoints.
MODEL_DIR, CHECKPOINT_DIR = "model", "checkpoint"
#: The session's data as kept in ``session.json`` (views of ``session.data``; the tables and token files beside it).
DATA_FIELDS = ("data_name", "text_column", "label_column", "label_columns", "text_pair_column", "task")
#: The session's other fields kept in ``session.json``.
FIELDS = ("use_class_weight", "class_weight_offer", "last_seen", "loaded_model")

log = logging.getLogger("kdemo.store")


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
    for attr, stem in TABLE_FILES.items():
        table = getattr(session, attr)
        if session.saved_tables.get(attr) is table:
            continue
        if table is None:
            remove_frame(folder, stem)
        else:
            write_frame(folder, stem, table)
        session.saved_tables[attr] = table
    for name in LEGACY_FILES:
        (folder / name).unlink(missing_ok=True)
    data = {**_data_fields(session.data), **{name: getattr(session, name) for name in FIELDS}}
    if data["class_weight_offer"] is not None:
        data["class_weight_offer"] = {str(k): v for k, v in data["class_weight_offer"].items()}
    data["train_config"] = session.train_config.to_dict() if session.train_config is not None else None
    # a token file lives in the session's folder already (its copy is what a token run trains on): its place
    data["ner_files"] = [_relative(folder, getattr(session.data, name, None)) for name in ("train_file", "val_file")]
    write_text(folder / SESSION_FILE, json.dumps(data))


def _data_fields(data) -> dict:
    """The :data:`DATA_FIELDS` of ``data`` (a RunData, or None before an upload) as ``session.json`` keeps them."""
    labels = list(data.label_columns) if data is not None else []
    return {"data_name": (data.data_name if data is not None else None) or "",
            "text_column": data.text_column if data is not None else None,
            "label_column": labels[0] if labels else None, "label_columns": labels,
            "text_pair_column": data.text_pair_column if data is not None else None,
            "task": data.spec.task.value if data is not None else None}


def _relative(folder: Path, path) -> str | None:
    """``path`` relative to the session's folder (None for no file, or for one outside the folder)."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def _restore_data(session, folder: Path, fields: dict) -> None:
    """Set ``session.data`` from the saved tables and choices, or read the session's token file copies back (once:
    a restart, not a run; the doctor runs again on the next page)."""
    train_name, val_name = (list(fields.get("ner_files") or []) + [None, None])[:2]
    if train_name and (folder / train_name).is_file():
        val_file = folder / val_name if val_name and (folder / val_name).is_file() else None
        config = TrainConfig(train_file=str(folder / train_name), val_file=str(val_file) if val_file else None,
                             task=fields.get("task"), data_name=fields.get("data_name") or None)
        try:
            session.data = read_data(config)
        except DataError as exc:  # a copy damaged since: the session comes back without its data
            log.warning("ignoring an unreadable token file %s: %s", folder / train_name, exc)
        return
    tables = {attr: read_frame(folder, stem) for attr, stem in TABLE_FILES.items()}
    session.saved_tables.update(tables)
    if tables["train_df"] is None and not fields.get("data_name"):
        return
    session.data = TableRunData(  # as saved, columns and task included (nothing to guess or detect again)
        spec=spec_for(fields.get("task") or SINGLE_LABEL), data_name=fields.get("data_name") or None,
        text_column=fields.get("text_column"), label_columns=tuple(fields.get("label_columns") or ()),
        text_pair_column=fields.get("text_pair_column"), **tables)


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
        write_text(folder / RESULT_FILE, json.dumps(result_to_dict(job.result)))
    write_text(folder / JOB_FILE, json.dumps(record))


def forget_job(session) -> None:
    """Delete the session's saved training job, its result and its checkpoints (a model loaded in the Predict tab
    replaced the trained one)."""
    folder = Path(session.workdir)
    for name in (JOB_FILE, RESULT_FILE):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)


def result_to_dict(result: dict) -> dict:
    """A finished job's result (:func:`kdemo.ui.train_job.job_result`) in JSON-ready form.

    Args:
        result: ``{"report": <a report of kdemo.evaluation>, "top_losses": DataFrame, "num_layers", "num_heads"}``.

    Returns:
        ``{"version", "report_type" (class name), "report" (its ``to_dict``, with a regression's per-row values),
        "top_losses" (:func:`kdemo.data.frames.frame_to_dict`), "num_layers", "num_heads"}``.
    """
    report = result.get("report")
    if isinstance(report, RegressionReport):
        form = report.to_dict(values=True)  # the Train tab's figure plots them
    else:
        form = report.to_dict() if report is not None else None
    top = result.get("top_losses")
    return {"version": RESULT_VERSION, "report_type": type(report).__name__ if report is not None else None,
            "report": form, "top_losses": frame_to_dict(top) if top is not None else None,
            "num_layers": int(result["num_layers"]), "num_heads": int(result["num_heads"]),
            "baseline": result.get("baseline"), "warnings": list(result.get("warnings") or []),
            "quick_baseline": result.get("quick_baseline"),
            **{k: result.get(k) for k in ("model", "data_name", "data_key", "finished_at")}}


def result_from_dict(data: dict) -> dict:
    """The job result :func:`result_to_dict` wrote.

    Raises:
        ValueError: If the report type is unknown or the layout is newer than this version reads.
    """
    if data.get("version", 0) > RESULT_VERSION:
        raise ValueError(f"Expected a job result of version <= {RESULT_VERSION}. Received: {data.get('version')}.")
    kind = data.get("report_type")
    reports = report_classes()
    if kind is not None and kind not in reports:
        raise ValueError(f"Expected a report type among {sorted(reports)}. Received: {kind!r}.")
    report = reports[kind].from_dict(data["report"]) if kind is not None else None
    top = frame_from_dict(data["top_losses"]) if data.get("top_losses") is not None else None
    return {"report": report, "top_losses": top, "num_layers": data["num_layers"], "num_heads": data["num_heads"],
            "baseline": data.get("baseline"), "warnings": list(data.get("warnings") or []),
            "quick_baseline": data.get("quick_baseline"),
            **{k: data.get(k) for k in ("model", "data_name", "data_key", "finished_at")}}


def report_classes() -> dict[str, type]:
    """The validation reports a job result may hold, by class name (how ``job_result.json`` names them): each
    task's ``report`` class, as its spec names it (``spec.load("report")``).

    Returns:
        ``{class name: class}`` over :data:`kdemo.tasks.SPECS`.
    """
    return {cls.__name__: cls for cls in (spec.load("report") for spec in SPECS.values())}


def _read_result(path: Path) -> dict | None:
    """The saved job result, or None when it is missing or cannot be read (the job then shows no report)."""
    if not path.is_file():
        return None
    try:
        return result_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable job result %s: %s", path, exc)
        return None


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
    if state in (FINISHED, STOPPED):
        job.result = _read_result(folder / RESULT_FILE)
    if job.state not in (FINISHED, STOPPED, FAILED, CANCELLED, INTERRUPTED):
        job.state = INTERRUPTED
    job.done_event.set()
    return job


def restore_session(session) -> bool:
    """Fill a new :class:`~kdemo.ui.session.Session` from its folder (after a restart).

    Only files are read here: the saved predictor is loaded on its first use
    (:meth:`~kdemo.ui.session.Session.defer_predictor`), so that reconnecting, done under the session store's lock,
    never waits for a model.

    Returns:
        Whether the folder held a saved session.
    """
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
    _restore_data(session, folder, data)
    session.job = job = restore_job(folder)
    if job is not None and job.state == INTERRUPTED and (folder / CHECKPOINT_DIR / RESUME_DIR).is_dir():
        state = read_state(folder / CHECKPOINT_DIR)  # the curve and the status show where Resume starts from
        job.step_losses, job.val_points = list(state.step_losses), [tuple(p) for p in state.val_points]
        job.epoch = state.epoch
    trained = session.job is not None and session.job.state in (FINISHED, STOPPED)
    loaded = session.job is None and session.loaded_model is not None  # a model loaded in the Predict tab
    if (folder / MODEL_DIR).is_dir() and (trained or loaded):
        session.defer_predictor(folder / MODEL_DIR)
        session.report = (session.job.result or {}).get("report") if trained else None
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
