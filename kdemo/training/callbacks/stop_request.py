"""Stop training at the next batch when asked from another thread (the UI's Stop button)."""

from __future__ import annotations

import threading

import keras


class StopRequest(keras.callbacks.Callback):
    """Set ``model.stop_training`` after the current batch once :attr:`event` is set.

    Gradio cannot cancel a running function; the Stop button sets this flag instead, and Keras' ``fit`` loop
    ends cleanly after the batch in flight, leaving the model usable.

    Args:
        event: The flag to watch; a new ``threading.Event`` when None.

    Attributes:
        stopped_at_step: Training batches completed when the stop took effect, or None if it never did.
    """

    def __init__(self, event: threading.Event | None = None):
        super().__init__()
        self.event = event or threading.Event()
        self.stopped_at_step: int | None = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self.event.is_set():
            self.model.stop_training = True
            self.stopped_at_step = self._steps
