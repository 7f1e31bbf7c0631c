"""Ways to follow a run from a terminal or a program: a tqdm bar, JSON progress lines on stdout, a stop file.

Each display is a callable taking :class:`~kdemo.training.callbacks.ProgressEvent` objects (``kdemo.train``'s
``progress=``) with a ``close()``; ``python -m kdemo train`` uses them (``--progress-jsonl``, ``--stop-file``).
"""

from __future__ import annotations

import os
import threading
import time

from kdemo.distributed.launch import progress_line


class ProgressBar:
    """A tqdm bar fed by :class:`~kdemo.training.callbacks.ProgressEvent` objects, with a line per epoch.

    Args:
        desc: The bar's label (e.g. ``"train"``).
    """

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=event.total_steps, desc=self.desc, unit="step", dynamic_ncols=True)
        if event.phase == "epoch_end":
            logs = event.logs or {}
            extra = "".join(f"  {k} {logs[k]:.4f}" for k in ("val_loss", "val_accuracy") if k in logs)
            self.bar.write(f"epoch {event.epoch + 1}/{event.epochs}: loss {event.loss:.4f}{extra}")
            return
        self.bar.update(event.step - self.bar.n)
        self.bar.set_postfix(epoch=f"{event.epoch + 1}/{event.epochs}", loss=f"{event.loss:.4f}", lr=f"{event.lr:.2e}")

    def close(self) -> None:
        """Close the bar (nothing if no event came)."""
        if self.bar is not None:
            self.bar.close()


class JsonLines:
    """Progress as :func:`kdemo.distributed.launch.progress_line` JSON lines on stdout (``--progress-jsonl``)."""

    def __call__(self, event) -> None:
        print(progress_line(event), flush=True)

    def close(self) -> None:
        """Nothing to close (each line is flushed)."""


def watch_stop_file(path: str, stop: threading.Event, interval_s: float = 0.5) -> None:
    """Set ``stop`` once ``path`` exists, watched by a daemon thread (the learner stops after the batch in flight).

    Args:
        path: The file whose creation asks for the stop.
        stop: The event :func:`kdemo.train` watches (``stop=``).
        interval_s: Seconds between two looks.
    """
    def poll() -> None:
        while not stop.is_set():
            if os.path.exists(path):
                stop.set()
                return
            time.sleep(interval_s)

    threading.Thread(target=poll, name="kdemo-stop-file", daemon=True).start()
