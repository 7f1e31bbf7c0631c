"""Which rank this process is, and the process group: read from ``torchrun``'s environment, set up once.

``torchrun --nproc_per_node=N`` (``python -m torch.distributed.run``) starts N copies of a program with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment. :func:`setup` turns that
into a process group (NCCL on CUDA, gloo on CPU) with a timeout, so that a rank whose peer died does not wait
forever; outside torchrun it does nothing and every function here describes a single process (rank 0 of 1).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from kdemo.errors import TrainingError

#: Seconds a collective (gradient all-reduce, weight broadcast) waits for the other ranks before failing. A dead peer is
#: normally noticed at once (its connection closes) and torchrun's agent stops the others; the timeout covers a
#: rank that hangs without dying.
DEFAULT_TIMEOUT_S = 300.0


class DistributedError(TrainingError):
    """A data-parallel run cannot go on: another rank failed or left, or the launch is inconsistent."""


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel run.

    Attributes:
        rank: Global rank, 0 to ``world_size - 1``; rank 0 writes files, logs and progress.
        world_size: Number of processes (1 outside torchrun).
        local_rank: Rank on this machine (the GPU index it uses).
        backend: ``"nccl"``, ``"gloo"``, or None for a single process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """Whether there is more than one rank."""
        return self.world_size > 1


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun, or 1 when the process was not launched by it."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched_rank() -> int:
    """``RANK`` set by torchrun (0 when the process was not launched by it): who prints and writes, known before
    the process group is formed (:func:`setup`)."""
    try:
        return max(0, int(os.environ.get("RANK", "0")))
    except ValueError:
        return 0


def choose_backend() -> str:
    """NCCL when CUDA is available, else gloo (CPU)."""
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def current() -> DistributedContext:
    """The context of this process: from the process group once :func:`setup` ran, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                                  dist.get_backend())
    return DistributedContext()


def setup(timeout_s: float = DEFAULT_TIMEOUT_S) -> DistributedContext:
    """Join torchrun's process group if this process was launched by torchrun with more than one rank.

    Idempotent: later calls return the current context. On CUDA each rank takes the GPU of its ``LOCAL_RANK``.
    The group is destroyed when the process exits.

    Args:
        timeout_s: Seconds a collective waits for the other ranks before failing.

    Returns:
        The :class:`DistributedContext` (rank 0 of 1 outside torchrun).

    Raises:
        DistributedError: If torchrun's environment is incomplete or the group cannot be formed.
    """
    if launched_world_size() <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    if not dist.is_available():
        raise DistributedError("Expected a torch build with torch.distributed for a multi-process run. Received: "
                               "torch.distributed is unavailable. Run in one process or install a full torch build.")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise DistributedError(f"Expected torchrun's environment (RANK, MASTER_ADDR, MASTER_PORT) with WORLD_SIZE > 1. "
                               f"Received: {', '.join(missing)} unset. Launch with torchrun --nproc_per_node=N.")
    backend = choose_backend()
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    except Exception as exc:  # a rendezvous that fails: wrong endpoint, a peer that never came
        raise DistributedError(f"Expected all {launched_world_size()} ranks to join the process group. Received: "
                               f"{type(exc).__name__}: {exc}. Check --rdzv-endpoint and that every node started.") from exc
    atexit.register(teardown)
    _say_why_on_sigterm()
    return current()


def _say_why_on_sigterm() -> None:
    """torchrun's agent ends the surviving ranks with SIGTERM when one rank fails: have them say so (on stderr)
    before they exit as SIGTERM would have them exit."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        rank = os.environ.get("RANK", "?")
        print(f"kdemo: rank {rank} ended by torchrun (SIGTERM): another rank failed or the run was stopped; this "
              "rank wrote nothing (see torchrun's summary for the failed rank).", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)


def teardown() -> None:
    """Leave the process group (nothing when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def to_local_device(module: torch.nn.Module) -> None:
    """On CUDA under torchrun, move ``module`` (in place) to this rank's GPU: a model built before :func:`setup`
    ran (e.g. by ``get_classifier`` in a ktrain-style script) was put on GPU 0 by every rank."""
    ctx = current()
    if ctx.is_distributed and ctx.backend == "nccl":
        module.to(torch.device("cuda", torch.cuda.current_device()))


def check_batch_size(batch_size: int, world_size: int | None = None, *, unit: str = "ranks") -> None:
    """Refuse a global batch that does not split evenly across the ranks.

    Args:
        batch_size: Global batch: rows per optimizer step over all ranks.
        world_size: Number of ranks (default: this run's).
        unit: What the ranks are called in the message (the app says ``"GPUs"``).

    Raises:
        DistributedError: If ``batch_size`` is not a multiple of ``world_size``.
    """
    world_size = current().world_size if world_size is None else world_size
    if world_size > 1 and batch_size % world_size:
        lower = max(world_size, batch_size // world_size * world_size)
        raise DistributedError(
            f"Expected a batch size divisible by the {world_size} {unit} (it is the global batch, split evenly). "
            f"Received: batch_size={batch_size}: a batch size {batch_size} leaves {batch_size % world_size} rows "
            f"over. Use {lower} or {lower + world_size}."
        )


def peer_failure(exc: BaseException) -> DistributedError:
    """The error a rank raises when a collective fails because a peer died, hung or left."""
    ctx = current()
    return DistributedError(
        f"Expected all {ctx.world_size} ranks to take part in the step. Received on rank {ctx.rank}: "
        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. Another rank failed or left (torchrun's "
        "summary names it); rank 0 wrote no folder. Fix that rank's error and run again."
    )
