"""Batches moved to the device once: pinned memory and ``non_blocking`` copies on CUDA."""

from __future__ import annotations

from collections import deque

import keras
import numpy as np
import torch


def to_device(value, device: torch.device):
    """Numpy arrays and tensors in nested dicts/tuples/lists as tensors on ``device`` (pinned, async on CUDA)."""
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor) and value.device != device:
        if device.type == "cuda":
            return value.pin_memory().to(device, non_blocking=True)
        return value.to(device)
    return value


class RowTap:
    """The dataset rows of the training batches fetched but not yet trained on, oldest first.

    Keras fetches each batch right before its step (or, with prefetching workers, ahead of it, in order), so the
    step takes the oldest entry: the rows its outputs belong to. Only kept while :attr:`active` (a
    :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics` recorder is attached), so training
    without one does nothing more per batch than test this flag.

    Attributes:
        active: Whether fetched batches record their rows.
        pending: One int64 array ``(batch,)`` per fetched, untrained batch (None when the dataset does not know
            its rows: it has no ``batch_rows``).
    """

    def __init__(self):
        self.active = False
        self.pending: deque = deque()

    def take(self):
        """The rows of the oldest fetched batch (None if none is pending), removed from :attr:`pending`."""
        return self.pending.popleft() if self.pending else None


class OnDevice(keras.utils.PyDataset):
    """A ``keras.utils.PyDataset`` whose batches are already tensors on ``device``.

    Keras' torch data adapter turns each numpy batch into tensors with a blocking copy to the device (on CUDA a
    pageable copy waits for the queued kernels, so the host cannot run ahead). Wrapped here, each batch is moved
    once, from pinned memory with ``non_blocking=True`` on CUDA, and Keras finds nothing left to convert.
    ``on_epoch_begin``/``on_epoch_end`` (the reshuffle of kdemo's batches) and the batch count are the wrapped
    dataset's.

    Args:
        batches: The dataset to wrap (e.g. :class:`kdemo.data.dataset.BatchSequence`).
        device: Where the batches go.
        tap: Where each fetched batch's rows go (the training data of a fit with a recorder attached), or None.
    """

    def __init__(self, batches: keras.utils.PyDataset, device: torch.device, tap: RowTap | None = None):
        super().__init__(workers=batches.workers, use_multiprocessing=batches.use_multiprocessing,
                         max_queue_size=batches.max_queue_size)
        self.batches = batches
        self.device = device
        self.tap = tap

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def num_batches(self):
        return self.batches.num_batches

    def __getitem__(self, index):
        if self.tap is not None and self.tap.active:
            rows = getattr(self.batches, "batch_rows", None)
            self.tap.pending.append(None if rows is None else np.asarray(rows(index)))
        return to_device(self.batches[index], self.device)

    def on_epoch_begin(self):
        if self.tap is not None:  # a batch fetched and not trained on (Keras' symbolic build peeks at one)
            self.tap.pending.clear()
        self.batches.on_epoch_begin()

    def on_epoch_end(self):
        self.batches.on_epoch_end()
