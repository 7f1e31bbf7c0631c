"""ktrain's ``preprocess_mode="bert"`` data: ``(x, y)`` with ``x = [token_ids, segment_ids]``, each of shape
``(num_rows, maxlen)``, padded to ``maxlen`` (``ktrain/text/preprocessor.py``, ``BERTPreprocessor`` and
``bert_tokenize``), and the way back to a :class:`~kdemo.data.dataset.TextDataset` for the Learner.

``get_learner(model, train_data=(x_train, y_train))`` accepts such pairs as ktrain does, also after the user
unpacked and re-packed them (``x_train, y_train = trn`` … ``train_data=(x_train, y_train)``, as ktrain's BERT
tutorials do): the rows are read back from the arrays (trailing padding dropped, the labels from ``y`` by the
model's task), and when the arrays are the very ones a ``texts_from_*`` call returned, the texts come back too.
"""

from __future__ import annotations

import weakref

import numpy as np

from kdemo.data.dataset import ArrayData, TextDataset
from kdemo.errors import DataError
from kdemo.tasks import MULTI_LABEL, REGRESSION

#: id(token_ids array) -> (weak reference to it, the dataset it was made from): the texts of re-packed arrays.
_ORIGINS: dict[int, tuple[weakref.ref, TextDataset]] = {}


def bert_arrays(data: TextDataset, maxlen: int) -> ArrayData:
    """ktrain's bert-mode ``(x, y)`` of ``data``: ``x = [token_ids, segment_ids]``, int64 arrays of shape
    ``(num_rows, maxlen)`` padded with the pad id (segment ids with 0); ``y`` as :attr:`TextDataset.y`
    (one-hot ``(num_rows, num_classes)``, multi-hot, or regression targets ``(num_rows,)``; None unlabelled).

    Args:
        data: Tokenized rows (each at most ``maxlen`` tokens, special tokens included).
        maxlen: The padded length (the preprocessor's ``maxlen``).

    Returns:
        An :class:`~kdemo.data.dataset.ArrayData` pair (a tuple that still knows ``data``).
    """
    n, width = len(data), max(int(maxlen), int(data.lengths.max()) if len(data) else 0)
    ids = np.full((n, width), data.pad_token_id, dtype=np.int64)
    segments = np.zeros((n, width), dtype=np.int64)
    for row, tokens in enumerate(data.input_ids):
        ids[row, : len(tokens)] = tokens
        if data.token_type_ids is not None:
            segments[row, : len(tokens)] = data.token_type_ids[row]
    _ORIGINS[id(ids)] = (weakref.ref(ids, lambda _, key=id(ids): _ORIGINS.pop(key, None)), data)
    return ArrayData(([ids, segments], data.y), data)


def is_bert_pair(data) -> bool:
    """Whether ``data`` is ktrain's bert-mode ``(x, y)``: a 2-tuple whose ``x`` is a list or tuple of two 2-D
    integer arrays of the same shape."""
    if not isinstance(data, (tuple, list)) or len(data) != 2 or not isinstance(data[0], (list, tuple)):
        return False
    x = data[0]
    if len(x) != 2:
        return False
    a, b = (np.asarray(v) for v in x)
    return a.ndim == 2 and a.shape == b.shape and np.issubdtype(a.dtype, np.integer)


def _origin(ids) -> TextDataset | None:
    entry = _ORIGINS.get(id(ids))
    if entry is not None and entry[0]() is ids:
        return entry[1]
    return None


def _labels(y, class_names: list[str], task: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if task == REGRESSION:
        return y.reshape(len(y), 1).astype(np.float32)
    if task == MULTI_LABEL:
        return y.reshape(len(y), -1).astype(np.float32)
    if y.ndim == 2:
        if y.shape[1] != len(class_names):
            raise DataError(f"Expected one-hot labels with {len(class_names)} columns (the model's classes "
                            f"{class_names}). Received: y of shape {y.shape}. Pass the y returned with these x arrays.")
        return y.argmax(axis=1).astype(np.int64)
    return y.astype(np.int64)


def dataset_from_bert_pair(data, class_names: list[str], task: str, pad_token_id: int = 0) -> TextDataset:
    """The :class:`~kdemo.data.dataset.TextDataset` of a bert-mode ``(x, y)`` pair.

    Args:
        data: ``([token_ids, segment_ids], y)``; ``token_ids`` of shape ``(num_rows, maxlen)``.
        class_names: The model's class names (its ``id2label``); one name for regression.
        task: The model's task: how ``y`` is read (one-hot or class ids, multi-hot, targets).
        pad_token_id: The tokenizer's pad id (trailing pad ids are dropped from each row).

    Returns:
        The dataset; its texts are those of the ``texts_from_*`` call that made ``token_ids`` when these are its
        very arrays, else empty strings.

    Raises:
        DataError: If ``y`` does not have one row per row of ``x`` or does not fit the classes.
    """
    (ids, segments), y = data
    origin = _origin(ids)
    ids, segments = np.asarray(ids, dtype=np.int64), np.asarray(segments, dtype=np.int64)
    if y is not None and len(y) != len(ids):
        raise DataError(f"Expected one label per row of x. Received: {len(ids)} rows and {len(y)} labels.")
    rows, types = [], []
    for row, segment in zip(ids, segments):
        real = np.flatnonzero(row != pad_token_id)
        end = int(real[-1]) + 1 if len(real) else 1
        rows.append(row[:end].copy())
        types.append(segment[:end].copy())
    pairs = any(t.any() for t in types)
    texts = list(origin.texts) if origin is not None and len(origin) == len(rows) else [""] * len(rows)
    return TextDataset(texts=texts, input_ids=rows, labels=_labels(y, class_names, task), class_names=list(class_names),
                       token_type_ids=types if pairs else None, pad_token_id=pad_token_id)


def as_dataset(data, model=None):
    """The :class:`~kdemo.data.dataset.TextDataset` behind ``data``: a dataset, an
    :class:`~kdemo.data.dataset.ArrayData` pair, a re-packed bert-mode ``(x, y)`` tuple (read with ``model``'s
    classes and task), or None.

    Args:
        data: What the user passed as training or validation data.
        model: The transformer classifier (its ``hf_model.config`` gives ``id2label`` and ``pad_token_id``, its
            ``task`` how ``y`` is read); needed for a re-packed tuple only.

    Raises:
        DataError: For a re-packed tuple without a model to read it with.
    """
    if isinstance(data, ArrayData):
        return data.dataset
    if not is_bert_pair(data):
        return data
    config = getattr(getattr(model, "hf_model", None), "config", None)
    if config is None:
        raise DataError("Expected a transformer classifier to read bert-mode (x, y) arrays with. Received: none. "
                        "Build the model with text_classifier(...) or preproc.get_classifier() first.")
    names = [config.id2label[i] for i in range(config.num_labels)]
    return dataset_from_bert_pair(data, names, model.task, int(getattr(config, "pad_token_id", None) or 0))


def ktrain_undo(tokenizer, ids) -> str:
    """ktrain's ``BERTPreprocessor.undo``: the word pieces of ``ids`` joined by spaces, padding (id 0 and the pad
    id) left out and ``[CLS]``/``[SEP]`` kept (``"[CLS] the book is bad . [SEP]"``)."""
    pad = tokenizer.pad_token_id or 0
    kept = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) not in (0, pad)]
    return " ".join(tokenizer.convert_ids_to_tokens(kept))


__all__ = ["ArrayData", "as_dataset", "bert_arrays", "dataset_from_bert_pair", "is_bert_pair", "ktrain_undo"]
