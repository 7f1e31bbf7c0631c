"""Prediction speed: kdemo's Predictor vs ``transformers.pipeline`` on the same saved model (SST-2 test file).

Usage:
    python -m bench.predict [--single 200] [--repeats 3] [--batch 64]

A predictor folder is saved from all-MiniLM-L6-v2 with a 2-class head (random head: speed does not depend on
training); both systems load that folder. Single-text latency: p50/p95 over ``--single`` texts one at a time.
File throughput: all 872 SST-2 test texts; kdemo sorts by length and batches, pipeline uses ``batch_size``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import torch
import transformers

import kdemo
from bench.common import SHARED_DATA, machine, print_table, write_json


def _latencies(fn, texts) -> list[float]:
    out = []
    for t in texts:
        start = time.perf_counter()
        fn(t)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    texts = pd.read_csv(SHARED_DATA / "sst2" / "test.csv").text.tolist()
    torch.manual_seed(0)
    t = kdemo.Transformer(None, maxlen=128, class_names=["negative", "positive"])
    t.task = "single_label"
    folder = kdemo.get_predictor(t.get_classifier(), t).save(tempfile.mkdtemp() + "/model")
    ours = kdemo.load_predictor(folder, batch_size=args.batch)
    pipe = transformers.pipeline("text-classification", model=str(folder), truncation=True, top_k=None)
    singles = texts[: args.single]
    ours.predict_proba(texts[:8])
    pipe(texts[:8])
    rows = []
    for r in range(args.repeats):
        for name, single, many in (
            ("kdemo Predictor", ours.predict_proba, ours.predict_proba),
            ("transformers.pipeline", pipe, lambda xs: pipe(xs, batch_size=args.batch)),
        ):
            lat = _latencies(single, singles)
            start = time.perf_counter()
            many(texts)
            wall = time.perf_counter() - start
            rows.append({"repeat": r + 1, "system": name, "p50_ms": 1000 * statistics.median(lat),
                         "p95_ms": 1000 * float(np.percentile(lat, 95)), "file_texts_per_s": len(texts) / wall})
    med = lambda system, key: statistics.median(row[key] for row in rows if row["system"] == system)  # noqa: E731
    p50_ratio = med("kdemo Predictor", "p50_ms") / med("transformers.pipeline", "p50_ms")
    tput_ratio = med("kdemo Predictor", "file_texts_per_s") / med("transformers.pipeline", "file_texts_per_s")
    print(f"\nPredict on {len(texts)} SST-2 test texts; single-text latency over {len(singles)} texts; batch {args.batch}")
    print_table(rows, ["repeat", "system", "p50_ms", "p95_ms", "file_texts_per_s"])
    print(f"\np50 latency kdemo/pipeline: {p50_ratio:.3f} (goal <= 1.0); file throughput kdemo/pipeline: {tput_ratio:.2f}x (goal >= 1.5)")
    write_json("predict", {"machine": machine(), "args": vars(args), "rows": rows, "p50_ratio": p50_ratio, "throughput_ratio": tput_ratio})


if __name__ == "__main__":
    main()
