"""ktrain's model factories: ``text_classifier``, ``text_regression_model`` and their ``print_*`` listings.

ktrain (``ktrain/text/models.py``) builds seven classifiers by name. kdemo builds the transformer ones
(``"bert"``, ``"distilbert"``) from the preprocessor's checkpoint, as ``preproc.get_classifier()`` does. The
bag-of-words and GRU models (``fasttext``, ``logreg``, ``nbsvm``, ``bigru``, ``standard_gru``, ``linreg``) need
ktrain's ``preprocess_mode="standard"`` data, which kdemo does not produce: asking for them raises a
:class:`~kdemo.errors.ModelError` that says so (see the README's table of ktrain calls kdemo does not cover).
"""

from __future__ import annotations

from kdemo.errors import ModelError
from kdemo.modeling.classifier import HFClassifier
from kdemo.tasks import MULTI_LABEL, REGRESSION
from kdemo.text.modes import NOT_COVERED_MESSAGE

#: ktrain's text classifiers (name -> ktrain's description); only the transformer ones are built by kdemo.
TEXT_CLASSIFIERS = {
    "fasttext": "a fastText-like model [http://arxiv.org/pdf/1607.01759.pdf] (not in kdemo)",
    "logreg": "logistic regression using a trainable Embedding layer (not in kdemo)",
    "nbsvm": "NBSVM model [http://www.aclweb.org/anthology/P12-2018] (not in kdemo)",
    "bigru": "Bidirectional GRU with pretrained fasttext word vectors (not in kdemo)",
    "standard_gru": "simple 2-layer GRU with randomly initialized embeddings (not in kdemo)",
    "bert": "Bidirectional Encoder Representations from Transformers (BERT) [https://arxiv.org/abs/1810.04805]",
    "distilbert": "distilled, smaller, faster BERT [https://arxiv.org/abs/1910.01108]; in kdemo: any Hugging Face "
                  "checkpoint of the preprocessor",
}
#: ktrain's text regression models; only the transformer ones are built by kdemo.
TEXT_REGRESSION_MODELS = {
    "linreg": "linear text regression using a trainable Embedding layer (not in kdemo)",
    "bigru": "Bidirectional GRU with pretrained English word vectors (not in kdemo)",
    "standard_gru": "simple 2-layer GRU with randomly initialized embeddings (not in kdemo)",
    "bert": "Bidirectional Encoder Representations from Transformers (BERT) [https://arxiv.org/abs/1810.04805]",
    "distilbert": "distilled, smaller, faster BERT [https://arxiv.org/abs/1910.01108]; in kdemo: any Hugging Face "
                  "checkpoint of the preprocessor",
}
TRANSFORMER_NAMES = ("bert", "distilbert")


def _check(name: str, table: dict[str, str], what: str, preproc) -> None:
    if name not in table:
        raise ModelError(f"Expected a {what} name among {sorted(table)}. Received: {name!r}.")
    if name not in TRANSFORMER_NAMES:
        raise ModelError(f"Expected 'bert' or 'distilbert'. Received: {name!r}, ktrain's non-transformer {what}. "
                         f"{NOT_COVERED_MESSAGE}")
    if preproc is None:
        raise ModelError(f"Expected preproc= (the Transformer from texts_from_*) for {name!r}. Received: none. "
                         "Pass preproc=preproc, as ktrain requires for transformer models.")


def text_classifier(name: str, train_data, preproc=None, multilabel: bool | None = None, metrics=None,
                    verbose: int = 1) -> HFClassifier:
    """Build a text classifier by ktrain name (ktrain's ``text.text_classifier``).

    Args:
        name: ``"distilbert"`` or ``"bert"``: the preprocessor's checkpoint with a fresh head.
        train_data: The training data from ``texts_from_*`` (unused beyond ktrain's signature: the preprocessor
            knows the classes).
        preproc: The :class:`~kdemo.text.preprocessor.Transformer` that prepared ``train_data``.
        multilabel: ktrain's switch; None uses the task of the data.
        metrics: Accepted for ktrain compatibility.
        verbose: 1 prints what was built.

    Returns:
        A compiled :class:`~kdemo.modeling.classifier.HFClassifier`.

    Raises:
        ModelError: For a non-transformer name (``fasttext``, ``logreg``, ``nbsvm``, ``bigru``, ``standard_gru``),
            an unknown name, a missing ``preproc``, or regression data (use :func:`text_regression_model`).
    """
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


def text_regression_model(name: str, train_data, preproc=None, metrics=None, verbose: int = 1) -> HFClassifier:
    """Build a text regression model by ktrain name (ktrain's ``text.text_regression_model``).

    Args:
        name: ``"distilbert"`` or ``"bert"``: the preprocessor's checkpoint with a one-output head.
        train_data: The training data (numeric targets).
        preproc: The :class:`~kdemo.text.preprocessor.Transformer` that prepared ``train_data``.
        metrics: Accepted for ktrain compatibility.
        verbose: 1 prints what was built.

    Returns:
        A compiled :class:`~kdemo.modeling.classifier.HFClassifier` with task ``"regression"``.

    Raises:
        ModelError: For a non-transformer name (``linreg``, ``bigru``, ``standard_gru``), an unknown name or a
            missing ``preproc``.
    """
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
