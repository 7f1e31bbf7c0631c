"""App cold start: seconds from ``python app.py`` to HTTP 200 on the page, and the server's idle RSS.

Usage:
    python -m bench.startup [--repeats 3] [--port 7899]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request

from bench.common import REPO, machine, print_table, write_json


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_start(port: int, timeout_s: float = 180.0) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if time.perf_counter() - start > timeout_s:
                raise SystemExit("app did not answer within the timeout")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        ready = time.perf_counter() - start
        time.sleep(3.0)  # idle
        return {"cold_start_s": ready, "idle_rss_mib": _rss_mib(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=7899)
    args = parser.parse_args()
    rows = [{"repeat": i + 1, **one_start(args.port)} for i in range(args.repeats)]
    print_table(rows, ["repeat", "cold_start_s", "idle_rss_mib"])
    summary = {k: statistics.median(r[k] for r in rows) for k in ("cold_start_s", "idle_rss_mib")}
    print(f"\nmedian cold start to HTTP 200: {summary['cold_start_s']:.1f} s; idle RSS {summary['idle_rss_mib']:.0f} MiB")
    write_json("startup", {"machine": machine(), "rows": rows, "median": summary})


if __name__ == "__main__":
    main()
