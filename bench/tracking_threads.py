"""CPU seconds that tracking a run costs, counted per thread (issue 26): the tracker on the training thread and
trackio's own background threads, for the step count and pace of ``python -m bench.sst2_cpu --rows 8000``.

Usage:
    python -m bench.tracking_threads [--steps 250] [--step-s 0.32] [--flush-every-s 10]

The whole-run A/B of ``bench.sst2_cpu --tracking`` compares two ~80 s trainings whose run-to-run spread on a
2-core VM is several percent, far more than the cost it looks for. This bench measures the cost directly: a real
:class:`~kdemo.training.callbacks.tracking.TrackioTracker` logs ``--steps`` optimizer steps (loss, lr, step time,
memory) ``--step-s`` seconds apart (the training step is replaced by a sleep, so nothing competes with it), then
finishes the run; the process's CPU time (every thread, ended ones included) minus the training thread's own is
trackio's threads' CPU time. Printed:
trackio's threads' CPU seconds, the tracker's own time on the training thread (``overhead_s``: trackio's import,
run creation, per-step bookkeeping, hand-overs, finish), and their sum in percent of ``steps * step_s`` (the
training time they would share the cores with). Linux only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.common import machine, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250, help="optimizer steps (SST-2 8,000 rows / batch 32)")
    parser.add_argument("--step-s", type=float, default=0.32, help="seconds per step (80 s / 250 steps)")
    parser.add_argument("--flush-every-s", type=float, default=10.0, help="the tracker's hand-over interval")
    args = parser.parse_args()
    os.environ.setdefault("TRACKIO_DIR", tempfile.mkdtemp(prefix="bench-trackio-"))
    import kdemo  # noqa: F401  (imported before the count: the training process has it already)

    process0, thread0 = time.process_time(), time.thread_time()
    from kdemo.training.callbacks.tracking import TrackioTracker

    tracker = TrackioTracker("kdemo-bench-threads", config={"steps": args.steps}, flush_every_s=args.flush_every_s)
    with tracker._timed():
        tracker._open_run()
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        with tracker._timed():  # what on_train_batch_end does once ProgressReporter has the step's loss
            tracker._pending.append(({"train/loss": 1.0 / step, "train/lr": 1e-4, "train/step_time_s": args.step_s,
                                      "train/memory_mb": 900.0}, step))
            if time.perf_counter() - tracker._last_flush >= tracker.flush_every_s:
                tracker._flush()
        time.sleep(args.step_s)
    tracker.finish({"accuracy": 0.85})
    wall = time.perf_counter() - started
    background = (time.process_time() - process0) - (time.thread_time() - thread0)
    own = tracker.overhead_s
    share = 100 * (background + own) / (args.steps * args.step_s)
    print(f"{args.steps} steps, {args.step_s} s apart ({wall:.1f} s), hand-over every {args.flush_every_s} s:")
    print(f"  trackio's threads: {background:.3f} CPU s; the tracker on the training thread: {own:.3f} s "
          f"(import and run creation included)")
    print(f"  tracking costs {share:.2f} % of the training time (issue 26: <= 1 %)")
    path = write_json(f"tracking_threads_flush{args.flush_every_s:g}", {"machine": machine(), "args": vars(args), "background_cpu_s": background,
                                           "tracker_overhead_s": own, "cost_pct": share, "wall_s": wall})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
