"""Save the HF weights in ``save_pretrained`` format after each epoch."""

from __future__ import annotations

from pathlib import Path

import keras

from kdemo.atomic import atomic_folder
from kdemo.training.checkpoint_writer import CheckpointWriter, snapshot_state_dict


class PretrainedCheckpoint(keras.callbacks.Callback):
    """Write ``save_pretrained`` files (safetensors + config) to ``folder/epoch-N`` after every epoch.

    Each checkpoint is written beside its destination and swapped into place (:func:`kdemo.atomic.atomic_folder`),
    so a run killed mid-save leaves complete checkpoints only. The weights are copied to host memory at the epoch's
    end and written by ``writer`` in the background (:mod:`kdemo.training.checkpoint_writer`).

    Args:
        folder: Destination folder (created).
        writer: The fit's checkpoint writer (None: a blocking one of its own).
    """

    def __init__(self, folder: str | Path, writer: CheckpointWriter | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.writer = writer or CheckpointWriter(folder, blocking=True)

    def on_epoch_end(self, epoch, logs=None):
        hf = self.model.hf_model
        weights = snapshot_state_dict(hf)
        dest = self.folder / f"epoch-{epoch + 1}"

        def write():
            with atomic_folder(dest) as tmp:
                hf.save_pretrained(tmp, state_dict=weights)

        self.writer.submit(write)
