"""Averaging gradients across the ranks at the optimizer step, and starting every rank from rank 0's weights.

Keras 3's torch backend has no data-parallel ``fit`` (keras-team/keras#23418), so the all-reduce happens where
Keras hands the gradients to the optimizer: :class:`~kdemo.training.optimizer.FusedAdamW` calls
:class:`GradientSync` with its parameters before clipping and the update. The gradients go over the wire as flat
buffers of up to 25 MiB (DDP's buckets, without DDP's overlap with the backward pass), followed by one number:
whether any rank asked to stop, so that all ranks stop after the same batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
import torch.distributed as dist

from kdemo.distributed.context import current, peer_failure

#: Bytes of gradients per all-reduce: DDP's default ``bucket_cap_mb`` (25 MiB).
BUCKET_BYTES = 25 * 2**20


def _buckets(grads: Sequence[torch.Tensor], bucket_bytes: int) -> list[list[torch.Tensor]]:
    """Consecutive groups of ``grads`` of one dtype and at most ``bucket_bytes`` (a larger tensor goes alone)."""
    buckets: list[list[torch.Tensor]] = []
    size = 0
    for g in grads:
        nbytes = g.numel() * g.element_size()
        if not buckets or buckets[-1][0].dtype != g.dtype or size + nbytes > bucket_bytes:
            buckets.append([])
            size = 0
        buckets[-1].append(g)
        size += nbytes
    return buckets


class GradientSync:
    """Average ``param.grad`` over all ranks in place and share the stop flag.

    Args:
        stop_event: This rank's stop flag (the learner's): sent as 1 when set here, and set here when any rank
            sent 1.
        bucket_bytes: Most bytes of gradients flattened into one all-reduce (bounds the extra memory).

    Attributes:
        agreed_stop: Set on every rank in the same step, once any rank has asked to stop. The fit's
            :class:`~kdemo.training.callbacks.StopRequest` watches it (not ``stop_event``, which one rank may set
            earlier than the others), so that all ranks end after the same batch.
    """

    def __init__(self, stop_event: threading.Event | None = None, bucket_bytes: int = BUCKET_BYTES):
        self.stop_event = stop_event
        self.agreed_stop = threading.Event()
        self.bucket_bytes = int(bucket_bytes)
        self.world_size = current().world_size

    def __call__(self, params: Sequence[torch.Tensor]) -> None:
        """All-reduce the gradients of ``params`` (those whose ``.grad`` is set) and divide by the world size.

        Raises:
            DistributedError: If another rank failed or left during the all-reduce.
        """
        if self.world_size <= 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        device = grads[0].device if grads else (params[0].device if params else torch.device("cpu"))
        stop = float(self.stop_event is not None and self.stop_event.is_set())
        flag = torch.tensor([stop], dtype=torch.float32, device=device)
        try:
            for bucket in _buckets(grads, self.bucket_bytes):
                flat = torch.cat([g.reshape(-1) for g in bucket])
                dist.all_reduce(flat, op=dist.ReduceOp.SUM)
                flat.div_(self.world_size)
                offset = 0
                for g in bucket:
                    g.copy_(flat[offset: offset + g.numel()].view_as(g))
                    offset += g.numel()
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        except Exception as exc:
            raise peer_failure(exc) from exc
        if flag.item() > 0:
            self.agreed_stop.set()
            if self.stop_event is not None:
                self.stop_event.set()


def broadcast_weights(tensors: Sequence[torch.Tensor]) -> None:
    """Copy rank 0's values of ``tensors`` to every rank (as DDP does at construction).

    Raises:
        DistributedError: If another rank failed or left.
    """
    if current().world_size <= 1:
        return
    try:
        with torch.no_grad():
            for t in tensors:
                dist.broadcast(t.data, src=0)
    except Exception as exc:
        raise peer_failure(exc) from exc


def sum_across_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` (a 1-D float64 CPU tensor) over all ranks, on the CPU.

    Raises:
        DistributedError: If another rank failed or left.
    """
    ctx = current()
    if ctx.world_size <= 1:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else torch.device("cpu")
    buffer = values.to(device)
    try:
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    except Exception as exc:
        raise peer_failure(exc) from exc
    return buffer.cpu()


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank (``flag`` itself in a single process), so that all ranks decide alike.

    Raises:
        DistributedError: If another rank failed or left.
    """
    return bool(sum_across_ranks(torch.tensor([float(flag)], dtype=torch.float64)).item() > 0)
