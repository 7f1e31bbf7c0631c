"""Save the HF weights in ``save_pretrained`` format after each epoch."""

from __future__ import annotations

from pathlib import Path

import keras

from kdemo.atomic import atomic_folder


class PretrainedCheckpoint(keras.callbacks.Callback):
    """Write ``save_pretrained`` files (safetensors + config) to ``folder/epoch-N`` after every epoch.

    Each checkpoint is written beside its destination and swapped into place (:func:`kdemo.atomic.atomic_folder`),
    so a run killed mid-save leaves complete checkpoints only.

    Args:
        folder: Destination folder (created).
    """

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        with atomic_folder(self.folder / f"epoch-{epoch + 1}") as tmp:
            self.model.hf_model.save_pretrained(tmp)
