"""ktrain's ``get_learner`` for every model kdemo trains: a transformer classifier on its datasets (:class:`Learner`),
or any compiled Keras model on NumPy ``(x, y)`` arrays (:class:`~kdemo.training.array_learner.ArrayLearner`, also
kdemo's classic text models)."""

from __future__ import annotations

from kdemo.training.array_learner import ArrayLearner, is_keras_model
from kdemo.training.learner import Learner
from kdemo.training.learner import get_learner as get_transformer_learner


def get_learner(model, train_data=None, val_data=None, batch_size: int = 32, eval_batch_size: int = 64,
                **kwargs) -> Learner:
    """Create the learner of ``model`` (ktrain's ``get_learner``).

    Args:
        model: A transformer classifier (:meth:`kdemo.Transformer.get_classifier`, ``text_classifier``), or any
            compiled ``keras.Model`` (a classic text model from ``text_classifier("nbsvm", …)`` or one the user
            built).
        train_data: Transformer: the data from ``texts_from_*``/``preprocess_train`` (bert-mode ``(x, y)`` arrays
            too). Keras model: ``(x_train, y_train)`` NumPy arrays.
        val_data: Optional validation data of the same kind.
        batch_size: Training batch size.
        eval_batch_size: Batch size of validation and prediction.
        **kwargs: ``seed``, ``weight_decay``, ``freeze_lower`` (transformers), and ktrain's ignored ``workers``,
            ``use_multiprocessing``, ``multigpu``.

    Returns:
        A :class:`~kdemo.training.learner.Learner`, or its :class:`~kdemo.training.array_learner.ArrayLearner`
        subclass for a Keras model.

    Raises:
        TypeError: If ``model`` is neither.
        TrainingError: If the data is missing or unlabelled, or the Keras model is not compiled.
    """
    if is_keras_model(model):
        for ignored in ("workers", "use_multiprocessing", "multigpu"):
            kwargs.pop(ignored, None)
        return ArrayLearner(model, train_data, val_data, batch_size, eval_batch_size, **kwargs)
    return get_transformer_learner(model, train_data, val_data, batch_size, eval_batch_size, **kwargs)
