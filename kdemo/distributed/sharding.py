"""Each global batch split across the ranks, so that N ranks see exactly the batches of one process.

Every rank builds the same :class:`~kdemo.data.dataset.BatchSequence` (same seed, same length bucketing, same
order) and takes its contiguous slice of each global batch (``numpy.array_split``: sizes differ by at most one
row). Each row carries the sample weight ``s = n_rank * world_size / n_global``: Keras' loss divides by the rows of
the slice, so after the gradients are averaged over the ranks (:mod:`kdemo.distributed.gradients`) the update is
the gradient of the full batch's mean loss, also when the last batch splits unevenly. A token dataset's loss is a
mean over labelled tokens, not rows (:class:`~kdemo.modeling.tagger.MaskedSparseCrossentropy`), so there ``s =
world_size * m_rank / m_global`` with ``m`` the labelled tokens (weighted by the tag weights, if any) of the slice
and of the global batch. A rank whose slice would be empty gets the batch's first row with weight 0 (it
contributes nothing but still joins the all-reduce).
"""

from __future__ import annotations

import numpy as np

from kdemo.data.dataset import BatchSequence, batch_labels


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous slice of one global batch's row indices (``numpy.array_split``)."""
    return np.array_split(np.asarray(indices), world_size)[rank]


class ShardedBatchSequence(BatchSequence):
    """A :class:`~kdemo.data.dataset.BatchSequence` yielding this rank's slice of each global batch.

    Items are always ``(inputs, labels, sample_weights)``: the weights are the class weights (1 without them)
    times :meth:`weight_scale` (see the module docstring). ``len()`` and the epoch's batch order are those of the
    unsharded sequence.

    Args:
        data: The dataset.
        batch_size: Global rows per batch (all ranks together).
        rank: This process's rank.
        world_size: Number of ranks.
        tag_weights: A token dataset's loss weight per tag id, shape ``(num_tags,)``
            (:attr:`kdemo.modeling.tagger.HFTokenClassifier.tag_weights`), or None for 1 each.
        **kwargs: The other :class:`~kdemo.data.dataset.BatchSequence` arguments (``shuffle``, ``seed``,
            ``bucket_batches``, ``class_weight``).
    """

    def __init__(self, data, batch_size: int, *, rank: int, world_size: int, tag_weights=None, **kwargs):
        self.rank, self.world_size = int(rank), int(world_size)
        self.tag_weights = None if tag_weights is None else np.asarray(tag_weights, dtype=np.float64)
        self.per_token = callable(getattr(data, "batch_labels", None))  # a token dataset pads per-token labels
        super().__init__(data, batch_size, **kwargs)

    def _token_mass(self, idx: np.ndarray) -> float:
        """The labelled tokens of rows ``idx`` (label ≥ 0; ``-100`` is no label), each counted with its tag weight."""
        labels = batch_labels(self.data, idx)
        tags = labels[labels >= 0]
        return float(len(tags) if self.tag_weights is None else self.tag_weights[tags].sum())

    def weight_scale(self, index: int) -> float:
        """The factor of batch ``index``'s sample weights on this rank: ``n_rank * world_size / n_global`` (rows),
        or for a token dataset ``world_size * m_rank / m_global`` (labelled tokens); 0 for an empty slice."""
        full = self._batches[index]
        mine = shard(full, self.rank, self.world_size)
        if not self.per_token or len(mine) == 0:
            return len(mine) * self.world_size / len(full)
        total = self._token_mass(full)
        if total == 0:  # no labelled token in the whole batch: the loss is 0 on every rank
            return len(mine) * self.world_size / len(full)
        return self.world_size * self._token_mass(mine) / total

    def loss_share(self, index: int) -> float:
        """The factor that turns this rank's increment of the Keras ``loss`` tracker (its scaled loss times its
        rows) into its part of the global batch's increment (the global loss times the global rows):
        ``n_global / (world_size * n_rank)``, 0 for an empty slice. The ranks' scaled losses average to the global
        batch's loss (module docstring), so the parts sum to the global increment."""
        full = self._batches[index]
        mine = len(shard(full, self.rank, self.world_size))
        return 0.0 if mine == 0 else len(full) / (self.world_size * mine)

    def batch_rows(self, index: int) -> np.ndarray:
        """This rank's rows of batch ``index`` (its slice of the global batch; the first row for an empty slice)."""
        full = self._batches[index]
        idx = shard(full, self.rank, self.world_size)
        return idx if len(idx) else full[:1]

    def __getitem__(self, index: int):
        full = self._batches[index]
        idx = shard(full, self.rank, self.world_size)
        scale = self.weight_scale(index)
        if len(idx) == 0:
            idx = full[:1]
        inputs = self.data.collate(idx)
        labels = batch_labels(self.data, idx)
        if self.class_weight is None:
            weights = np.full(len(idx), scale, dtype=np.float32)
        else:
            weights = np.asarray([self.class_weight[int(y)] * scale for y in labels], dtype=np.float32)
        return inputs, labels, weights
