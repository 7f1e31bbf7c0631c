"""Each global batch split across the ranks, so that N ranks see exactly the batches of one process.

Every rank builds the same :class:`~kdemo.data.dataset.BatchSequence` (same seed, same length bucketing, same
order) and takes its contiguous slice of each global batch (``numpy.array_split``: sizes differ by at most one
row). Each row carries the sample weight ``n_rank * world_size / n_global``: Keras' loss divides by the rows of
the slice, so after the gradients are averaged over the ranks (:mod:`kdemo.distributed.gradients`) the update is
the gradient of the full batch's mean loss, also when the last batch splits unevenly. A rank whose slice would be
empty gets the batch's first row with weight 0 (it contributes nothing but still joins the all-reduce).
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
    times ``n_rank * world_size / n_global`` (see the module docstring). ``len()`` and the epoch's batch order are
    those of the unsharded sequence.

    Args:
        data: The dataset.
        batch_size: Global rows per batch (all ranks together).
        rank: This process's rank.
        world_size: Number of ranks.
        **kwargs: The other :class:`~kdemo.data.dataset.BatchSequence` arguments (``shuffle``, ``seed``,
            ``bucket_batches``, ``class_weight``).
    """

    def __init__(self, data, batch_size: int, *, rank: int, world_size: int, **kwargs):
        self.rank, self.world_size = int(rank), int(world_size)
        super().__init__(data, batch_size, **kwargs)

    def weight_scale(self, index: int) -> float:
        """The factor ``n_rank * world_size / n_global`` of batch ``index``'s sample weights on this rank (0 for
        an empty slice)."""
        full = self._batches[index]
        return len(shard(full, self.rank, self.world_size)) * self.world_size / len(full)

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
