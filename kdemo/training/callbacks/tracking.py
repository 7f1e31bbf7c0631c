"""Track a training run on trackio (Gradio's local-first experiment tracker): config, every step, validation, final.

Cost on the training thread: each optimizer step appends one small dict to a list; the list is handed to trackio
(``Run.log``, which queues it for trackio's own background writer) at most every ``flush_every_s`` seconds, at each
epoch's end and at :meth:`TrackioTracker.finish`. trackio's writer wakes every 0.5 s and commits what is queued to
SQLite, so handing it steps in batches turns one SQLite transaction per step into one per ``flush_every_s``; the
dashboard sees the curve at most that many seconds late. :attr:`TrackioTracker.overhead_s` counts the seconds the
tracker itself spent on the training thread (trackio's import and run creation included), which
``bench/sst2_cpu.py --tracking`` reports beside the whole-run difference.

trackio keeps each project in a SQLite file under one folder (``TRACKIO_DIR``, read once when trackio is imported;
``~/.cache/huggingface/trackio`` by default) and shows it with its own dashboard (``trackio show --project P``).
Nothing here talks to a network: runs are logged locally unless the user configures trackio's own Space sync.
"""

from __future__ import annotations

import contextlib
import io
import resource
import time

from kdemo.distributed.context import current
from kdemo.training.callbacks.progress import ProgressReporter
from kdemo.training.optimizer import host_learning_rate

#: Project name runs are logged under when none is given.
DEFAULT_PROJECT = "kdemo"
#: Most seconds between two hand-overs of buffered step metrics to trackio (the live curve's delay).
DEFAULT_FLUSH_EVERY_S = 10.0


def _memory_mb() -> float:
    """Peak memory in MiB: the accelerator's peak allocation when there is one, else the process's peak RSS."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
    except ImportError:  # pragma: no cover - torch is a requirement
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class TrackioTracker(ProgressReporter):
    """Log a run to trackio: its config once, then every optimizer step's ``train/loss``, ``train/lr``,
    ``train/step_time_s`` and ``train/memory_mb``, each epoch's validation metrics (``val/<metric>``), and the final
    metrics (:meth:`finish`).

    Pass it to a fit method's ``callbacks`` (``learner.fit_onecycle(..., callbacks=[tracker])``). Step losses are
    the exact per-step losses of :class:`~kdemo.training.callbacks.progress.ProgressReporter` (whose bookkeeping it
    inherits, with no progress function); the learning rate is read on the host before each batch (no device
    read with :class:`~kdemo.training.optimizer.FusedAdamW`). Under torchrun only rank 0 creates a run and logs:
    the other ranks' trackers do nothing, so a data-parallel training is one run. A retry after an out-of-memory
    back-off logs into the same run, its steps counted again from the start.

    Args:
        project: trackio project (:data:`DEFAULT_PROJECT` when None).
        run_name: Name of the run; None lets trackio pick one (e.g. ``"dainty-sunset-1"``).
        config: The run's settings (JSON-ready), stored as trackio's run config.
        first_step: Optimizer steps done before this fit (a resumed run's earlier steps), added to the logged steps.
        flush_every_s: Most seconds the step metrics wait in the tracker before they are handed to trackio (also
            handed over at each epoch's end and at :meth:`finish`); 0 hands over every step at once.

    Attributes:
        run: The trackio ``Run`` once training started on rank 0, else None.
        name: The run's name once created (trackio's when ``run_name`` was None).
        overhead_s: Seconds spent in this tracker on the training thread so far (creating the run, per-step
            bookkeeping, hand-overs, finishing).
    """

    def __init__(self, project: str | None = None, run_name: str | None = None, config: dict | None = None,
                 first_step: int = 0, flush_every_s: float = DEFAULT_FLUSH_EVERY_S):
        super().__init__(None, 1, 1)
        self.project = project or DEFAULT_PROJECT
        self.run_name = run_name
        self.config = dict(config or {})
        self.run = None
        self.name = run_name
        self._active = current().is_main
        self._lrs: list[float] = []
        self._seconds: list[float] = []
        self._batch_start = 0.0
        self._consumed = 0
        self._group_s = 0.0
        self._offset = int(first_step)
        self.flush_every_s = float(flush_every_s)
        self._pending: list[tuple[dict, int]] = []
        self._last_flush = time.perf_counter()
        self.overhead_s = 0.0

    @contextlib.contextmanager
    def _timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.overhead_s += time.perf_counter() - start

    def _flush(self) -> None:
        """Hand the buffered step metrics to trackio (which queues them for its background writer)."""
        pending, self._pending = self._pending, []
        self._last_flush = time.perf_counter()
        if self.run is not None:
            for metrics, step in pending:
                self.run.log(metrics, step=step)

    def _open_run(self) -> None:
        if self.run is not None or not self._active:
            return
        import trackio

        with contextlib.redirect_stdout(io.StringIO()):  # trackio prints where its dashboard is; stdout stays clean
            self.run = trackio.init(project=self.project, name=self.run_name, config=self.config, embed=False,
                                    auto_log_gpu=False, auto_log_cpu=False, capture_console=False)
        self.name = self.run.name

    def on_train_begin(self, logs=None):
        with self._timed():
            super().on_train_begin(logs)
            self._open_run()
            self._lrs, self._seconds, self._consumed, self._group_s = [], [], 0, 0.0
            self._pending = []
            self.step_losses = []

    def on_train_batch_begin(self, batch, logs=None):
        if self._active:
            with self._timed():
                self._lrs.append(host_learning_rate(self.model.optimizer))
            self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._active:
            with self._timed():
                self._seconds.append(time.perf_counter() - self._batch_start)
                super().on_train_batch_end(batch, logs)
                if self._pending and time.perf_counter() - self._last_flush >= self.flush_every_s:
                    self._flush()

    def _add(self, batch_loss: float, logs) -> None:
        index, before = self._consumed, len(self.step_losses)
        self._consumed += 1
        self._group_s += self._seconds[index] if index < len(self._seconds) else 0.0
        super()._add(batch_loss, logs)
        if len(self.step_losses) > before and self.run is not None:
            lr = self._lrs[index] if index < len(self._lrs) else float("nan")
            self._pending.append(({"train/loss": float(self.step_losses[-1]), "train/lr": float(lr),
                                   "train/step_time_s": self._group_s, "train/memory_mb": _memory_mb()},
                                  self._offset + len(self.step_losses)))
            self._group_s = 0.0

    def on_epoch_end(self, epoch, logs=None):
        if not self._active:
            return
        with self._timed():
            self.catch_up(logs)
            self._flush()
            metrics = {f"val/{k[4:]}": float(v) for k, v in (logs or {}).items()
                       if k.startswith("val_") and isinstance(v, (int, float))}
            if self.run is not None:
                self.run.log({**metrics, "epoch": epoch + 1}, step=self._offset + len(self.step_losses))

    def finish(self, metrics: dict | None = None) -> None:
        """Log the final metrics (``final/<metric>``, numbers only) and close the run; safe to call twice.

        Args:
            metrics: The run's final validation metrics, e.g. ``{"accuracy": 0.91}``.
        """
        if self.run is None:
            return
        with self._timed():
            self._finish(metrics)

    def _finish(self, metrics: dict | None) -> None:
        self._flush()  # a stopped or failed fit's last steps
        final = {f"final/{k}": float(v) for k, v in (metrics or {}).items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)}
        run, self.run = self.run, None
        with contextlib.redirect_stdout(io.StringIO()):
            if final:
                run.log(final, step=self._offset + len(self.step_losses))
            run.finish()
        from trackio import context_vars

        if context_vars.current_run.get() is run:  # trackio's exit hook would finish it again
            context_vars.current_run.set(None)
