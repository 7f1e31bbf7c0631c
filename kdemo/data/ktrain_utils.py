"""ktrain's data helpers (``ktrain.utils``, imported as ``U`` in ktrain's tests and notebooks), for the data kdemo's
``texts_from_*`` and ``get_learner`` take: transformer datasets, bert-mode ``(x, y)`` arrays, standard-mode and
plain NumPy ``(x, y)`` arrays."""

from __future__ import annotations

import numpy as np

from kdemo.data.bert_arrays import is_bert_pair
from kdemo.data.dataset import TextDataset
from kdemo.data.keras_arrays import is_multilabel_targets


def is_iter(data) -> bool:
    """ktrain's ``is_iter``: whether ``data`` is a dataset object rather than an ``(x, y)`` tuple."""
    return not isinstance(data, tuple) and data is not None


def bert_data_tuple(data) -> bool:
    """ktrain's ``bert_data_tuple``: whether ``data`` is bert-mode ``([token_ids, segment_ids], y)``."""
    return is_bert_pair(data)


def _x_y(data):
    if isinstance(data, TextDataset):
        return data.x, data.y
    return data[0], data[1]


def y_from_data(data) -> np.ndarray:
    """ktrain's ``y_from_data``: the targets (one-hot, multi-hot or values)."""
    return np.asarray(_x_y(data)[1])


def is_multilabel(data) -> bool:
    """ktrain's ``is_multilabel``: 0/1 targets with a row holding more (or fewer) than one 1."""
    return is_multilabel_targets(y_from_data(data))


def nsamples_from_data(data) -> int:
    """ktrain's ``nsamples_from_data``: the number of rows."""
    return len(y_from_data(data))


def nclasses_from_data(data) -> int:
    """ktrain's ``nclasses_from_data``: the columns of ``y`` (1 for one value per row)."""
    y = y_from_data(data)
    return int(y.shape[1]) if y.ndim == 2 else 1


def shape_from_data(data) -> tuple:
    """ktrain's ``shape_from_data``: the shape of ``x`` (bert mode: of the token ids), ``(num_rows, maxlen)``."""
    if isinstance(data, TextDataset):
        return data.xshape()
    x = data[0]
    return tuple(np.asarray(x[0] if bert_data_tuple(data) else x).shape)


def ondisk(data) -> bool:
    """ktrain's ``ondisk``: False (kdemo's data live in memory)."""
    return False
