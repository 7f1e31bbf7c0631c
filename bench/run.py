"""Run the benchmark suite back to back, each script in its own process (so none shares the CPU with another).

Usage:
    python -m bench.run [step loop predict startup sst2 sst2-8000 attention parity freezing] [--autotrain]

Each script prints its own side-by-side table with ratios and writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import REPO

SUITE = {
    "step": ["bench.step_overhead"],
    "loop": ["bench.loop_overhead"],
    "predict": ["bench.predict"],
    "startup": ["bench.startup"],
    "sst2": ["bench.sst2_cpu", "--rows", "4000"],
    "sst2-8000": ["bench.sst2_cpu", "--rows", "8000"],
    "attention": ["bench.attention"],
    "parity": ["bench.parity", "all"],
    "freezing": ["bench.freezing"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["step", "loop", "predict", "startup", "sst2-8000"], choices=[*SUITE, []])
    parser.add_argument("--autotrain", action="store_true", help="add AutoTrain's defaults to the SST-2 runs")
    args = parser.parse_args()
    for name in args.names:
        cmd = [sys.executable, "-m", *SUITE[name]]
        if args.autotrain and name.startswith("sst2"):
            cmd.append("--autotrain")
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True)
        print(f"=== {name} took {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
