"""Background jobs on one device: a FIFO queue with one worker, queue positions, Stop, and structured logs.

Gradio cannot cancel a running function (gradio issues #3758, #9415), and a browser that reloads loses the event
it started. So training runs here, owned by the session and not by the HTTP request: the UI submits a
:class:`Job`, polls its state, and asks it to stop through a flag that a Keras callback reads after each batch.
One job runs at a time on the device; the others wait in order and can see their position.

Every job event is one JSON log line on the ``kdemo.jobs`` logger, e.g.::

    {"event": "started", "job": "3f2a9c1e0b7d", "kind": "train", "owner": "a1b2c3d4", "waited_s": 0.0}

Log fields are numbers and short labels chosen by the caller; texts, tokens and paths are never logged. The
``owner`` is a one-way digest of the session key, so a log line cannot be used to take over a session.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("kdemo.jobs")

QUEUED, RUNNING, FINISHED, STOPPED, FAILED, CANCELLED = "queued", "running", "finished", "stopped", "failed", "cancelled"
#: State of a job that was queued or running when the server stopped (a restart found it so; see kdemo.ui.store).
INTERRUPTED = "interrupted"
#: States after which a job never changes again.
TERMINAL = (FINISHED, STOPPED, FAILED, CANCELLED, INTERRUPTED)


def owner_digest(key: str) -> str:
    """A short one-way digest of a session key, safe to print in logs (the key itself is a credential)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def log_event(event: str, **fields: Any) -> None:
    """Write one structured job-log line: a JSON object with ``ts`` (Unix seconds), ``event`` and ``fields``.

    Args:
        event: What happened (``queued``, ``started``, ``oom_retry``, ``finished``, …).
        **fields: JSON-serialisable numbers and short labels. Floats are rounded to 4 digits.
    """
    record = {"ts": round(time.time(), 3), "event": event}
    record.update({k: round(v, 4) if isinstance(v, float) else v for k, v in fields.items()})
    log.info(json.dumps(record, default=str, sort_keys=False))


@dataclass(eq=False)
class Job:
    """One unit of device work and its live state.

    The worker thread writes the state; any thread may read it. ``fn(job)`` does the work and may update the
    progress fields; it should return when :attr:`stop_event` is set (training does, through
    :class:`kdemo.training.callbacks.StopRequest`).

    Attributes:
        fn: The work; called once, with this job, on the worker thread. Its return value becomes :attr:`result`.
        kind: A label for logs and messages (``"train"``, ``"lr_find"``).
        owner: Digest of the owning session (see :func:`owner_digest`).
        id: Random 12-hex-digit id.
        state: ``queued``, ``running``, ``finished``, ``stopped``, ``failed``, ``cancelled`` or ``interrupted``
            (restored after a server restart cut it off).
        submitted_at, started_at, ended_at: ``time.time()`` stamps (seconds); 0 until reached.
        total_steps: Optimizer steps planned (0 until known).
        epochs: Epochs planned.
        epoch: Current 0-based epoch.
        step_losses: Training loss of each finished step.
        val_points: ``(step, val_loss)`` after each epoch.
        eta_s: Estimated seconds left in training.
        phase: What the running job does now, for the user (``"Loading the model"``, ``"Training"``, …).
        notes: Messages for the user that came up while running (e.g. an out-of-memory retry).
        result: What ``fn`` returned.
        error: The exception that ended the job, if any.
        stop_event: Set to ask the job to stop.
    """

    fn: Callable[[Job], Any]
    kind: str = "train"
    owner: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = QUEUED
    submitted_at: float = 0.0
    started_at: float = 0.0
    ended_at: float = 0.0
    total_steps: int = 0
    epochs: int = 0
    epoch: int = 0
    step_losses: list[float] = field(default_factory=list)
    val_points: list[tuple[int, float]] = field(default_factory=list)
    eta_s: float = 0.0
    phase: str = ""
    notes: list[str] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    done_event: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        """Whether the job reached a terminal state."""
        return self.state in TERMINAL

    @property
    def active(self) -> bool:
        """Whether the job is queued or running."""
        return self.state in (QUEUED, RUNNING)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the job started running (until it ended); 0 while queued."""
        if not self.started_at:
            return 0.0
        return (self.ended_at or time.time()) - self.started_at

    def request_stop(self) -> None:
        """Ask the job to stop (thread-safe); a queued job is cancelled by its queue."""
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; returns whether it did within ``timeout`` seconds."""
        return self.done_event.wait(timeout)

    def fields(self) -> dict:
        """The identifying log fields of this job."""
        return {"job": self.id, "kind": self.kind, "owner": self.owner}


class JobQueue:
    """First-in, first-out queue with a single worker thread: one job at a time on the device.

    Args:
        name: Thread name prefix (shown in stack dumps).
        nice: Niceness added to the worker thread (Linux, 0-19; 0 leaves it): a web server runs training at a
            lower CPU priority so that predictions of other sessions are served first when both want the cores.
            Threads the job starts afterwards (torch's intra-op pool) inherit it.
        threads: Intra-op torch threads of the worker thread (``torch.set_num_threads`` at its start), or None to
            keep what it inherits. A new thread starts with the count last set by *any* thread, so a server whose
            prediction thread runs on one thread would otherwise train on one thread too.

    Raises:
        ValueError: If ``nice`` is outside 0-19 or ``threads`` < 1.
    """

    def __init__(self, name: str = "kdemo-device", *, nice: int = 0, threads: int | None = None):
        if not 0 <= nice <= 19:
            raise ValueError(f"Expected nice between 0 and 19. Received: nice={nice!r}.")
        if threads is not None and threads < 1:
            raise ValueError(f"Expected threads >= 1 or None. Received: threads={threads!r}.")
        self.name = name
        self.nice = int(nice)
        self.threads = threads
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None

    def submit(self, job: Job) -> Job:
        """Queue ``job``; it starts when every job submitted before it has ended.

        Returns:
            The same job (state ``queued``).
        """
        with self._cond:
            job.state, job.submitted_at = QUEUED, time.time()
            self._waiting.append(job)
            ahead = len(self._waiting) - 1 + (self._running is not None)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=f"{self.name}-worker", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        log_event("queued", **job.fields(), ahead=ahead)
        return job

    def position(self, job: Job) -> int:
        """Jobs that will run before ``job``: 0 while it runs (or has ended), 1 if it is next, and so on."""
        with self._cond:
            if job not in self._waiting:
                return 0
            return list(self._waiting).index(job) + (self._running is not None)

    def cancel(self, job: Job) -> bool:
        """Stop ``job``: a queued job is removed at once (state ``cancelled``); a running one is asked to stop.

        Returns:
            True if the job was still queued or running.
        """
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
                job.state, job.ended_at = CANCELLED, time.time()
                job.done_event.set()
                cancelled = True
            else:
                cancelled = False
        if cancelled:
            log_event("cancelled", **job.fields())
            return True
        if job.state == RUNNING:
            job.request_stop()
            log_event("stop_requested", **job.fields(), step=len(job.step_losses))
            return True
        return False

    def __len__(self) -> int:
        """Jobs queued or running."""
        with self._cond:
            return len(self._waiting) + (self._running is not None)

    def _work(self) -> None:
        if self.nice and hasattr(os, "setpriority"):
            try:  # this thread only (a Linux thread id); raising niceness needs no privilege
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + self.nice)
            except OSError as exc:
                log.warning("could not lower the job thread's priority: %s", exc)
        if self.threads is not None:
            import torch  # only a queue that asks for it needs torch

            torch.set_num_threads(self.threads)  # this thread's intra-op pool (see the class docstring)
        while True:
            with self._cond:
                while not self._waiting:
                    if not self._cond.wait(timeout=60):
                        self._worker = None
                        return
                job = self._waiting.popleft()
                if job.stop_event.is_set():  # asked to stop while it waited: it never starts
                    job.state, job.ended_at = CANCELLED, time.time()
                    job.done_event.set()
                    log_event("cancelled", **job.fields())
                    continue
                self._running = job
                job.state, job.started_at = RUNNING, time.time()
            log_event("started", **job.fields(), waited_s=job.started_at - job.submitted_at)
            try:
                job.result = job.fn(job)
                job.state = STOPPED if job.stop_event.is_set() else FINISHED
            except BaseException as exc:  # noqa: BLE001 - the job's owner reads job.error
                job.error, job.state = exc, FAILED
            finally:
                job.ended_at = time.time()
                with self._cond:
                    self._running = None
                job.done_event.set()
            extra = {"error": type(job.error).__name__} if job.error is not None else {}
            log_event(job.state, **job.fields(), steps=len(job.step_losses), elapsed_s=job.elapsed_s, **extra)
            del job  # its result holds a model: the idle worker must not keep it alive (its session owns the job)
