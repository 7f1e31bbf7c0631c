"""Soak: ten trainings one after another in one server process; memory must not grow, the disk must come back.

Usage:
    python -m bench.soak [--trainings 10] [--rows 400] [--model MODEL] [--epochs 1]

Starts the app in this process (so that it can count live objects), opens one API session, uploads ``--rows``
SST-2 rows and trains ``--trainings`` times in a row (each run replaces the session's model, as a user who
retrains does), with a ``/predict`` and an ``/attention`` call after each. After each training it records the
process's RSS (after ``gc.collect()`` and glibc's ``malloc_trim``, so that freed memory the allocator kept does
not count), the live transformers models, Keras models and matplotlib figures, and the session folder's size.
Then every session is expired (a sweep "in the future", as the idle timeout would) and it checks that their
folders are gone and their models freed. Acceptance (issue 15): RSS after the last training within +10 % of
after the first. Writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import tempfile
import time
from pathlib import Path

from bench.common import SHARED_DATA, machine, print_table, write_json


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _settle() -> float:
    """Collect garbage, hand freed heap back to the OS (glibc), and return the RSS in MiB."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: the RSS then includes freed memory the allocator keeps
        pass
    return _rss_mib()


def live_objects() -> dict[str, int]:
    """Counts of live heavy objects: transformers models, Keras models, matplotlib figures, kdemo predictors."""
    import keras
    import transformers
    from matplotlib.figure import Figure

    from kdemo.inference.predictor import Predictor

    kinds = {"hf_models": transformers.PreTrainedModel, "keras_models": keras.Model, "figures": Figure,
             "predictors": Predictor}
    counts = dict.fromkeys(kinds, 0)
    for obj in gc.get_objects():
        for name, cls in kinds.items():
            try:
                if isinstance(obj, cls):
                    counts[name] += 1
            except ReferenceError:  # a weak proxy whose referent is gone
                pass
    return counts


def _train(client, settings: tuple, timeout_s: float) -> tuple[str, float]:
    start = time.time()
    client.predict(*settings, api_name="/train")
    while True:
        status = client.predict(api_name="/training_status")[0]
        if status.startswith(("✅", "⏹️", "❌")):
            return status.splitlines()[0], time.time() - start
        if time.time() - start > timeout_s:
            raise SystemExit(f"training did not end within {timeout_s} s: {status[:200]}")
        time.sleep(0.5)


def soak(client, data_csv: Path, model: str, trainings: int, *, maxlen: int = 64, batch_size: int = 32,
         epochs: int = 1, lr: float = 1e-4, precision: str = "auto", timeout_s: float = 900.0) -> dict:
    """Train ``trainings`` times in one session of a running app and record memory, objects and disk.

    Args:
        client: A ``gradio_client.Client`` of an app running in this process.
        data_csv: Labelled CSV (``text``, ``label``) uploaded once.
        model: Hub id or local folder of the checkpoint to fine-tune.
        trainings: Trainings in a row.
        maxlen, batch_size, epochs, lr, precision: Train-tab settings (lr per optimizer step at the peak).
        timeout_s: Seconds one training may take.

    Returns:
        ``{"rows": [one dict per training], "after_expiry": {...}, "rss_growth": fraction 0-1 (last vs first)}``.
    """
    from gradio_client import handle_file

    from kdemo.ui.session import STORE, folder_bytes

    client.predict(handle_file(str(data_csv)), None, 0.2, api_name="/load_data")
    session = STORE.get(type("Request", (), {"session_hash": client.session_hash})())
    settings = (model, maxlen, batch_size, lr, epochs, precision, 0.2, False)
    rows = []
    for i in range(trainings):
        status, seconds = _train(client, settings, timeout_s)
        if not status.startswith("✅"):
            raise SystemExit(f"training {i + 1} did not finish: {status}")
        client.predict("a gorgeous, witty movie", "", api_name="/predict")
        client.predict("a gorgeous, witty movie", 1, 1, api_name="/attention")
        rows.append({"training": i + 1, "train_s": seconds, "rss_mib": _settle(), **live_objects(),
                     "session_mib": folder_bytes(session.workdir) / 2**20})
        print(f"  training {i + 1}: {rows[-1]['rss_mib']:.0f} MiB, {rows[-1]['hf_models']} models", flush=True)
    workdirs = [s.workdir for s in list(STORE._sessions.values())]
    removed = STORE.sweep(time.time() + 10**7, force=True)  # as if the idle timeout had passed for every session
    session = None
    after = {"sessions_removed": removed, "folders_left": sum(Path(w).exists() for w in workdirs),
             "rss_mib": _settle(), **live_objects()}
    growth = rows[-1]["rss_mib"] / rows[0]["rss_mib"] - 1 if rows else 0.0
    return {"rows": rows, "after_expiry": after, "rss_growth": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=10)
    parser.add_argument("--rows", type=int, default=400, help="SST-2 training rows uploaded")
    parser.add_argument("--model", default=None, help="checkpoint to fine-tune (default: the Train tab's default)")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import pandas as pd
    from gradio_client import Client

    from kdemo.modeling.classifier import DEFAULT_MODEL_ID
    from kdemo.ui import build_app

    work = Path(tempfile.mkdtemp(prefix="kdemo-soak-"))
    data = work / "sst2.csv"
    pd.read_csv(SHARED_DATA / "sst2" / "train.csv").sample(frac=1.0, random_state=0).head(args.rows).to_csv(data, index=False)
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    client = Client(url, verbose=False)
    try:
        out = soak(client, data, args.model or DEFAULT_MODEL_ID, args.trainings, epochs=args.epochs)
    finally:
        client.close()
        demo.close()
    print()
    print_table(out["rows"], ["training", "train_s", "rss_mib", "hf_models", "keras_models", "predictors", "figures",
                              "session_mib"])
    print(f"\nRSS after training {len(out['rows'])} vs after training 1: {100 * out['rss_growth']:+.1f} % (goal <= +10 %)")
    print(f"after expiry: {out['after_expiry']}")
    write_json("soak", {"machine": machine(), "args": vars(args), **out})


if __name__ == "__main__":
    main()
