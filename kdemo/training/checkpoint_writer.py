"""Checkpoint writes off the training thread: snapshot on the step, write and fsync in the background.

A checkpoint's cost on the training thread used to be the whole write: serialising the weights (and, for a resume
checkpoint, Adam's two moments: three times the weights in all), fsyncing every file, and swapping the folder into
place. On a slow disk that is seconds per save for MiniLM. :class:`CheckpointWriter` splits it: the training thread
only copies what the checkpoint holds into host memory (a ``memcpy`` of the tensors, tens of milliseconds for
MiniLM), so the saved state is exactly the state at that batch, and one background thread per fit writes the
copies with :func:`kdemo.atomic.atomic_folder` (crash safety unchanged: a kill mid-write leaves the previous
checkpoint). PyTorch Lightning's ``AsyncCheckpointIO`` and ``torch.distributed.checkpoint.async_save`` take the same
approach (snapshot, then write in a thread).

At most one write is in flight and one waits behind it: a required write (an epoch's end, a stop) waits for the
queue to have room; an optional one (the mid-epoch write every ``checkpoint_every_s``) is skipped while a write
is in flight and tried again after a later batch. :meth:`CheckpointWriter.close` (called when a fit ends, also by
an exception) waits for every write and raises the first write error; :func:`wait_for_writes` lets a reader of a
checkpoint folder (``resume``) wait for this process's writes to it first.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

#: Writers with writes in flight, by the folder they write into (absolute path).
_ACTIVE: dict[str, set[CheckpointWriter]] = {}
_LOCK = threading.Lock()


def _key(folder: str | os.PathLike) -> str:
    return os.path.abspath(os.fspath(folder))


class CheckpointWriter:
    """A background thread writing checkpoint snapshots in the order they were submitted.

    Args:
        folder: The fit's ``checkpoint_folder`` (for :func:`wait_for_writes`).
        blocking: Write on the calling thread instead (the behaviour before this writer; benches compare both).

    Attributes:
        written: Number of writes finished.
        skipped: Number of optional writes skipped because a write was in flight.
    """

    def __init__(self, folder: str | os.PathLike, *, blocking: bool = False):
        self.folder = _key(folder)
        self.blocking = bool(blocking)
        self.written = 0
        self.skipped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._pending = 0
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Whether a write is queued or in flight."""
        with self._cond:
            return self._pending > 0

    def submit(self, write: Callable[[], None], *, required: bool = True) -> bool:
        """Run ``write`` (a function that writes an already taken snapshot) in the background.

        Args:
            write: Writes the checkpoint; it must not read the live model (only the snapshot it closes over).
            required: False for an optional write, skipped (returns False) while another write is in flight.

        Returns:
            Whether the write was queued (or done, when blocking).

        Raises:
            BaseException: The error of an earlier background write, re-raised on the training thread.
        """
        self._raise_error()
        if self.blocking:
            write()
            self.written += 1
            return True
        with self._cond:
            if not required and self._pending:
                self.skipped += 1
                return False
            self._pending += 1
        with _LOCK:
            _ACTIVE.setdefault(self.folder, set()).add(self)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kdemo-checkpoint-writer", daemon=True)
            self._thread.start()
        self._queue.put(write)  # blocks while one write waits behind the one in flight
        return True

    def _run(self) -> None:
        while True:
            write = self._queue.get()
            if write is None:
                return
            try:
                if self._error is None:
                    write()
                    self.written += 1
            except BaseException as exc:  # noqa: BLE001 (kept and raised on the training thread by submit() or close())
                self._error = exc
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def wait(self) -> None:
        """Block until every submitted write has finished (without raising their errors)."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending == 0)
        with _LOCK:
            writers = _ACTIVE.get(self.folder)
            if writers is not None:
                writers.discard(self)
                if not writers:
                    del _ACTIVE[self.folder]

    def close(self) -> None:
        """Wait for every write, stop the thread and raise the first write error, if any."""
        self.wait()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def wait_for_writes(folder: str | os.PathLike) -> None:
    """Wait until this process has no checkpoint write in flight into ``folder`` (e.g. before reading it)."""
    with _LOCK:
        writers = list(_ACTIVE.get(_key(folder), ()))
    for writer in writers:
        writer.wait()


def host_copy(tensors: dict) -> dict:
    """Detached, contiguous host (CPU) copies of ``{name: tensor}``: the snapshot a background write reads."""
    return {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}


def snapshot_state_dict(module) -> dict:
    """:func:`host_copy` of ``module.state_dict()`` (an ``nn.Module``; a Keras 3 layer on torch is one too)."""
    return host_copy(module.state_dict())

