"""Training configuration as explicit, validated data."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kdemo.device import PRECISIONS
from kdemo.errors import TrainingError
from kdemo.modeling.classifier import DEFAULT_MODEL_ID


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one fine-tuning run; validated on construction.

    Attributes:
        model_name: Hub id or local folder of the checkpoint (default: the embedded all-MiniLM-L6-v2).
        maxlen: Maximum tokens per text (special tokens included); None chooses the length covering 95 % of texts.
        batch_size: Training batch size (rows per optimizer step).
        lr: Peak learning rate of the one-cycle schedule, per optimizer step.
        epochs: Passes over the training data.
        val_pct: Fraction 0–1 of the rows held out for validation when there is no validation file.
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"``.
        seed: Seed of the split, the head's initialisation and the batch order.
        freeze_lower: Fraction 0–1 of the transformer blocks frozen with the embeddings before training; None uses
            :data:`kdemo.training.learner.DEFAULT_FREEZE_LOWER` (a third), 0 trains every layer.

    Raises:
        TrainingError: If a value is out of range (the message names the field and the allowed range).
    """

    model_name: str = DEFAULT_MODEL_ID
    maxlen: int | None = None
    batch_size: int = 32
    lr: float = 1e-4
    epochs: int = 1
    val_pct: float = 0.1
    precision: str = "auto"
    seed: int = 0
    freeze_lower: float | None = None

    def __post_init__(self):
        checks = [
            (bool(str(self.model_name).strip()), "model_name", "a Hub id or a local folder"),
            (self.maxlen is None or 8 <= int(self.maxlen) <= 4096, "maxlen", "between 8 and 4096 tokens, or empty for automatic"),
            (1 <= int(self.batch_size) <= 4096, "batch_size", "between 1 and 4096"),
            (0 < float(self.lr) < 1, "lr", "between 0 and 1 (e.g. 1e-4)"),
            (1 <= int(self.epochs) <= 100, "epochs", "between 1 and 100"),
            (0 < float(self.val_pct) < 1, "val_pct", "between 0 and 1"),
            (self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}"),
            (self.freeze_lower is None or 0 <= float(self.freeze_lower) <= 1, "freeze_lower", "between 0 and 1, or empty for the default"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise TrainingError(f"Expected {name} {expected}. Received: {name}={getattr(self, name)!r}.")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)
