"""A session's runs on disk: one folder per finished training (its model, its record, its evaluations).

``<session>/runs/<id>/run.json`` holds what the Runs tab shows (name, task, model, settings, duration, status, the
validation metrics, the loss and validation curves, the tracking run); ``<id>/model`` the saved model; and
``<id>/evaluations.json`` the test-file evaluations. The folder lives in the session's folder, so a server started
again on the same ``--data-dir`` shows the same runs.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from kdemo.atomic import write_text as atomic_write_text
from kdemo.errors import DataError

RUNS_DIR = "runs"
#: File in the runs folder naming the run in use.
ACTIVE_FILE = "active"
#: Columns of the Runs table.
TABLE_COLUMNS = ["id", "name", "task", "model", "lr", "epochs", "batch", "schedule", "duration_s", "status",
                 "best_metrics", "finished"]


def runs_root(workdir: Path) -> Path:
    """The session's runs folder (created)."""
    root = Path(workdir) / RUNS_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


def record_run(workdir: Path, result, model_folder: Path, *, status: str, step_losses=(), val_points=()) -> dict:
    """Keep a finished run: copy its saved model folder and write its record.

    Args:
        workdir: The session's folder.
        result: The :class:`~kdemo.run.result.TrainResult`.
        model_folder: Where ``result`` was saved (copied into the run's folder).
        status: ``"finished"`` or ``"stopped"``.
        step_losses: The loss of every optimizer step.
        val_points: ``(step, val_loss)`` of every epoch.

    Returns:
        The run's record (``run.json``).
    """
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    folder = runs_root(workdir) / run_id
    shutil.copytree(model_folder, folder / "model")
    cfg = result.config
    tracking = result.params.get("tracking") or {}
    record = {
        "id": run_id, "name": cfg.run_name or tracking.get("run") or run_id, "task": str(result.params["resolved"]["task"]),
        "model": cfg.model_name, "lr": cfg.lr, "epochs": cfg.epochs, "batch": cfg.batch_size, "schedule": cfg.schedule,
        "duration_s": result.params["resolved"].get("training_seconds"),
        "status": status, "metrics": dict(result.metrics), "best_epoch": result.params.get("best_epoch"),
        "config": cfg.to_dict(), "data_name": cfg.data_name, "finished_at": time.time(),
        "step_losses": [float(x) for x in step_losses], "val_points": [[int(s), float(v)] for s, v in val_points],
        "tracking": tracking,
    }
    atomic_write_text(folder / "run.json", json.dumps(record))
    return record


def set_active(workdir: Path, run_id: str) -> None:
    """Record run ``run_id`` as the session's model in use (Predict, Attention and Hub)."""
    atomic_write_text(runs_root(workdir) / ACTIVE_FILE, str(run_id))


def active_run(workdir: Path) -> str | None:
    """The id of the session's run in use, or None."""
    path = runs_root(workdir) / ACTIVE_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def list_runs(workdir: Path) -> list[dict]:
    """The session's runs, oldest first (records whose files are unreadable are skipped)."""
    runs = []
    for path in sorted(runs_root(workdir).glob("*/run.json")):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(runs, key=lambda r: r.get("finished_at", 0))


def run_folder(workdir: Path, run_id: str) -> Path:
    """The folder of run ``run_id``.

    Raises:
        DataError: If the session has no such run.
    """
    folder = runs_root(workdir) / str(run_id)
    if not run_id or "/" in str(run_id) or not (folder / "run.json").is_file():
        raise DataError(f"Expected one of this session's runs. Received: {run_id!r}. Pick a run in the table.")
    return folder


def rename_run(workdir: Path, run_id: str, name: str) -> dict:
    """Give run ``run_id`` a new display name.

    Raises:
        DataError: If the run is unknown or the name empty.
    """
    if not str(name or "").strip():
        raise DataError("Expected a new name. Received: an empty one. Type a name.")
    folder = run_folder(workdir, run_id)
    record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    record["name"] = str(name).strip()
    atomic_write_text(folder / "run.json", json.dumps(record))
    return record


def delete_run(workdir: Path, run_id: str) -> None:
    """Delete run ``run_id`` with its model and evaluations (trackio keeps its own log of it)."""
    shutil.rmtree(run_folder(workdir, run_id))


def save_evaluation(workdir: Path, run_id: str, entry: dict) -> None:
    """Append one evaluation (``kdemo.evaluate`` / ``kdemo.compare``'s ``to_dict()`` with a ``kind``) to a run."""
    path = run_folder(workdir, run_id) / "evaluations.json"
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    atomic_write_text(path, json.dumps(entries + [entry]))


def evaluations(workdir: Path, run_id: str) -> list[dict]:
    """The evaluations saved with run ``run_id`` (oldest first)."""
    path = run_folder(workdir, run_id) / "evaluations.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def runs_table(runs: list[dict]) -> pd.DataFrame:
    """One row per run: :data:`TABLE_COLUMNS`; ``best_metrics`` the validation metrics, 4 decimals."""
    rows = [{**{k: r.get(k) for k in TABLE_COLUMNS},
             "best_metrics": ", ".join(f"{k} {v:.4f}" for k, v in (r.get("metrics") or {}).items()
                                       if k != "num_rows" and isinstance(v, (int, float))),
             "finished": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.get("finished_at", 0)))} for r in runs]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def config_diff(runs: list[dict]) -> pd.DataFrame:
    """The settings that differ between ``runs`` (one column per run, named by the run's name): differences only."""
    keys = sorted({k for r in runs for k in r.get("config", {})})
    rows = [{"setting": k, **{r["name"]: r["config"].get(k) for r in runs}} for k in keys
            if len({json.dumps(r["config"].get(k), sort_keys=True) for r in runs}) > 1]
    return pd.DataFrame(rows, columns=["setting", *[r["name"] for r in runs]])


def curves_figure(runs: list[dict]) -> Figure:
    """The runs' training-loss curves (per optimizer step) and validation losses (per epoch end), overlaid."""
    fig = Figure(figsize=(8, 3.6))
    ax_loss, ax_val = fig.subplots(1, 2)
    for i, r in enumerate(runs):
        color = f"C{i % 10}"
        losses = r.get("step_losses") or []
        ax_loss.plot(range(1, len(losses) + 1), losses, color=color, lw=1, label=r["name"])
        points = r.get("val_points") or []
        if points:
            ax_val.plot([p[0] for p in points], [p[1] for p in points], "o-", color=color, label=r["name"])
    ax_loss.set(title="Training loss", xlabel="step", ylabel="loss")
    ax_val.set(title="Validation loss", xlabel="step", ylabel="val_loss")
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
