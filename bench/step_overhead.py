"""Per-step cost of kdemo's Keras ``fit`` step vs a plain PyTorch loop with fused AdamW, same model and batch.

Usage:
    python -m bench.step_overhead [--batch 16] [--seq 64] [--steps 30] [--warmup 5] [--repeats 3] [--precision auto]

Both train all-MiniLM-L6-v2 (embedded) on the same fixed random batch of shape (batch, seq) with the same
precision (bf16 autocast where the CPU has it) and AdamW(fused). The runs are interleaved (kdemo, torch, kdemo, …)
so that machine noise hits both; the table shows the median ms/step of each repeat and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND)
from bench.common import machine, print_table, write_json
from kdemo.device import resolve_precision
from kdemo.modeling.classifier import HFClassifier, compile_classifier, load_sequence_classifier, resolve_model_source
from kdemo.training.optimizer import FusedAdamW


def _batch(batch: int, seq: int, vocab: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, vocab, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    return ids, np.ones_like(ids), rng.integers(0, 2, size=batch, dtype=np.int64)


class _Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._t)


class _Repeat(keras.utils.PyDataset):
    def __init__(self, x, y, n):
        super().__init__()
        self.x, self.y, self.n = x, y, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.x, self.y


def kdemo_steps(ids, mask, labels, steps: int, precision: str) -> list[float]:
    torch.manual_seed(0)
    hf = load_sequence_classifier(resolve_model_source(None), ["a", "b"])
    model = compile_classifier(HFClassifier(hf, precision=precision), FusedAdamW(learning_rate=1e-5))
    timer = _Timer()
    model.fit(_Repeat({"input_ids": ids, "attention_mask": mask}, labels, steps), epochs=1, verbose=0, callbacks=[timer])
    return timer.times


def torch_steps(ids, mask, labels, steps: int, precision: str) -> list[float]:
    torch.manual_seed(0)
    model = load_sequence_classifier(resolve_model_source(None), ["a", "b"]).train()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-5, fused=True)
    x = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    y = torch.from_numpy(labels)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(**x).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        loss.item()  # the same one host sync per step that Keras' logs make
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    precision = resolve_precision(args.precision)
    ids, mask, labels = _batch(args.batch, args.seq, 30522)
    rows = []
    for r in range(args.repeats):
        for name, fn in (("kdemo Keras fit + FusedAdamW", kdemo_steps), ("plain PyTorch + fused AdamW", torch_steps)):
            times = fn(ids, mask, labels, args.warmup + args.steps, precision)[args.warmup:]
            rows.append({"repeat": r + 1, "loop": name, "median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * float(np.percentile(times, 90))})
    medians = {name: statistics.median(r["median_ms"] for r in rows if r["loop"] == name) for name in {r["loop"] for r in rows}}
    ratio = medians["kdemo Keras fit + FusedAdamW"] / medians["plain PyTorch + fused AdamW"]
    for row in rows:
        row["ratio_vs_torch"] = row["median_ms"] / medians["plain PyTorch + fused AdamW"]
    print(f"\nStep overhead: batch {args.batch}, seq {args.seq}, {precision}, {args.steps} timed steps after {args.warmup} warm-up")
    print_table(rows, ["repeat", "loop", "median_ms", "p90_ms", "ratio_vs_torch"])
    print(f"\nkdemo / plain torch (median of medians): {ratio:.3f}  (goal <= 1.05, stretch 1.03)")
    write_json("step_overhead", {"machine": machine(), "args": vars(args), "rows": rows, "ratio": ratio})


if __name__ == "__main__":
    main()
