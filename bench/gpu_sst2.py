"""One full SST-2 epoch on a GPU: kdemo vs HF Trainer vs a plain PyTorch loop, bf16, same work (every layer).

Usage (normally through ``bench/gpu_run.sh`` in one ``device`` call):
    python -m bench.gpu_sst2 --model .gpu/minilm --data .gpu/sst2 --json $OUT/gpu_sst2.json [--rows 0]

Each system trains all-MiniLM-L6-v2 (the folder given) for 1 epoch on the training rows (``--rows 0``: all
67,349), batch 32, peak lr 1e-4 with 10 % warmup, global gradient clipping at 1.0, fused AdamW, dynamic padding
with length-grouped batches, bf16 autocast; then it is scored on the 872-row dev split. kdemo:
``fit_onecycle`` (:mod:`bench.sst2_cpu`'s run); Trainer: group_by_length, ``DataCollatorWithPadding``; the plain
loop: :func:`bench.loop_overhead.plain_fit` over kdemo's own batches (one ``loss.item()`` per step). Reported:
training seconds, samples/s and dev accuracy. The GPU is warmed up first (a short fit of each) so that CUDA
context and kernel selection are not timed. ``kdemo_compiled`` (``TrainConfig.compile``) is not warmed up: its
figure includes the compilation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND)
from bench.common import machine, print_table
from bench.loop_overhead import plain_fit
from bench.sst2_cpu import run_kdemo, run_trainer


def run_plain(train: pd.DataFrame, test: pd.DataFrame, source: str, lr: float) -> dict:
    """The plain PyTorch loop on kdemo's tokenization and batches; dev accuracy by argmax."""
    from kdemo import Transformer
    from kdemo.data.dataset import BatchSequence
    from kdemo.device import get_device, resolve_precision

    torch.manual_seed(0)
    t = Transformer(source, maxlen=128)
    trn = t.preprocess_train(train.text.tolist(), train.label.tolist(), verbose=0)
    val = t.preprocess_test(test.text.tolist(), test.label.tolist(), verbose=0)
    seconds, _, model, _ = plain_fit(source, trn, resolve_precision("auto"), lr_peak=lr, batch=32, class_names=t.get_classes())
    device, correct = get_device(), 0
    with torch.no_grad():
        for i in range(len(BatchSequence(val, 64, shuffle=False))):
            inputs, labels = BatchSequence(val, 64, shuffle=False)[i]
            logits = model(**{k: torch.from_numpy(v).to(device) for k, v in inputs.items()}).logits
            correct += int((logits.argmax(-1).cpu().numpy() == labels).sum())
    return {"system": "plain PyTorch loop (fused AdamW, one-cycle, clip 1.0)", "train_s": seconds,
            "samples_per_s": len(train) / seconds, "dev_acc": correct / len(test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="all-MiniLM-L6-v2 folder")
    parser.add_argument("--data", required=True, help="folder with SST-2 train.csv and test.csv")
    parser.add_argument("--rows", type=int, default=0, help="training rows (0: all)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--systems", nargs="+", default=["kdemo", "trainer", "plain"],
                        choices=["kdemo", "trainer", "plain", "kdemo_compiled"])
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    train = pd.read_csv(Path(args.data) / "train.csv").sample(frac=1.0, random_state=0).reset_index(drop=True)
    if args.rows:
        train = train.head(args.rows)
    test = pd.read_csv(Path(args.data) / "test.csv")
    runners = {"kdemo": lambda df: run_kdemo(df, test, args.lr, 1, source=args.model),
               "trainer": lambda df: run_trainer(df, test, args.lr, 1, source=args.model),
               "plain": lambda df: run_plain(df, test, args.model, args.lr),
               "kdemo_compiled": lambda df: run_kdemo(df, test, args.lr, 1, source=args.model, compile_step=True)}
    start = time.perf_counter()
    for name in args.systems:  # warm-up: CUDA context, cuBLAS/SDPA kernel choice, imports (not the compiled run:
        if name != "kdemo_compiled":  # its compile time belongs to its figure)
            runners[name](train.head(640))
    print(f"warm-up took {time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    for name in args.systems:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        rows.append({"name": name, **runners[name](train)})
        print(f"  {name}: {rows[-1]['train_s']:.1f} s, {rows[-1]['samples_per_s']:.0f} samples/s, "
              f"dev acc {rows[-1]['dev_acc']:.4f}", flush=True)
        _write(args, rows)  # after each system, so a time-out keeps what finished
    base = {r["name"]: r for r in rows}
    for row in rows:
        for other in ("trainer", "plain"):
            if other in base:
                row[f"time_vs_{other}"] = row["train_s"] / base[other]["train_s"]
    print(f"\nSST-2 full epoch ({len(train)} rows), batch 32, bf16, on {torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}")
    print_table(rows, ["name", "train_s", "samples_per_s", "dev_acc", "time_vs_trainer", "time_vs_plain"])
    _write(args, rows)


def _write(args, rows: list[dict]) -> None:
    Path(args.json).write_text(json.dumps({"machine": machine(), "args": vars(args), "rows": rows}, indent=2,
                                          default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


if __name__ == "__main__":
    main()
