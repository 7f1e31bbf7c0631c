"""NumPy training data for any compiled Keras model: ``(x, y)`` pairs as ktrain's ``get_learner`` takes them, and
their shuffled batches for Keras ``fit``.

ktrain trains any ``keras.Model`` on ``train_data=(x_train, y_train)`` (``ktrain/core.py``, ``ArrayLearner``):
``x`` is one array (or a list of arrays, one per model input) with one row per example, ``y`` the targets as the
model's loss expects them (one-hot or class ids, multi-hot, or numbers). Nothing is padded or re-encoded here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import keras
import numpy as np

from kdemo.errors import DataError
from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL


def is_multilabel_targets(y) -> bool:
    """ktrain's ``is_multilabel`` for arrays: a 2-D 0/1 ``y`` with a row holding more (or fewer) than one 1."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] < 2 or not np.isin(y, (0, 1)).all():
        return False
    return bool((y.sum(axis=1) != 1).any())


def targets_task(y) -> str:
    """The task ``y`` describes: multi-label (see :func:`is_multilabel_targets`), single-label (one-hot rows or
    integer class ids) or regression (floats, one per row)."""
    y = np.asarray(y)
    if is_multilabel_targets(y):
        return MULTI_LABEL
    if y.ndim == 2 and y.shape[1] > 1:
        return SINGLE_LABEL
    if np.issubdtype(y.dtype, np.integer) and y.ndim == 1:
        return SINGLE_LABEL
    return REGRESSION


class ArrayDataset:
    """``(x, y)`` arrays with the parts of kdemo's dataset interface the Learner uses.

    Args:
        x: Array of shape ``(num_rows, ...)``, or a list of such arrays (one per model input).
        y: Targets, shape ``(num_rows,)`` or ``(num_rows, num_outputs)``, or None (prediction only).
        class_names: Names of the classes (default: the column numbers).

    Raises:
        DataError: If the arrays do not all have the same number of rows.
    """

    def __init__(self, x, y=None, class_names: Sequence[str] | None = None):
        self.inputs = [np.asarray(v) for v in x] if isinstance(x, (list, tuple)) else [np.asarray(x)]
        self.y_array = None if y is None else np.asarray(y)
        rows = {len(v) for v in self.inputs} | ({len(self.y_array)} if self.y_array is not None else set())
        if len(rows) != 1:
            raise DataError(f"Expected x and y with the same number of rows. Received: row counts {sorted(rows)}.")
        self.multiple_inputs = isinstance(x, (list, tuple))
        self.task = targets_task(self.y_array) if self.y_array is not None else None
        width = self.y_array.shape[1] if self.y_array is not None and self.y_array.ndim == 2 else None
        if class_names:
            self.class_names = [str(c) for c in class_names]
        elif self.task == SINGLE_LABEL and width is None:
            self.class_names = [str(i) for i in range(int(self.y_array.max()) + 1)]
        else:
            self.class_names = [str(i) for i in range(width)] if width and self.task != REGRESSION else []
        self.texts: list[str] | None = None
        self.batch_size = 32

    def __len__(self) -> int:
        return len(self.inputs[0])

    @property
    def x(self):
        """``x`` as given (one array, or the list of arrays)."""
        return self.inputs if self.multiple_inputs else self.inputs[0]

    @property
    def y(self) -> np.ndarray | None:
        """``y`` as given."""
        return self.y_array

    @property
    def labels(self) -> np.ndarray | None:
        """The targets in kdemo's layout: class ids ``(num_rows,)`` (single-label), multi-hot ``(num_rows,
        num_classes)`` or targets ``(num_rows,)`` (regression); None without targets."""
        y = self.y_array
        if y is None:
            return None
        if self.task == SINGLE_LABEL:
            return y.argmax(axis=1).astype(np.int64) if y.ndim == 2 else y.astype(np.int64)
        if self.task == REGRESSION:
            return y.reshape(len(y)).astype(np.float64)
        return y.astype(np.float32)

    def rows(self, idx) -> list[np.ndarray]:
        """The inputs of the rows ``idx`` (a list, one array per input)."""
        return [v[idx] for v in self.inputs]

    def batch_x(self, idx):
        """The model input of the rows ``idx``: one array, or a list (several inputs)."""
        rows = self.rows(idx)
        return rows if self.multiple_inputs else rows[0]

    def nsamples(self) -> int:
        """ktrain's ``nsamples``."""
        return len(self)

    def nclasses(self) -> int:
        """ktrain's ``nclasses``: columns of ``y`` (1 for regression)."""
        return max(len(self.class_names), 1)

    def xshape(self) -> tuple:
        """ktrain's ``xshape``: the shape of the (first) input array."""
        return tuple(self.inputs[0].shape)

    def ondisk(self) -> bool:
        """ktrain's ``ondisk``: False (in memory)."""
        return False


def as_array_dataset(data, class_names: Sequence[str] | None = None) -> ArrayDataset | None:
    """``data`` as an :class:`ArrayDataset`: one already, an ``(x, y)`` pair, or None.

    Raises:
        DataError: If ``data`` is neither.
    """
    if data is None or isinstance(data, ArrayDataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return ArrayDataset(data[0], data[1], class_names)
    raise DataError(f"Expected training data as an (x, y) pair of NumPy arrays for a Keras model. Received: "
                    f"{type(data).__name__}. Pass train_data=(x_train, y_train).")


class ArrayBatches(keras.utils.PyDataset):
    """Batches of an :class:`ArrayDataset` in a seeded random order (redrawn each epoch when ``shuffle``).

    Items are ``(x, y)`` or ``(x, y, sample_weight)`` (with ``class_weight``: per-row weights of the class ids),
    ``x`` one array or a list of arrays. It keeps :class:`~kdemo.data.dataset.BatchSequence`'s ``order_state``
    and ``restore_order``.

    Args:
        data: The dataset (with targets).
        batch_size: Rows per batch (the last may be smaller).
        shuffle: Draw a new random order each epoch (training); else rows in order.
        seed: Seed of the order.
        class_weight: Optional ``{class_id: weight}``.
    """

    def __init__(self, data: ArrayDataset, batch_size: int, *, shuffle: bool, seed: int = 0,
                 class_weight: dict[int, float] | None = None):
        super().__init__()
        if batch_size < 1 or len(data) == 0:
            raise ValueError(f"Expected batch_size >= 1 and rows. Received: batch_size={batch_size}, {len(data)} rows.")
        self.data, self.batch_size, self.shuffle, self.class_weight = data, int(batch_size), shuffle, class_weight
        self._rng = np.random.default_rng(seed)
        self._order_state = copy.deepcopy(self._rng.bit_generator.state)
        self._order = self._draw()

    def _draw(self) -> np.ndarray:
        self._order_state = copy.deepcopy(self._rng.bit_generator.state)
        return self._rng.permutation(len(self.data)) if self.shuffle else np.arange(len(self.data))

    @property
    def order_state(self) -> dict:
        """The generator's state before the current order was drawn."""
        return copy.deepcopy(self._order_state)

    def restore_order(self, state: dict) -> None:
        """Redraw the order from ``state`` (see :meth:`kdemo.data.dataset.BatchSequence.restore_order`)."""
        self._rng.bit_generator.state = copy.deepcopy(state)
        self._order = self._draw()
        self._rng.bit_generator.state = copy.deepcopy(state)

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def __getitem__(self, index: int):
        idx = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        x, y = self.data.batch_x(idx), self.data.y_array[idx]
        if self.class_weight is None:
            return x, y
        ids = self.data.labels[idx]
        return x, y, np.asarray([self.class_weight[int(c)] for c in ids], dtype=np.float32)

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._draw()
