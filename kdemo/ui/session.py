"""Per-browser state, kept server-side: sessions that survive a page reload, with time and disk limits.

``gr.State`` must be deep-copyable, which models are not; so the learner, predictor, data and training job live
here. A browser keeps a random session key in its localStorage (``gr.BrowserState``, encrypted by Gradio): after a
reload, the new page presents the key and is attached to the same session, so a running or finished training job
reappears. API clients without a key get a session per ``request.session_hash``. Two browsers (or two browser
profiles) never share a key, so they never see each other's data, model or files.

Each session has a private, unguessable working folder: a temporary one by default, or, once the store is opened
on a data folder (:meth:`SessionStore.open`, ``python app.py --data-dir DIR``), a folder there that survives a
restart (:mod:`kdemo.ui.store`): a browser that comes back with its key after a restart finds its data, choices,
model and job again (a job cut off by the restart as "interrupted", to be resumed). A session is removed (its training stopped, its folder
deleted) when no page has been attached to it for :attr:`SessionLimits.reconnect_grace_s`, or when it has been idle
for :attr:`SessionLimits.idle_timeout_s`; a session with a queued or running job is kept until the job ends.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from kdemo.data.limits import format_bytes
from kdemo.errors import KdemoError
from kdemo.inference.predictor import load_predictor
from kdemo.jobs import Job, JobQueue, log_event, owner_digest
from kdemo.run import RunData
from kdemo.run.models import FolderPolicy
from kdemo.tasks import TaskSpec
from kdemo.ui import store
from kdemo.ui.auth import folder_policy
from kdemo.ui.session_data import DataViews

_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SessionLimits:
    """Lifetime and disk limits of browser sessions; validated on construction.

    Attributes:
        reconnect_grace_s: Seconds a session is kept after its last page closed (a reload comes back within it).
        idle_timeout_s: Seconds without any request after which a session is removed even if a page is open.
        max_disk_bytes: Most bytes a session's working folder (models, exports) may hold.
        sweep_every_s: Seconds between two sweeps for expired sessions (a sweep runs on the next request).

    Raises:
        ValueError: If a value is not positive or the grace period exceeds the idle timeout.
    """

    reconnect_grace_s: float = 15 * 60
    idle_timeout_s: float = 6 * 3600
    max_disk_bytes: int = 2 * 2**30
    sweep_every_s: float = 30.0

    def __post_init__(self):
        for name in ("reconnect_grace_s", "idle_timeout_s", "max_disk_bytes", "sweep_every_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Expected {name} > 0. Received: {name}={getattr(self, name)!r}.")
        if self.reconnect_grace_s > self.idle_timeout_s:
            raise ValueError(f"Expected reconnect_grace_s <= idle_timeout_s. Received: {self.reconnect_grace_s} > {self.idle_timeout_s}.")


def folder_bytes(path: Path) -> int:
    """Total size in bytes of the regular files under ``path`` (symlinks not followed)."""
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total


@dataclass
class Session(DataViews):
    """Everything one browser session has built."""

    key: str
    workdir: Path
    #: The uploaded data as read once by :func:`kdemo.run.read_data` (tables and their columns, or a token file's
    #: sentences and the session's copies of its files), or None before an upload. A column or task change makes a
    #: new one (``dataclasses.replace``); nothing is read again.
    data: RunData | None = None
    #: The data doctor's last :class:`~kdemo.data.doctor.DataReport` (a token file's
    #: :class:`~kdemo.data.token_doctor.TokenDiagnosis`).
    doctor_report: Any = None
    #: ``{class_id: weight}`` the doctor offered for imbalanced single-label data (None when not offered).
    class_weight_offer: dict[int, float] | None = None
    #: Whether the user ticked "Use balanced class weights".
    use_class_weight: bool = False
    #: The file the Data tab read :attr:`data` from (Gradio's copy of the upload, or the example), shown again in
    #: the Training-file box after a reload or a refused upload; None before a load.
    upload_file: str | None = None
    preproc: Any = None
    learner: Any = None
    report: Any = None
    #: The Hub id or folder of the model loaded in the Predict tab, while that is the session's model (None for a
    #: model trained here); recorded in the store so that a restart brings the loaded model back.
    loaded_model: str | None = None
    #: The last finished run's :class:`~kdemo.run.result.TrainResult` (its record and ``training_params.json``).
    result: Any = None
    #: The last training job of this session, queued, running or ended.
    job: Job | None = None
    #: The :class:`~kdemo.run.config.TrainConfig` of the last training job (what Resume continues).
    train_config: Any = None
    #: The tables as last written to the store (``{"train_df": df, "val_df": df}``), so unchanged ones are not rewritten.
    saved_tables: dict = field(default_factory=dict)
    #: The last LR-finder job of this session.
    lr_job: Job | None = None
    #: The last label-issue search of this session (the Labels tab), and its result with the user's decisions
    #: (:class:`kdemo.ui.labels.LabelState`, or None).
    label_job: Job | None = None
    labels: Any = None
    #: Session hashes of the pages attached now.
    pages: set[str] = field(default_factory=set)
    last_seen: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: The trained or loaded predictor (see :attr:`predictor`), and the saved one not loaded yet.
    _predictor: Any = field(default=None, repr=False)
    _pending_model: Path | None = field(default=None, repr=False)
    #: Held while the pending predictor loads: one load per session, and no other session waits for it.
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def predictor(self):
        """The trained or loaded predictor, or None. A session restored after a restart loads its saved predictor
        here, on first use (:meth:`defer_predictor`), under this session's own lock: reconnecting never waits for a
        model, and other sessions never wait for this one's."""
        if self._pending_model is not None:
            with self._model_lock:
                folder = self._pending_model
                if folder is not None:
                    try:
                        self._predictor = load_predictor(folder)
                    except (OSError, ValueError, RuntimeError, KdemoError) as exc:  # a damaged folder: go on without
                        log_event("model_restore_failed", owner=self.owner, error=f"{type(exc).__name__}: {exc}")
                        self._predictor = None
                    self._pending_model = None
        return self._predictor

    @predictor.setter
    def predictor(self, value) -> None:
        with self._model_lock:  # a load in progress ends first; the new value wins
            self._pending_model, self._predictor = None, value

    def defer_predictor(self, folder: Path) -> None:
        """Make the predictor saved in ``folder`` the session's, loaded on the first read of :attr:`predictor`."""
        with self._model_lock:
            self._pending_model, self._predictor = Path(folder), None

    @property
    def owner(self) -> str:
        """One-way digest of the session key, for logs."""
        return owner_digest(self.key)

    @property
    def busy(self) -> bool:
        """Whether a job of this session is queued or running."""
        return any(job is not None and job.active for job in (self.job, self.lr_job, self.label_job))

    @property
    def spec(self) -> TaskSpec | None:
        """The :class:`~kdemo.tasks.TaskSpec` of the session's data (what its views and its run are), or None."""
        return self.data.spec if self.data is not None else None

    @property
    def policy(self) -> FolderPolicy:
        """Which local model folders this session may load (:func:`kdemo.ui.auth.folder_policy`): its own folder,
        never another session's."""
        return folder_policy(self.workdir, STORE.root)

    def require_idle(self, action: str) -> None:
        """Raise KdemoError if a job of this session is queued or running (``action``: what the user tried)."""
        if self.busy:
            raise KdemoError(f"Training is queued or running. Wait for it to finish or press Stop in the Train tab before {action}.")

    def require_predictor(self):
        """The trained or loaded predictor; raises KdemoError while training runs or before there is a model."""
        if self.busy:
            raise KdemoError("Training is still running. Wait for it to finish or press Stop in the Train tab.")
        if self.predictor is None:
            raise KdemoError("Expected a model. Received: none yet in this session. Train one in the Train tab, or "
                             "load a fine-tuned model (Hub id or local folder) at the top of the Predict tab.")
        return self.predictor

    def require_disk_room(self, limit_bytes: int) -> None:
        """Raise KdemoError if the working folder already holds ``limit_bytes`` or more."""
        used = folder_bytes(self.workdir)
        if used >= limit_bytes:
            raise KdemoError(
                f"Expected this session's files to stay under {format_bytes(limit_bytes)}. Received: {format_bytes(used)} "
                "already (models and exports). Reload the page to start a fresh session, or download what you need first."
            )


class SessionStore:
    """Thread-safe map from a session key (or, for API clients, the Gradio session hash) to :class:`Session`.

    Args:
        limits: Lifetime and disk limits.
        root: Folder for the sessions' working folders (default: the system temp folder at creation time).
        persistent: Keep each session in ``root/<digest of its key>`` and write its state there
            (:mod:`kdemo.ui.store`); see :meth:`open`.
    """

    def __init__(self, limits: SessionLimits | None = None, root: Path | None = None, *, persistent: bool = False):
        self.limits = limits or SessionLimits()
        self.root = Path(root) if root else None
        if persistent and self.root is None:
            raise ValueError("Expected a root folder for a persistent session store. Received: root=None.")
        self.persistent = persistent
        self._sessions: dict[str, Session] = {}
        self._pages: dict[str, str] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.time()

    def open(self, data_dir: str | Path) -> Path:
        """Keep the sessions in ``data_dir/sessions`` from now on, persistently (``python app.py --data-dir``).

        Returns:
            The sessions folder.
        """
        with self._lock:
            self.root, self.persistent = Path(data_dir) / "sessions", True
            self.root.mkdir(parents=True, exist_ok=True)
        self.sweep(force=True)
        return self.root

    def _folder(self, key: str) -> Path:
        return self.root / store.folder_name(key)

    def _new(self, key: str) -> Session:
        session = self._restored(key) if self.persistent else None
        if session is None:
            if self.root is not None:
                self.root.mkdir(parents=True, exist_ok=True)
            if self.persistent:
                workdir = self._folder(key)
                workdir.mkdir(exist_ok=True)
            else:
                workdir = Path(tempfile.mkdtemp(prefix="kdemo-session-", dir=self.root))
            session = Session(key=key, workdir=workdir)
            log_event("session_created", owner=session.owner)
        self._sessions[key] = session
        return session

    def _restored(self, key: str) -> Session | None:
        """The session saved under ``key``'s folder, read back (files only, its model loads on first use), or None.
        Touches nothing of the store's maps: :meth:`attach` calls it without the store's lock."""
        session = Session(key=key, workdir=self._folder(key))
        if not store.restore_session(session):
            return None
        log_event("session_restored", owner=session.owner)
        return session

    def _on_disk(self, key: str) -> bool:
        return self.persistent and (self._folder(key) / store.SESSION_FILE).is_file()

    def persist(self, session: Session) -> None:
        """Write the session's data choices and tables to the store (nothing without a data folder)."""
        if self.persistent:
            store.save_session(session)

    def record_loaded_model(self, session: Session, source: str) -> None:
        """Record that the session's model is now the one loaded from ``source`` (a Hub id or folder) and saved in
        its ``model`` folder: its training job, result and checkpoints are forgotten, in the store too, so that a
        restart brings back this model (see :func:`kdemo.ui.store.forget_job`)."""
        session.loaded_model = source.strip()
        if self.persistent:
            store.forget_job(session)
            store.save_session(session)

    def persist_job(self, session: Session, job: Job, state: str | None = None) -> None:
        """Write the session's training job to the store (see :func:`kdemo.ui.store.save_job`)."""
        if self.persistent:
            store.save_job(session, job, state)

    def get(self, request: gr.Request | None) -> Session:
        """The caller's session, created on first use."""
        page = getattr(request, "session_hash", None) or "no-session"
        self.sweep()
        with self._lock:
            key = self._pages.get(page, page)
            session = self._sessions.get(key) or self._new(key)
            session.last_seen = time.time()
            return session

    def attach(self, request: gr.Request | None, key: str | None) -> str:
        """Attach the caller's page to the session of ``key`` (from the browser), or to a new session.

        An unknown or malformed key is never adopted (a new random one is issued), so a key cannot be chosen by
        the client.

        Returns:
            The session key the browser should keep.
        """
        page = getattr(request, "session_hash", None) or "no-session"
        self.sweep()
        valid = isinstance(key, str) and _KEY.match(key) is not None
        restored = None
        if valid:
            with self._lock:
                known = key in self._sessions
            if not known and self._on_disk(key):  # back after a restart: its files are read without the lock
                restored = self._restored(key)
        with self._lock:
            if valid and key in self._sessions:  # also when another page of it came back meanwhile
                session = self._sessions[key]
            elif restored is not None:
                session = self._sessions[key] = restored
            else:
                key = secrets.token_urlsafe(32)
                early = self._sessions.pop(page, None)  # calls made by this page before it attached
                if early is not None:
                    early.key = key
                    if self.persistent and not early.busy:  # its folder is named after its key
                        early.workdir = early.workdir.rename(self._folder(key))
                    self._sessions[key] = early
                session = early or self._new(key)
            self._pages[page] = key
            session.pages.add(page)
            session.last_seen = time.time()
        log_event("page_attached", owner=session.owner, pages=len(session.pages))
        return key

    def detach(self, request: gr.Request | None) -> None:
        """Forget a closed page; its session stays for :attr:`SessionLimits.reconnect_grace_s` (a reload)."""
        page = getattr(request, "session_hash", None) or "no-session"
        with self._lock:
            key = self._pages.pop(page, page)
            session = self._sessions.get(key)
            if session is not None:
                session.pages.discard(page)
                session.last_seen = time.time()
        self.sweep()

    def drop(self, request: gr.Request | None) -> None:
        """Remove the caller's session now: stop its job and delete its working folder."""
        page = getattr(request, "session_hash", None) or "no-session"
        with self._lock:
            key = self._pages.pop(page, page)
            session = self._sessions.pop(key, None)
        if session is not None:
            self._remove(session, "dropped")

    def sweep(self, now: float | None = None, *, force: bool = False) -> int:
        """Remove expired sessions (see the module docstring). Runs at most every ``sweep_every_s`` unless forced.

        Returns:
            Number of sessions removed.
        """
        now = time.time() if now is None else now
        if not force and now - self._last_sweep < self.limits.sweep_every_s:
            return 0
        self._last_sweep = now
        expired = []
        with self._lock:
            for key, session in list(self._sessions.items()):
                if session.busy:
                    continue
                ended = [job.ended_at for job in (session.job, session.lr_job, session.label_job) if job is not None]
                idle = now - max([session.last_seen, *ended])
                detached = not session.pages and idle > self.limits.reconnect_grace_s
                if detached or idle > self.limits.idle_timeout_s:
                    expired.append(self._sessions.pop(key))
                    for page in session.pages:
                        self._pages.pop(page, None)
        for session in expired:
            self._remove(session, "expired")
        if self.persistent:  # sessions nobody came back for since a restart
            with self._lock:
                live = {s.workdir.name for s in self._sessions.values()}
            store.remove_stale(self.root, self.limits.idle_timeout_s, live, now)
        return len(expired)

    @staticmethod
    def _remove(session: Session, why: str) -> None:
        for job in (session.job, session.lr_job, session.label_job):
            if job is not None and job.active:
                job.request_stop()
        if session.learner is not None:
            session.learner.request_stop()
        shutil.rmtree(session.workdir, ignore_errors=True)
        log_event("session_removed", owner=session.owner, why=why)

    def __len__(self) -> int:
        return len(self._sessions)


STORE = SessionStore()
#: The device's job queue: one training or LR-finder job runs at a time, the others wait in order.
#: Training yields the cores to other sessions' predictions (``nice``), and trains on torch's default intra-op
#: threads, however many the prediction thread uses (kdemo.jobs).
DEVICE_QUEUE = JobQueue(nice=10, threads=torch.get_num_threads())
