"""Shared helpers of the benchmark scripts: data paths, the SST-2 slice, timing and table printing."""

from __future__ import annotations

import json
import platform
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def load_sst2(n_train: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n_train`` rows of ``../shared/data/sst2/train.csv`` shuffled with ``seed``, and the full test file."""
    root = SHARED_DATA / "sst2"
    if not (root / "train.csv").exists():
        raise SystemExit(f"SST-2 not found at {root}. The benchmarks expect ../shared/data beside the repo.")
    train = pd.read_csv(root / "train.csv").sample(frac=1.0, random_state=seed).head(n_train).reset_index(drop=True)
    test = pd.read_csv(root / "test.csv")
    return train, test


@contextmanager
def timer(out: dict, key: str):
    """Store the wall time of the block in ``out[key]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        out[key] = time.perf_counter() - start


def machine() -> dict:
    """Versions and hardware facts recorded with every result."""
    import keras
    import torch
    import transformers

    import kdemo  # noqa: F401  (sets KERAS_BACKEND=torch before Keras is imported)
    from kdemo.device import describe_device

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "keras": keras.__version__,
        "device": describe_device(),
        "cpu": platform.processor() or platform.machine(),
    }


def median(values) -> float:
    return float(statistics.median(values))


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Print ``rows`` as an aligned text table with the given columns."""
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
