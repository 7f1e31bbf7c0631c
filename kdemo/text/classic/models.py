"""ktrain's classic text models as Keras 3 models (``ktrain/text/models.py``): ``fasttext``, ``logreg``,
``nbsvm``, ``bigru``, ``standard_gru`` for classification and ``linreg``, ``bigru``, ``standard_gru`` (and
``fasttext``) for regression, with ktrain's architectures, losses and metrics.

* ``logreg``/``linreg``: one trainable weight per word id and class, summed over the text (an Embedding of
  width ``num_classes`` dotted with a frozen all-ones Embedding), then softmax/sigmoid (none for regression).
* ``nbsvm``: Wang & Manning, "Baselines and Bigrams" (ACL 2012, http://www.aclweb.org/anthology/P12-2018): frozen
  Naive Bayes log-count ratios per word id and class, dotted with one trainable weight per word id.
* ``fasttext``: Joulin et al., "Bag of Tricks" (2016, http://arxiv.org/pdf/1607.01759.pdf): Embedding(64),
  spatial dropout, global max pooling, batch norm, Dense(64, relu), dropout, output.
* ``standard_gru``: Embedding(256), two GRU(256, dropout 0.9) layers, output.
* ``bigru``: 300-dimensional word vectors (ktrain downloads fastText's crawl-300d-2M.vec, 1.5 GB; kdemo never
  downloads: pass ``wv_path=`` a local ``.vec`` file, else the vectors are randomly initialised and trained),
  spatial dropout, a bidirectional GRU(80), average and max pooling concatenated, output.
"""

from __future__ import annotations

import keras
import numpy as np
from scipy.sparse import csr_matrix

from kdemo.errors import ModelError
from kdemo.tasks import MULTI_LABEL, REGRESSION

#: Embedding width of ``bigru`` (fastText's English vectors).
WV_DIM = 300
CLASSIFIERS = ("fasttext", "logreg", "nbsvm", "bigru", "standard_gru")
REGRESSORS = ("fasttext", "linreg", "bigru", "standard_gru")


def nb_ratios(x: np.ndarray, y: np.ndarray, num_columns: int) -> np.ndarray:
    """Naive Bayes log-count ratios per word id and class (ktrain's ``calc_r``; Wang & Manning 2012).

    Args:
        x: Word ids, int ``(num_rows, maxlen)`` (0 is padding).
        y: One-hot or multi-hot targets ``(num_rows, num_classes)``.
        num_columns: Word ids are below this.

    Returns:
        Float32 ``(num_columns, num_classes)``; row 0 (padding) is 0.
    """
    rows, cols = np.nonzero(x > 0)
    counts = csr_matrix((np.ones(len(rows)), (rows, x[rows, cols])), shape=(len(x), num_columns))
    labels = np.asarray(y).argmax(axis=1)
    out = np.zeros((num_columns, y.shape[1]), dtype=np.float32)
    for c in range(y.shape[1]):
        inside = labels == c
        p = (np.asarray(counts[inside].sum(0)).ravel() + 1) / (inside.sum() + 1)
        q = (np.asarray(counts[~inside].sum(0)).ravel() + 1) / ((~inside).sum() + 1)
        out[:, c] = np.log(p / q)
    out[0] = 0
    return out


def read_word_vectors(path: str, word_index: dict[str, int], num_words: int, dim: int = WV_DIM) -> np.ndarray:
    """An embedding matrix ``(num_words, dim)`` from a fastText ``.vec`` text file (``word v1 … vdim`` per line;
    ktrain's ``load_wv``); words missing from the file get zeros, as in ktrain."""
    matrix = np.zeros((num_words, dim), dtype=np.float32)
    wanted = {w: i for w, i in word_index.items() if i < num_words}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip().split(" ")
            if len(parts) == dim + 1 and parts[0] in wanted:
                matrix[wanted[parts[0]]] = np.asarray(parts[1:], dtype=np.float32)
    return matrix


def _frozen(input_dim: int, output_dim: int, values: np.ndarray, name: str) -> keras.layers.Embedding:
    return keras.layers.Embedding(input_dim, output_dim, trainable=False, name=name,
                                  embeddings_initializer=keras.initializers.Constant(values))


def build(name: str, *, num_classes: int, maxlen: int, max_features: int, task: str, ratios: np.ndarray | None = None,
          vectors: np.ndarray | None = None, metrics=None) -> keras.Model:
    """Build and compile one of ktrain's classic text models.

    Args:
        name: ``fasttext``, ``logreg``/``linreg``, ``nbsvm``, ``bigru`` or ``standard_gru``.
        num_classes: Outputs (1 for regression).
        maxlen: Word ids per row.
        max_features: Word (and n-gram) ids are below this.
        task: ``"single_label"`` (softmax, categorical cross-entropy), ``"multi_label"`` (sigmoid, binary
            cross-entropy) or ``"regression"`` (no activation, mean squared error, MAE).
        ratios: ``nbsvm``: the :func:`nb_ratios` matrix ``(num_columns, num_classes)`` (zeros when rebuilding
            for saved weights).
        vectors: ``bigru``: an embedding matrix ``(max_features, 300)``, or None for random initialisation.
        metrics: Keras metrics (default ``["accuracy"]``, regression ``["mae"]``).

    Returns:
        The compiled model (Keras' Adam, as ktrain's ``DEFAULT_OPT``); the Learner recompiles it per fit.

    Raises:
        ModelError: For an unknown name.
    """
    activation = {MULTI_LABEL: "sigmoid", REGRESSION: None}.get(task, "softmax")
    loss = {MULTI_LABEL: "binary_crossentropy", REGRESSION: "mse"}.get(task, "categorical_crossentropy")
    metrics = metrics or (["mae"] if task == REGRESSION else ["accuracy"])
    inp = keras.Input(shape=(maxlen,), dtype="int32")
    L = keras.layers
    if name in ("logreg", "linreg"):
        ones = np.ones((max_features, 1), dtype=np.float32)
        ones[0] = 0
        r = _frozen(max_features, 1, ones, "ones")(inp)
        x = L.Embedding(max_features, num_classes, embeddings_initializer="glorot_normal")(inp)
        x = L.Flatten()(L.Dot(axes=1)([x, r]))
    elif name == "nbsvm":
        if ratios is None:
            raise ModelError("Expected the NB log-count ratios of the training data for nbsvm. Received: none.")
        r = _frozen(len(ratios), num_classes, ratios, "nb_ratios")(inp)
        x = L.Embedding(len(ratios), 1, embeddings_initializer="glorot_normal")(inp)
        x = L.Flatten()(L.Dot(axes=1)([r, x]))
    elif name == "fasttext":
        x = L.Embedding(max_features, 64)(inp)
        x = L.GlobalMaxPooling1D()(L.SpatialDropout1D(0.25)(x))
        x = L.Dense(64, activation="relu", kernel_initializer="he_normal")(L.BatchNormalization()(x))
        x = L.Dense(num_classes)(L.Dropout(0.5)(x))
    elif name == "standard_gru":
        x = L.Embedding(max_features, 256)(inp)
        x = L.GRU(256, dropout=0.9)(L.GRU(256, dropout=0.9, return_sequences=True)(x))
        x = L.Dense(num_classes)(x)
    elif name == "bigru":
        init = "uniform" if vectors is None else keras.initializers.Constant(vectors)
        x = L.SpatialDropout1D(0.2)(L.Embedding(max_features, WV_DIM, embeddings_initializer=init)(inp))
        x = L.Bidirectional(L.GRU(80, return_sequences=True))(x)
        x = L.Dense(num_classes)(L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)]))
    else:
        raise ModelError(f"Expected one of {sorted(set(CLASSIFIERS) | set(REGRESSORS))}. Received: {name!r}.")
    if activation:
        x = L.Activation(activation)(x)
    model = keras.Model(inp, x, name=name)
    model.compile(loss=loss, optimizer=keras.optimizers.Adam(), metrics=metrics)
    return model
