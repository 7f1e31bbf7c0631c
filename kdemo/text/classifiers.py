"""ktrain's model factories: ``text_classifier``, ``text_regression_model`` and their ``print_*`` listings.

ktrain (``ktrain/text/models.py``) builds its models by name. The transformer ones (``"bert"``, ``"distilbert"``)
are the preprocessor's checkpoint with a fresh head, as ``preproc.get_classifier()`` builds; the classic ones
(``fasttext``, ``logreg``, ``nbsvm``, ``bigru``, ``standard_gru``, ``linreg``) are Keras 3 models on
``preprocess_mode="standard"`` word ids (:mod:`kdemo.text.classic`), trained by the same Learner.
"""

from __future__ import annotations

from kdemo.errors import ModelError
from kdemo.tasks import MULTI_LABEL, REGRESSION
from kdemo.text.classic import classic_model, is_standard

#: ktrain's text classifiers (name -> ktrain's description).
TEXT_CLASSIFIERS = {
    "fasttext": "a fastText-like model [http://arxiv.org/pdf/1607.01759.pdf]",
    "logreg": "logistic regression using a trainable Embedding layer",
    "nbsvm": "NBSVM model [http://www.aclweb.org/anthology/P12-2018]",
    "bigru": "Bidirectional GRU with pretrained fasttext word vectors (a download in ktrain: random or local vectors in kdemo)",
    "standard_gru": "simple 2-layer GRU with randomly initialized embeddings",
    "bert": "Bidirectional Encoder Representations from Transformers (BERT) [https://arxiv.org/abs/1810.04805]",
    "distilbert": "distilled, smaller, faster BERT [https://arxiv.org/abs/1910.01108]; in kdemo: any Hugging Face "
                  "checkpoint of the preprocessor",
}
#: ktrain's text regression models.
TEXT_REGRESSION_MODELS = {
    "fasttext": "a fastText-like model [http://arxiv.org/pdf/1607.01759.pdf]",
    "linreg": "linear text regression using a trainable Embedding layer",
    "bigru": "Bidirectional GRU with pretrained English word vectors",
    "standard_gru": "simple 2-layer GRU with randomly initialized embeddings",
    "bert": "Bidirectional Encoder Representations from Transformers (BERT) [https://arxiv.org/abs/1810.04805]",
    "distilbert": "distilled, smaller, faster BERT [https://arxiv.org/abs/1910.01108]; in kdemo: any Hugging Face "
                  "checkpoint of the preprocessor",
}
TRANSFORMER_NAMES = ("bert", "distilbert")


def _check(name: str, table: dict[str, str], what: str, preproc) -> None:
    if name not in table:
        raise ModelError(f"Expected a {what} name among {sorted(table)}. Received: {name!r}.")
    if name not in TRANSFORMER_NAMES:
        raise ModelError(f"Expected preprocess_mode='standard' data (texts_from_*(..., preprocess_mode='standard')) "
                         f"for ktrain's classic {what} {name!r}. Received: a transformer preprocessor. Use 'bert' or "
                         "'distilbert' with transformer data.")
    if preproc is None:
        raise ModelError(f"Expected preproc= (the Transformer from texts_from_*) for {name!r}. Received: none. "
                         "Pass preproc=preproc, as ktrain requires for transformer models.")


def text_classifier(name: str, train_data, preproc=None, multilabel: bool | None = None, metrics=None,
                    verbose: int = 1, *, wv_path: str | None = None):
    """Build a text classifier by ktrain name (ktrain's ``text.text_classifier``).

    Args:
        name: ``"distilbert"`` or ``"bert"``: the preprocessor's checkpoint with a fresh head; with standard-mode
            data, ``"fasttext"``, ``"logreg"``, ``"nbsvm"``, ``"bigru"`` or ``"standard_gru"``
            (:func:`kdemo.text.classic.classic_model`).
        train_data: The training data from ``texts_from_*`` (transformers: unused beyond ktrain's signature).
        preproc: The :class:`~kdemo.text.preprocessor.Transformer` that prepared ``train_data``.
        multilabel: ktrain's switch; None uses the task of the data.
        metrics: Accepted for ktrain compatibility.
        verbose: 1 prints what was built.
        wv_path: ``bigru``: a local fastText ``.vec`` file of word vectors (None: random vectors, see
            :mod:`kdemo.text.classic.models`).

    Returns:
        A compiled :class:`~kdemo.modeling.classifier.HFClassifier`, or a compiled ``keras.Model`` (classic).

    Raises:
        ModelError: For a classic name with transformer data (or the reverse), an unknown name, a missing
            ``preproc``, or regression data (use :func:`text_regression_model`).
    """
    if is_standard(preproc):
        if name in TRANSFORMER_NAMES:
            raise ModelError(f"Expected preprocess_mode='{name}' data for {name!r}. Received: standard-mode data. "
                             "Call texts_from_* with preprocess_mode='distilbert' (or 'bert').")
        return classic_model(name, train_data, preproc, multilabel=multilabel, metrics=metrics, wv_path=wv_path,
                             verbose=verbose)
    _check(name, TEXT_CLASSIFIERS, "text classifier", preproc)
    if preproc.task == REGRESSION:
        raise ModelError("Expected class labels for text_classifier. Received: numeric targets (regression). "
                         "Use text_regression_model(name, train_data, preproc=preproc).")
    model = preproc.get_classifier(multilabel=multilabel)
    if verbose:
        kind = "multi-label" if preproc.task == MULTI_LABEL else "single-label"
        print(f"Is Multi-Label? {preproc.task == MULTI_LABEL}\nbuilt {kind} {name} classifier: {preproc.model_name}, "
              f"{len(preproc.get_classes())} classes")
    return model


def text_regression_model(name: str, train_data, preproc=None, metrics=None, verbose: int = 1, *,
                          wv_path: str | None = None):
    """Build a text regression model by ktrain name (ktrain's ``text.text_regression_model``).

    Args:
        name: ``"distilbert"`` or ``"bert"``: the preprocessor's checkpoint with a one-output head; with
            standard-mode data ``"linreg"``, ``"fasttext"``, ``"bigru"`` or ``"standard_gru"``.
        train_data: The training data (numeric targets).
        preproc: The :class:`~kdemo.text.preprocessor.Transformer` that prepared ``train_data``.
        metrics: Accepted for ktrain compatibility.
        verbose: 1 prints what was built.
        wv_path: ``bigru``: a local ``.vec`` file of word vectors.

    Returns:
        A compiled :class:`~kdemo.modeling.classifier.HFClassifier` with task ``"regression"``, or a compiled
        ``keras.Model`` (classic).

    Raises:
        ModelError: For a classic name with transformer data (or the reverse), an unknown name or a missing
            ``preproc``.
    """
    if is_standard(preproc):
        if name in TRANSFORMER_NAMES:
            raise ModelError(f"Expected preprocess_mode='{name}' data for {name!r}. Received: standard-mode data.")
        return classic_model(name, train_data, preproc, regression=True, metrics=metrics, wv_path=wv_path,
                             verbose=verbose)
    _check(name, TEXT_REGRESSION_MODELS, "text regression model", preproc)
    model = preproc.get_regression_model()
    if verbose:
        print(f"built {name} regression model: {preproc.model_name}")
    return model


def print_text_classifiers() -> None:
    """Print ktrain's text classifier names and descriptions (ktrain's ``print_text_classifiers``)."""
    for name, description in TEXT_CLASSIFIERS.items():
        print(f"{name}: {description}")


def print_text_regression_models() -> None:
    """Print ktrain's text regression model names and descriptions (ktrain's ``print_text_regression_models``)."""
    for name, description in TEXT_REGRESSION_MODELS.items():
        print(f"{name}: {description}")
