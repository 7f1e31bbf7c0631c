"""A training script for torchrun in the data-parallel tests: ``kdemo.train`` on a TrainConfig JSON, then save.

Usage: ``python -m torch.distributed.run --nproc_per_node=2 tests/ddp_worker.py CONFIG.json OUT [KILL_RANK KILL_STEP]``.
With KILL_RANK and KILL_STEP, that rank kills itself (SIGKILL, as the OOM killer would) after that optimizer step.
"""

from __future__ import annotations

import os
import signal
import sys

import kdemo
from kdemo.run.config import TrainConfig


def main(argv: list[str]) -> int:
    config = TrainConfig.from_json(argv[0])
    out = argv[1]
    kill_rank, kill_step = (int(argv[2]), int(argv[3])) if len(argv) > 3 else (None, None)
    rank = int(os.environ.get("RANK", "0"))

    def progress(event) -> None:
        if rank == kill_rank and event.step >= kill_step:
            print(f"worker: rank {rank} kills itself at step {event.step}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    result = kdemo.train(config, progress=progress)
    result.save(out)
    print(f"worker: rank {rank} done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
