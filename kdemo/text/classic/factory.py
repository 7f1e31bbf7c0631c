"""``text_classifier``/``text_regression_model`` for ktrain's classic models, and ``texts_from_*`` data in
``preprocess_mode="standard"`` (see :mod:`kdemo.text.classic.preprocessor` and :mod:`kdemo.text.classic.models`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdemo.errors import DataError, ModelError
from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from kdemo.text.classic import models
from kdemo.text.classic.preprocessor import StandardTextPreprocessor

#: ktrain's default vocabulary size of ``texts_from_*`` in standard mode.
DEFAULT_MAX_FEATURES = 20000


def standard_data(x_train: Sequence[str], y_train, x_test: Sequence[str] | None, y_test, class_names: Sequence[str],
                  task: str, *, maxlen: int | None, max_features: int | None, ngram_range: int | None,
                  lang: str | None = "en", verbose: int = 1):
    """ktrain's standard-mode ``(trn, val, preproc)``: ``(x, y)`` NumPy pairs and a
    :class:`~kdemo.text.classic.preprocessor.StandardTextPreprocessor` (``texts_from_*`` call this).

    Args:
        x_train: Training texts.
        y_train: Training labels (class names or ids, label lists, one-hot rows, or numbers).
        x_test: Validation texts, or None.
        y_test: Validation labels.
        class_names: Class names in id order (empty for regression).
        task: The task of the labels.
        maxlen: Word ids per row (default 400, ktrain's).
        max_features: Vocabulary size (default 20,000, ktrain's).
        ngram_range: Largest n-gram (default 1).
        lang: ktrain's language hint.
        verbose: 1 prints ktrain's summary lines.

    Raises:
        DataError: On sentence pairs (standard mode takes single texts) or labels outside the classes.
    """
    if any(isinstance(t, (tuple, list)) for t in x_train):
        raise DataError("Expected single texts for preprocess_mode='standard'. Received: sentence pairs. Use a "
                        "transformer mode (preprocess_mode='distilbert') for text pairs.")
    preproc = StandardTextPreprocessor(maxlen or 400, max_features or DEFAULT_MAX_FEATURES, class_names, task,
                                       ngram_range or 1, lang)
    trn = preproc.preprocess_train(list(x_train), y_train, verbose=verbose)
    val = None if x_test is None else preproc.preprocess_test(list(x_test), y_test, verbose=verbose)
    return trn, val, preproc


def is_standard(preproc) -> bool:
    """Whether ``preproc`` is the standard-mode preprocessor."""
    return getattr(preproc, "kind", None) == StandardTextPreprocessor.kind


def classic_model(name: str, train_data, preproc: StandardTextPreprocessor, *, regression: bool = False,
                  multilabel: bool | None = None, metrics=None, wv_path: str | None = None, verbose: int = 1):
    """Build ktrain's classic model ``name`` for the standard-mode data ``train_data`` (ktrain's ``_text_model``).

    Args:
        name: See :data:`kdemo.text.classic.models.CLASSIFIERS` / ``REGRESSORS``.
        train_data: ``(x_train, y_train)`` from ``texts_from_*(..., preprocess_mode="standard")``.
        preproc: Its preprocessor.
        regression: Build a regression model (one output, MSE).
        multilabel: ktrain's switch; None uses the data (multi-label ``nbsvm``/``logreg`` become ``fasttext``,
            with a message, as in ktrain).
        metrics: Keras metrics.
        wv_path: ``bigru``: a local fastText ``.vec`` file of 300-d word vectors; None initialises the vectors
            randomly (ktrain downloads crawl-300d-2M.vec, 1.5 GB; kdemo does not download).
        verbose: 1 prints what was built.

    Returns:
        A compiled ``keras.Model`` with ``class_names``, ``task`` and ``classic`` (its build arguments, for
        ``predictor.save``) attributes.

    Raises:
        ModelError: For a name not built for this kind of model, ``bigru`` with n-grams, or data that is not
            standard-mode ``(x, y)``.
    """
    table = models.REGRESSORS if regression else models.CLASSIFIERS
    if name not in table:
        raise ModelError(f"Expected one of {list(table)} for a classic {'regression' if regression else 'text'} "
                         f"model. Received: {name!r}.")
    if not (isinstance(train_data, (tuple, list)) and len(train_data) == 2 and np.asarray(train_data[0]).ndim == 2):
        raise ModelError("Expected (x_train, y_train) from texts_from_*(..., preprocess_mode='standard'). Received: "
                         f"{type(train_data).__name__}.")
    if name == "bigru" and preproc.ngram_count() != 1:
        raise ModelError("Expected data processed with ngram_range=1 for bigru. Received: n-gram features. "
                         "Call texts_from_* again with ngram_range=1.")
    x, y = np.asarray(train_data[0]), np.asarray(train_data[1])
    task = REGRESSION if regression else (MULTI_LABEL if (multilabel if multilabel is not None else preproc.multilabel)
                                          else SINGLE_LABEL)
    if task == MULTI_LABEL and name in ("nbsvm", "logreg"):
        print("switching to fasttext model, as data suggests multilabel classification from data.")
        name = "fasttext"
    num_classes = 1 if regression else y.shape[1]
    spec = {"name": name, "num_classes": int(num_classes), "maxlen": int(x.shape[1]),
            "max_features": int(preproc.max_features), "task": str(task)}
    ratios = vectors = None
    if name == "nbsvm":
        ratios = models.nb_ratios(x, y, spec["max_features"])
    if name == "bigru" and wv_path:
        vectors = models.read_word_vectors(wv_path, preproc.word_index, spec["max_features"])
    elif name == "bigru" and verbose:
        print("bigru: ktrain's pretrained word vectors (crawl-300d-2M.vec) need a 1.5 GB download; kdemo starts from "
              "random vectors (pass wv_path= a local .vec file to use pretrained ones).")
    model = models.build(name, num_classes=spec["num_classes"], maxlen=spec["maxlen"], max_features=spec["max_features"],
                         task=task, ratios=ratios, vectors=vectors, metrics=metrics)
    model.class_names, model.task, model.classic = preproc.get_classes(), task, spec
    if verbose:
        print(f"Is Multi-Label? {task == MULTI_LABEL}\nmaxlen is {spec['maxlen']}\nbuilt {name} model\ndone.")
    return model


def rebuild(spec: dict, class_names: Sequence[str]):
    """The model :func:`classic_model` built, with fresh weights (``nbsvm``'s ratios zero): load saved weights
    into it."""
    ratios = np.zeros((spec["max_features"], spec["num_classes"]), dtype=np.float32) if spec["name"] == "nbsvm" else None
    model = models.build(spec["name"], num_classes=spec["num_classes"], maxlen=spec["maxlen"],
                         max_features=spec["max_features"], task=spec["task"], ratios=ratios)
    model.class_names, model.task, model.classic = list(class_names), spec["task"], dict(spec)
    return model
