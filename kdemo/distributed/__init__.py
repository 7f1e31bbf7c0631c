"""Data-parallel training on ``torch.distributed``, launched by ``torchrun`` (one process per GPU or CPU slot).

Keras 3's torch backend has no data-parallel ``fit`` (keras-team/keras#23418), so Keras ``fit`` stays the loop and
this package supplies the rest:

- :mod:`~kdemo.distributed.context`: rank and world size from torchrun's environment, the process group (NCCL on
  CUDA, gloo on CPU, with a timeout), the batch-size check, what a rank says when a peer fails.
- :mod:`~kdemo.distributed.sharding`: each rank's slice of every global batch, weighted so that averaged gradients
  equal the full batch's.
- :mod:`~kdemo.distributed.gradients`: the gradient all-reduce at the optimizer step (with the stop flag), the
  initial weight broadcast, small sums across ranks.
- :mod:`~kdemo.distributed.launch`: the torchrun command line and the JSON progress lines the app reads back.

The training code uses it in :class:`kdemo.training.learner.Learner` (sharded batches, ``FusedAdamW.gradient_sync``)
and :mod:`kdemo.training.fit_loop` (broadcast, global metrics, rank-0-only output); ``kdemo.train``, the CLI and
the ``save`` methods write on rank 0 only.
"""
