"""Tokenized text datasets and length-bucketed, dynamically padded batches for Keras ``fit``.

Padding every batch to a fixed length wastes most of the compute on short, uneven texts. Batches here are padded
only to their own longest text, and texts of similar length are grouped: the shuffled indices are cut into
"mega-batches" of ``bucket_batches`` batches, each mega-batch is sorted by length and cut into batches, and the
batch order is shuffled again. This is the scheme of HF Trainer's ``LengthGroupedSampler`` (see
``transformers.trainer_pt_utils.get_length_grouped_indices``). The batch holding the longest text comes first, so
an out-of-memory error shows up at the first step rather than late in an epoch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np


@dataclass
class TextDataset:
    """Texts, their token ids and (optionally) their labels, for any of the three tasks (:class:`kdemo.tasks.Task`).

    Attributes:
        texts: The raw texts, ``num_rows`` of them.
        input_ids: One int64 array of token ids per text (special tokens included, truncated to ``maxlen``).
        labels: None for unlabelled data, else by task: single-label, an int64 array of class ids of shape
            ``(num_rows,)``; multi-label, a float32 multi-hot 0/1 array of shape ``(num_rows, num_classes)``;
            regression, a float32 array of shape ``(num_rows, 1)`` (what ``Transformer`` builds; ``(num_rows,)``
            is accepted too).
        class_names: Label names in id order.
        token_type_ids: Per-text segment ids for sentence pairs, or None.
    """

    texts: list[str]
    input_ids: list[np.ndarray]
    labels: np.ndarray | None
    class_names: list[str]
    token_type_ids: list[np.ndarray] | None = None
    pad_token_id: int = 0
    batch_size: int = 1
    lengths: np.ndarray = field(init=False)
    _x: np.ndarray | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self):
        self.lengths = np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))
        if self.labels is not None and len(self.labels) != len(self.input_ids):
            raise ValueError(
                f"Expected one label per text. Received: {len(self.input_ids)} texts and {len(self.labels)} labels."
            )

    def __len__(self) -> int:
        """Rows (ktrain's ``TransformerDataset`` counts batches of ``batch_size``; see :meth:`nsamples`)."""
        return len(self.input_ids)

    # ---------------------------------------------------------------- ktrain's TransformerDataset interface
    @property
    def x(self) -> np.ndarray:
        """ktrain's ``x``: int64 array of shape ``(num_rows, num_inputs, seq_len)`` holding, per row, the input ids,
        the attention mask and (sentence pairs) the token type ids, padded to the longest row."""
        if self._x is None:
            batch = self.collate(range(len(self)))
            self._x = np.stack([batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch], axis=1)
        return self._x

    @property
    def y(self) -> np.ndarray | None:
        """ktrain's ``y``: float32 one-hot rows ``(num_rows, num_classes)`` for single-label data, the multi-hot
        matrix for multi-label data, the targets ``(num_rows,)`` for regression; None without labels."""
        if self.labels is None:
            return None
        if self.labels.ndim == 1:
            return np.eye(len(self.class_names), dtype=np.float32)[self.labels]
        if self.labels.shape[1] == 1 and len(self.class_names) <= 1:
            return self.labels[:, 0].astype(np.float32)
        return self.labels.astype(np.float32)

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Batch ``idx`` of ``batch_size`` rows as ``(x, y)`` slices (ktrain's ``trn[0][0]``)."""
        start = int(idx) * self.batch_size
        if idx < 0 or start >= len(self):
            raise IndexError(f"Expected a batch index below {math.ceil(len(self) / self.batch_size)}. Received: {idx}.")
        y = self.y
        return self.x[start : start + self.batch_size], None if y is None else y[start : start + self.batch_size]

    def get_y(self) -> np.ndarray | None:
        """ktrain's ``get_y``: :attr:`y`."""
        return self.y

    def nsamples(self) -> int:
        """ktrain's ``nsamples``: the number of rows."""
        return len(self)

    def nclasses(self) -> int:
        """ktrain's ``nclasses``: number of classes (1 for regression)."""
        return max(len(self.class_names), 1)

    def xshape(self) -> tuple[int, int]:
        """ktrain's ``xshape``: ``(num_rows, seq_len)``."""
        return len(self), self.x.shape[-1]

    def ondisk(self) -> bool:
        """ktrain's ``ondisk``: always False (kdemo datasets live in memory)."""
        return False

    def subset(self, indices: Sequence[int]) -> TextDataset:
        """A new dataset holding the rows at ``indices`` (in that order)."""
        idx = list(indices)
        return TextDataset(
            texts=[self.texts[i] for i in idx],
            input_ids=[self.input_ids[i] for i in idx],
            labels=None if self.labels is None else self.labels[idx],
            class_names=list(self.class_names),
            token_type_ids=None if self.token_type_ids is None else [self.token_type_ids[i] for i in idx],
            pad_token_id=self.pad_token_id,
            batch_size=self.batch_size,
        )

    def collate(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Pad the rows at ``indices`` to their longest length (:func:`pad_rows`).

        Returns:
            ``{"input_ids", "attention_mask"[, "token_type_ids"]}``, int64 arrays of shape ``(batch, seq_len)``
            where ``seq_len`` is the longest of these rows.
        """
        return pad_rows(self.input_ids, self.lengths, indices, self.pad_token_id, token_type_ids=self.token_type_ids)


def pad_rows(input_ids, lengths: np.ndarray, indices: Sequence[int], pad_token_id: int, *, token_type_ids=None,
             zero_token_types: bool = False) -> dict[str, np.ndarray]:
    """One batch of variable-length token rows, padded on the right to the longest of them (dynamic padding).

    The one padding routine of the text, token and question datasets.

    Args:
        input_ids: Token ids per row (a sequence of 1-D int arrays or lists).
        lengths: Tokens per row, int array of shape ``(num_rows,)``.
        indices: The rows of the batch, in batch order.
        pad_token_id: The tokenizer's padding id.
        token_type_ids: Segment ids per row (like ``input_ids``), or None.
        zero_token_types: Without ``token_type_ids``, still return an all-zero ``token_type_ids`` (models whose
            tokenizer makes them for single texts).

    Returns:
        ``{"input_ids", "attention_mask"[, "token_type_ids"]}``, int64 arrays of shape ``(batch, seq_len)`` where
        ``seq_len`` is the longest row of the batch; padding is ``pad_token_id`` / 0 / 0.
    """
    idx = list(indices)
    seq_len = int(lengths[idx].max())
    ids = np.full((len(idx), seq_len), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(idx), seq_len), dtype=np.int64)
    types = None if token_type_ids is None and not zero_token_types else np.zeros((len(idx), seq_len), dtype=np.int64)
    for row, i in enumerate(idx):
        n = lengths[i]
        ids[row, :n] = input_ids[i]
        mask[row, :n] = 1
        if token_type_ids is not None:
            types[row, :n] = token_type_ids[i]
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types
    return batch


class ArrayData(tuple):
    """A ``(x, y)`` pair as ktrain's ``preprocess_mode="bert"`` returns it, that still knows its dataset.

    Unpacks as ``x_train, y_train = trn``; :func:`kdemo.data.bert_arrays.as_dataset` (used by ``get_learner``) turns
    it back (see :func:`kdemo.data.bert_arrays.bert_arrays`).

    Attributes:
        dataset: The :class:`TextDataset` the arrays were made from.
    """

    def __new__(cls, pair, dataset: TextDataset):
        obj = super().__new__(cls, pair)
        obj.dataset = dataset
        return obj


def as_dataset(data):
    """The :class:`TextDataset` behind ``data`` (a dataset, an :class:`ArrayData` pair, or None)."""
    return data.dataset if isinstance(data, ArrayData) else data


def length_grouped_batches(
    lengths: np.ndarray, batch_size: int, *, rng: np.random.Generator | None, bucket_batches: int = 50
) -> list[np.ndarray]:
    """Group row indices into batches of similar length.

    Args:
        lengths: Token count of each row, shape ``(num_rows,)``.
        batch_size: Rows per batch (the last batch may be smaller).
        rng: Random generator for shuffling; None keeps a deterministic, fully length-sorted order (for
            evaluation and prediction, where order does not matter).
        bucket_batches: Batches per mega-batch that is sorted by length (training only).

    Returns:
        A list of index arrays, one per batch. With ``rng``, the batch holding the longest row comes first.
    """
    n = len(lengths)
    if rng is None:
        order = np.argsort(-lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    perm = rng.permutation(n)
    mega = batch_size * max(bucket_batches, 1)
    batches = []
    for start in range(0, n, mega):
        chunk = perm[start : start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    batches = [batches[i] for i in order]
    longest = int(np.argmax([lengths[b].max() for b in batches]))
    batches[0], batches[longest] = batches[longest], batches[0]
    return batches


def padding_aware_batches(lengths: np.ndarray, max_batch_size: int, overhead_tokens: float) -> list[np.ndarray]:
    """Split length-sorted rows into batches that minimise padded tokens plus a fixed cost per forward pass.

    One padded batch of every row wastes compute on padding (on a CPU, a forward pass costs about the same per
    padded token whatever the batch size), while one row per batch pays the per-call cost of a forward pass each
    time. With rows sorted by length, longest first, the batch ``[i, j)`` costs ``overhead_tokens + (j - i) *
    lengths[i]``; dynamic programming over the split points finds the cheapest split into contiguous batches of at
    most ``max_batch_size`` rows (exact, O(num_rows * max_batch_size)).

    Args:
        lengths: Token count of each row, shape ``(num_rows,)``.
        max_batch_size: Most rows per batch (bounds memory as ``length_grouped_batches``' ``batch_size`` does).
        overhead_tokens: The fixed cost of one forward pass, in padded tokens (on this 2-core CPU, MiniLM: about
            3.5 ms per call and 0.2 ms per token on one thread, so about 20; see ``bench/RESULTS.md``). 0 gives
            the least padding; a large value gives full batches, as :func:`length_grouped_batches`.

    Returns:
        A list of index arrays, one per batch, longest rows first; every row appears once.

    Raises:
        ValueError: If ``max_batch_size`` < 1 or ``overhead_tokens`` < 0.
    """
    if max_batch_size < 1 or overhead_tokens < 0:
        raise ValueError("Expected max_batch_size >= 1 and overhead_tokens >= 0. "
                         f"Received: max_batch_size={max_batch_size}, overhead_tokens={overhead_tokens}.")
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")
    sorted_len = lengths[order].astype(np.float64)
    n = len(order)
    best = np.zeros(n + 1)  # best[j]: cheapest cost of rows [0, j)
    start = np.zeros(n + 1, dtype=np.int64)  # where the last batch of that split begins
    for j in range(1, n + 1):
        first = max(0, j - max_batch_size)
        starts = np.arange(first, j)
        costs = best[first:j] + overhead_tokens + (j - starts) * sorted_len[first:j]
        k = int(np.argmin(costs))
        best[j], start[j] = costs[k], first + k
    batches = []
    j = n
    while j > 0:
        batches.append(order[start[j] : j])
        j = int(start[j])
    return batches[::-1]


class BatchSequence(keras.utils.PyDataset):
    """A ``keras.utils.PyDataset`` of dynamically padded batches of a :class:`TextDataset` (or of a token dataset,
    whose ``batch_labels(idx)`` pads the tag ids of each window to the batch; see :func:`batch_labels`).

    Each item is ``(inputs, labels)``, ``(inputs, labels, sample_weights)`` with ``class_weight``, or ``(inputs,)``
    without labels. ``inputs`` is the dict of :meth:`TextDataset.collate`; ``labels`` are the batch's rows of
    :attr:`TextDataset.labels`: int64 class ids of shape ``(batch,)`` (single-label), float32 multi-hot of shape
    ``(batch, num_classes)`` (multi-label) or float32 of shape ``(batch, 1)`` (regression); ``sample_weights`` is
    float32 of shape ``(batch,)``. The last batch may have fewer rows.

    Args:
        data: The dataset.
        batch_size: Rows per batch.
        shuffle: Training mode: length-grouped batches in a new random order each epoch. Otherwise the batches are
            fully sorted by length (fastest for evaluation).
        seed: Seed of the shuffling.
        bucket_batches: See :func:`length_grouped_batches`.
        class_weight: Optional ``{class_id: weight}`` (single-label); adds per-row sample weights.
    """

    def __init__(
        self,
        data: TextDataset,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        bucket_batches: int = 50,
        class_weight: dict[int, float] | None = None,
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}.")
        if len(data) == 0:
            raise ValueError("Expected a dataset with at least one row. Received: an empty dataset.")
        self.data = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.bucket_batches = bucket_batches
        self.class_weight = class_weight
        self._rng = np.random.default_rng(seed)
        self._batches = self._make_batches()

    def _make_batches(self) -> list[np.ndarray]:
        self._order_state = copy.deepcopy(self._rng.bit_generator.state)  # before this epoch's order is drawn
        return length_grouped_batches(
            self.data.lengths,
            self.batch_size,
            rng=self._rng if self.shuffle else None,
            bucket_batches=self.bucket_batches,
        )

    def __len__(self) -> int:
        return len(self._batches)

    @property
    def order_state(self) -> dict:
        """The shuffling generator's state just before the current batch order was drawn (JSON-serialisable;
        a checkpoint keeps it to redraw the same order, see :meth:`restore_order`)."""
        return copy.deepcopy(self._order_state)

    def restore_order(self, state: dict) -> None:
        """Set the shuffling generator to ``state`` (from :attr:`order_state`) and redraw the batch order from it.

        Keras' ``fit`` calls :meth:`on_epoch_end` once when it starts (``epoch_iterator.reset()``); that call draws
        again from ``state`` (not from where this draw left the generator), so the fit's first epoch gets exactly the
        order saved in ``state``.

        Args:
            state: A ``numpy.random.Generator.bit_generator.state`` dict.
        """
        self._rng.bit_generator.state = copy.deepcopy(state)
        self._batches = self._make_batches()
        self._rng.bit_generator.state = copy.deepcopy(state)

    @property
    def batch_indices(self) -> list[np.ndarray]:
        """Row indices of each batch in the current epoch's order."""
        return list(self._batches)

    def batch_rows(self, index: int) -> np.ndarray:
        """Row indices of the dataset in batch ``index`` of the current epoch, shape ``(batch,)`` (what a
        :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics` recorder maps the step's outputs to)."""
        return self._batches[index]

    def padded_tokens(self) -> tuple[int, int]:
        """``(real_tokens, padded_slots)`` of one epoch: tokens of the texts, and batch cells incl. padding."""
        real = int(self.data.lengths.sum())
        padded = sum(len(b) * int(self.data.lengths[b].max()) for b in self._batches)
        return real, padded

    def __getitem__(self, index: int):
        idx = self._batches[index]
        inputs = self.data.collate(idx)
        if self.data.labels is None:
            return (inputs,)
        labels = batch_labels(self.data, idx)
        if self.class_weight is None:
            return inputs, labels
        weights = np.asarray([self.class_weight[int(y)] for y in labels], dtype=np.float32)
        return inputs, labels, weights

    def on_epoch_end(self):
        if self.shuffle:
            self._batches = self._make_batches()


def batch_labels(data, idx: np.ndarray) -> np.ndarray:
    """The labels of the rows ``idx`` of ``data``: ``data.batch_labels(idx)`` when the dataset pads its own labels
    (a token dataset: int64 ``(batch, seq_len)`` tag ids, ``-100`` where no tag applies), else ``data.labels[idx]``."""
    own = getattr(data, "batch_labels", None)
    return own(idx) if callable(own) else data.labels[idx]


def steps_for(num_rows: int, batch_size: int) -> int:
    """Number of batches of ``batch_size`` needed for ``num_rows`` rows."""
    return math.ceil(num_rows / batch_size)


def maxlen_covering(lengths: Sequence[int], *, coverage: float = 0.95, cap: int = 512) -> int:
    """The smallest multiple of 8 (at least 16, at most ``cap``) that is ≥ the ``coverage`` quantile of ``lengths``.

    Args:
        lengths: Token counts per text, special tokens included.
        coverage: Fraction 0–1 of texts that should fit untruncated.
        cap: Upper bound (the model's maximum).

    Returns:
        The maxlen in tokens; 128 (capped) when ``lengths`` is empty.
    """
    needed = int(np.ceil(np.quantile(np.asarray(lengths), coverage))) if len(lengths) else 128
    return int(min(cap, max(16, -(-needed // 8) * 8)))
