"""Loss functions that Keras does not ship: binary cross-entropy with per-label positive weights."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kdemo")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Multi-label binary cross-entropy on logits with a positive weight per label.

    ``loss = mean over labels of  -(pos_weight * y * log σ(z) + (1 - y) * log(1 - σ(z)))``, computed stably from
    logits as in ``torch.nn.BCEWithLogitsLoss(pos_weight=...)``.

    Args:
        pos_weight: Weight of positive targets per label, shape ``(num_classes,)``; None means all 1.
        name: Loss name.
    """

    def __init__(self, pos_weight: Sequence[float] | None = None, name: str = "weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        log_p = ops.log_sigmoid(y_pred)
        log_not_p = ops.log_sigmoid(-y_pred)
        weight = 1.0 if self.pos_weight is None else ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        loss = -(weight * y_true * log_p + (1.0 - y_true) * log_not_p)
        return ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}
