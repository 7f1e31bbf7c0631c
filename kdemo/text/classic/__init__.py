"""ktrain's classic text models (``preprocess_mode="standard"``): word-id preprocessing with n-grams and the
``fasttext``, ``logreg``, ``nbsvm``, ``bigru``, ``standard_gru`` and ``linreg`` Keras models, trained by the same
Learner as the transformers (:class:`kdemo.training.array_learner.ArrayLearner`)."""

from kdemo.text.classic.factory import classic_model, is_standard, rebuild, standard_data
from kdemo.text.classic.preprocessor import StandardTextPreprocessor

__all__ = ["StandardTextPreprocessor", "classic_model", "is_standard", "rebuild", "standard_data"]
