"""What ``fit(..., checkpoint_folder=...)`` costs per epoch: checkpoints written on the training thread (before
issue 30) against snapshots written in the background (:mod:`kdemo.training.checkpoint_writer`, now).

Usage:
    python -m bench.checkpoint_cost [--models tiny minilm] [--rows 8000] [--epochs 2] [--repeats 1]

For each model, three ``fit_onecycle(lr, epochs)`` runs from the same initial weights, at batch 32:
no ``checkpoint_folder`` (the epoch's own time), a checkpoint folder with ``learner.async_checkpoints = False``
(before: every save on the training thread) and with the default background writer (after). Each checkpointed run
writes ktrain's ``epoch-N`` weights and the resume checkpoint after every epoch (and every ``checkpoint_every_s``
seconds inside one). ``checkpoint s/epoch`` is ``(fit seconds - fit seconds without a checkpoint) / epochs``, the
time the checkpoints add to training; ``fraction`` divides it by the seconds of one epoch without checkpoints.

Models: ``tiny`` is the random-init 2-layer, 32-dim BERT of ``bench.loop_overhead`` on random token rows;
``minilm`` is the embedded all-MiniLM-L6-v2 on the first ``--rows`` rows of SST-2 (seed 0), maxlen 64.
Run on an idle machine; ``--rows 64 --epochs 1`` checks that the script works.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
from bench.common import load_sst2, machine, median, print_table, write_json
from bench.loop_overhead import random_dataset, tiny_model_folder
from kdemo.modeling.classifier import resolve_model_source
from kdemo.text.preprocessor import Transformer
from kdemo.training.learner import get_learner

BATCH = 32
MODES = ("none", "before (sync)", "after (async)")


def _data(name: str, rows: int, root: Path):
    """``(source, preprocessor, train data)`` of a model."""
    if name == "tiny":
        source = tiny_model_folder(root / "tiny")
        return source, None, random_dataset(rows, 1000)
    train, _ = load_sst2(rows)
    preproc = Transformer(resolve_model_source(None), maxlen=64)
    return preproc.source, preproc, preproc.preprocess_train(train.text.tolist(), train.label.astype(str).tolist(), verbose=0)


def _one_fit(source: str, preproc, data, mode: str, epochs: int, lr: float, folder: Path) -> float:
    from kdemo.modeling.classifier import HFClassifier, load_sequence_classifier

    torch.manual_seed(0)
    if preproc is not None:
        model = preproc.get_classifier()
    else:
        model = HFClassifier(load_sequence_classifier(source, ["a", "b"]), precision="fp32")
    learner = get_learner(model, train_data=data, batch_size=BATCH)
    learner.async_checkpoints = mode != "before (sync)"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    learner.fit_onecycle(lr, epochs, verbose=0, checkpoint_folder=None if mode == "none" else str(folder))
    return time.perf_counter() - start


def run_model(name: str, rows: int, epochs: int, repeats: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, preproc, data = _data(name, rows, root)
        lr = 1e-3 if name == "tiny" else 1e-4
        seconds = {mode: [] for mode in MODES}
        for _ in range(repeats):  # interleaved, so that drift hits every mode alike
            for mode in MODES:
                seconds[mode].append(_one_fit(source, preproc, data, mode, epochs, lr, root / "ckpt"))
    base = median(seconds["none"])
    epoch_s = base / epochs
    rows_out = []
    for mode in MODES:
        fit_s = median(seconds[mode])
        extra = max(0.0, fit_s - base) / epochs
        rows_out.append({"model": name, "mode": mode, "fit s": fit_s, "epoch s": fit_s / epochs,
                         "checkpoint s/epoch": extra if mode != "none" else 0.0,
                         "fraction of an epoch": extra / epoch_s if mode != "none" else 0.0})
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "minilm"], choices=["tiny", "minilm"])
    parser.add_argument("--rows", type=int, default=8000, help="training rows (SST-2 for minilm, random for tiny)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for name in args.models:
        rows.extend(run_model(name, args.rows, args.epochs, args.repeats))
    print_table(rows, ["model", "mode", "fit s", "epoch s", "checkpoint s/epoch", "fraction of an epoch"])
    path = write_json("checkpoint_cost", {"machine": machine(), "args": vars(args), "rows": rows})
    print(f"written: {path}")


if __name__ == "__main__":
    main()
