"""Save the HF weights in ``save_pretrained`` format after each epoch."""

from __future__ import annotations

from pathlib import Path

import keras


class PretrainedCheckpoint(keras.callbacks.Callback):
    """Write ``save_pretrained`` files (safetensors + config) to ``folder/epoch-N`` after every epoch.

    Args:
        folder: Destination folder (created).
    """

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        target = self.folder / f"epoch-{epoch + 1}"
        target.mkdir(parents=True, exist_ok=True)
        self.model.hf_model.save_pretrained(target)
