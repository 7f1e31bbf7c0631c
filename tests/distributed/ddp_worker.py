"""A training script for torchrun in the data-parallel tests: ``kdemo.train`` on a TrainConfig JSON, then save.

Usage: ``python -m torch.distributed.run --nproc_per_node=2 tests/ddp_worker.py CONFIG.json OUT [KILL_RANK KILL_STEP]``.
With KILL_RANK and KILL_STEP, that rank kills itself (SIGKILL, as the OOM killer would) after that optimizer step.
``tests/ddp_worker.py --stop-at RANK STEP CONFIG.json OUT``: that rank alone asks to stop after that step (as the
app's Stop or a stop file seen by one node would); every rank must stop after the same batch and the model is saved.
``tests/ddp_worker.py --verbs CONFIG.json OUT`` trains with ktrain's verbs instead (``texts_from_csv``,
``get_learner``, ``fit_onecycle``, ``get_predictor``, ``predictor.save``), as a ktrain notebook turned script would.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import torch

import kdemo
from kdemo.run.config import TrainConfig


def verbs(config: TrainConfig, out: str) -> None:
    """The run of ``config`` (one-cycle) through ktrain's verbs."""
    torch.manual_seed(config.seed)
    trn, val, preproc = kdemo.texts_from_csv(config.train_file, "text", label_columns=list(config.label_columns) or ["label"],
                                             val_filepath=config.val_file, model_name=config.model_name,
                                             maxlen=config.maxlen, random_state=config.seed, verbose=0)
    preproc.precision = config.precision
    torch.manual_seed(config.seed)
    learner = kdemo.get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=config.batch_size,
                                seed=config.seed)
    learner.fit_onecycle(config.lr, config.epochs, verbose=0)
    kdemo.get_predictor(learner.model, preproc).save(out)


def stop_at(rank_to_stop: int, step: int, config: TrainConfig, out: str) -> None:
    """Train ``config``; rank ``rank_to_stop`` sets its stop flag after optimizer step ``step``."""
    rank = int(os.environ.get("RANK", "0"))
    stop = threading.Event()
    steps = []

    def progress(event) -> None:
        if event.phase == "train":
            steps.append(event.step)
            if rank == rank_to_stop and event.step == step:
                stop.set()

    result = kdemo.train(config, progress=progress, stop=stop)
    result.save(out)
    print(f"worker: rank {rank} trained {steps[-1]} steps, stopped={result.learner.stopped_early}", flush=True)


def main(argv: list[str]) -> int:
    if argv[0] == "--stop-at":
        stop_at(int(argv[1]), int(argv[2]), TrainConfig.from_json(argv[3]), argv[4])
        return 0
    if argv[0] == "--verbs":
        verbs(TrainConfig.from_json(argv[1]), argv[2])
        print(f"worker: rank {os.environ.get('RANK', '0')} done", flush=True)
        return 0
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
