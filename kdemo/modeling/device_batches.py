"""Batches moved to the device once: pinned memory and ``non_blocking`` copies on CUDA."""

from __future__ import annotations

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
    """

    def __init__(self, batches: keras.utils.PyDataset, device: torch.device):
        super().__init__(workers=batches.workers, use_multiprocessing=batches.use_multiprocessing,
                         max_queue_size=batches.max_queue_size)
        self.batches = batches
        self.device = device

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def num_batches(self):
        return self.batches.num_batches

    def __getitem__(self, index):
        return to_device(self.batches[index], self.device)

    def on_epoch_begin(self):
        self.batches.on_epoch_begin()

    def on_epoch_end(self):
        self.batches.on_epoch_end()
