"""Data parallelism on CPU: the same run in 1 process and in N torchrun processes (gloo), one thread each.

Usage:
    python -m bench.ddp_cpu [--rows 2000] [--nproc 2] [--batch-size 32] [--maxlen 64] [--model ID_OR_DIR]

Both runs are ``python -m kdemo train`` on the first ``--rows`` rows of SST-2 (seed 0) with the same global batch,
one epoch, fp32, ``OMP_NUM_THREADS=1`` per process; the N-process run is ``torchrun --standalone
--nproc_per_node=N``. Prints the wall time of each command (start-up included), the fit time (rank 0's last
progress event) and the speed-ups, plus the largest weight difference between the two saved models. Needs N idle
cores: on a shared 2-core machine the numbers mean nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, load_sst2, machine, print_table, write_json
from kdemo.distributed.launch import parse_progress_line


def _run(cmd: list[str], cwd: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    events = [e for e in map(parse_progress_line, proc.stdout.splitlines()) if e]
    fit = max((e["elapsed_s"] for e in events), default=float("nan"))
    return {"wall_s": wall, "fit_s": fit, "steps": max((e["step"] for e in events), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--maxlen", type=int, default=64)
    parser.add_argument("--model", default=None, help="Hub id or folder (default: the embedded MiniLM)")
    args = parser.parse_args()
    from safetensors.numpy import load_file

    train, _ = load_sst2(args.rows)
    with tempfile.TemporaryDirectory(prefix="kdemo-ddp-bench-") as tmp:
        tmp = Path(tmp)
        train.to_csv(tmp / "train.csv", index=False)
        common = ["-m", "kdemo", "train", str(tmp / "train.csv"), "--text-column", "text", "--label-column", "label",
                  "--batch-size", str(args.batch_size), "--maxlen", str(args.maxlen), "--precision", "fp32",
                  "--epochs", "1", "--progress-jsonl"] + (["--model", args.model] if args.model else [])
        one = _run([sys.executable, *common, "--out", str(tmp / "one")], tmp)
        many = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                     *common, "--out", str(tmp / "many")], tmp)
        a, b = load_file(tmp / "one" / "model.safetensors"), load_file(tmp / "many" / "model.safetensors")
        diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    rows = [{"processes": 1, **one}, {"processes": args.nproc, **many}]
    rows[1]["wall_speedup"] = one["wall_s"] / many["wall_s"]
    rows[1]["fit_speedup"] = one["fit_s"] / many["fit_s"]
    print_table(rows, ["processes", "steps", "wall_s", "fit_s", "wall_speedup", "fit_speedup"])
    print(f"max |weight difference| between the two models: {diff:.2e}")
    payload = {"machine": machine(), "rows": rows, "settings": vars(args), "max_weight_diff": diff}
    print(f"wrote {write_json('ddp_cpu', payload)}")


if __name__ == "__main__":
    main()
