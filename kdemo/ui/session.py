"""Per-browser-session state, kept server-side and keyed by ``request.session_hash``.

``gr.State`` must be deep-copyable, which models are not; so the learner, predictor and data live here, and two
browser tabs (two session hashes) never see each other's data, model or files. Each session gets a private,
unguessable working folder that is deleted when the page is closed.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from kdemo.errors import KdemoError


@dataclass
class TrainingJob:
    """Live state of a training run, written by the training thread and read by the UI.

    Attributes:
        total_steps: Optimizer steps planned.
        step_losses: Loss of each finished step.
        val_points: ``(step, val_loss)`` after each epoch.
        status: One line for the user.
        done: Whether the thread finished (successfully or not).
        error: The exception that ended training, if any.
        stopped: Whether the user stopped it.
    """

    total_steps: int = 0
    epochs: int = 0
    step_losses: list[float] = field(default_factory=list)
    val_points: list[tuple[int, float]] = field(default_factory=list)
    status: str = "Preparing…"
    epoch: int = 0
    eta_s: float = 0.0
    elapsed_s: float = 0.0
    done: bool = False
    error: Exception | None = None
    stopped: bool = False
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@dataclass
class Session:
    """Everything one browser session has built."""

    workdir: Path
    train_df: pd.DataFrame | None = None
    val_df: pd.DataFrame | None = None
    data_name: str = ""
    text_column: str | None = None
    label_column: str | None = None
    #: Every label column (several for 0/1 multi-label columns); ``label_column`` is the first.
    label_columns: list[str] = field(default_factory=list)
    #: ``"single_label"``, ``"multi_label"`` or ``"regression"``: detected by the data doctor or chosen in the Data tab.
    task: str | None = None
    #: The data doctor's last :class:`~kdemo.doctor.DataReport`.
    doctor_report: Any = None
    #: ``{class_id: weight}`` the doctor offered for imbalanced single-label data (None when not offered).
    class_weight_offer: dict[int, float] | None = None
    #: Whether the user ticked "Use balanced class weights".
    use_class_weight: bool = False
    preproc: Any = None
    learner: Any = None
    predictor: Any = None
    report: Any = None
    training_params: dict = field(default_factory=dict)
    job: TrainingJob | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_columns(self, text_column: str, label_columns: list[str]) -> None:
        """Choose the text column and the label column(s)."""
        self.text_column, self.label_columns = text_column, list(label_columns)
        self.label_column = self.label_columns[0] if self.label_columns else None

    def require_data(self) -> pd.DataFrame:
        """The uploaded training table; raises KdemoError telling the user to upload one first."""
        if self.train_df is None:
            raise KdemoError("No data yet. Upload a labelled file (or use the example) in the Data tab first.")
        return self.train_df

    def require_predictor(self):
        """The trained or loaded predictor; raises KdemoError while training runs or before there is a model."""
        if self.job is not None and self.job.running:
            raise KdemoError("Training is still running. Wait for it to finish or press Stop in the Train tab.")
        if self.predictor is None:
            raise KdemoError("No trained model yet. Train one in the Train tab first.")
        return self.predictor


class SessionStore:
    """Thread-safe map from Gradio session hash to :class:`Session`."""

    def __init__(self):
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, request: gr.Request | None) -> Session:
        """The caller's session, created on first use."""
        key = getattr(request, "session_hash", None) or "no-session"
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = Session(workdir=Path(tempfile.mkdtemp(prefix="kdemo-session-")))
            return self._sessions[key]

    def drop(self, request: gr.Request | None) -> None:
        """Forget a session: ask its training to stop and delete its working folder."""
        key = getattr(request, "session_hash", None) or "no-session"
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is None:
            return
        if session.learner is not None:
            session.learner.request_stop()
        shutil.rmtree(session.workdir, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._sessions)


STORE = SessionStore()
