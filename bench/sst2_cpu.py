"""SST-2 on CPU: kdemo vs HF Trainer doing the same work (every layer trained), same rows, batch, epochs and LR.

Usage:
    python -m bench.sst2_cpu [--rows 8000] [--repeats 3] [--skip-trainer] [--no-freezing] [--compile] [--autotrain]
                             [--tracking]

Headline (issue 16): kdemo ``Transformer(None)`` (embedded all-MiniLM-L6-v2), ``get_learner(batch_size=32)``,
``fit_onecycle(1e-4, 1)`` training every layer (kdemo's default, ``freeze_lower=0``), against Trainer: same
checkpoint, batch 32, 1 epoch, lr 1e-4, 10 % warmup, dynamic padding (DataCollatorWithPadding),
``train_sampling_strategy="group_by_length"``, bf16 where the CPU has it. The runs alternate (kdemo, Trainer,
kdemo, ...) ``--repeats`` times in one process and the table shows the median training time of each; the
"freeze lower layers" option (``FAST_FREEZE_LOWER``, a third of the blocks and the embeddings frozen) is its own
row (less work, so not comparable with Trainer's time). ``--compile`` adds a row with ``torch.compile``
(``TrainConfig.compile``). All train without in-loop evaluation and are then evaluated on
``../shared/data/sst2/test.csv`` (872 rows). Training wall time excludes tokenization and model loading, which are
reported separately. Targets: kdemo (every layer) <= 1.0x Trainer's time at accuracy >= Trainer's - 1 pt.

``--tracking`` (issue 26) adds a row "kdemo + trackio": the same run with the
:class:`~kdemo.training.callbacks.tracking.TrackioTracker` that ``kdemo.train`` adds (every step's loss, lr, step
time and memory logged; the run closed with its final metrics inside the timed part), alternating with the plain
row, and prints the tracking cost in percent of the plain training time (issue 26: <= 1 %) two ways: the
difference of the median training times, and the seconds the tracker itself spent on the training thread
(``TrackioTracker.overhead_s``: trackio's import, run creation, per-step bookkeeping, hand-overs, finish). Its runs
go to ``TRACKIO_DIR`` (a temporary folder unless set).

``--fresh`` (on by default with ``--tracking``) runs every repeat of every system in a fresh interpreter, so no run
inherits another's warmed oneDNN kernels or allocator.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND)
from bench.common import REPO, load_sst2, machine, print_table, timer, write_json


def run_kdemo(train, test, lr: float, epochs: int, freeze_lower: float = 0.0, *, compile_step: bool = False,
              source: str | None = None, track: bool = False) -> dict:
    """kdemo's run (``source``: a model folder, default the embedded MiniLM; ``track``: logged to trackio as
    ``kdemo.train`` does); times in seconds."""
    from kdemo import Transformer, get_learner

    label = "every layer" if not freeze_lower else f"freeze_lower={freeze_lower:.2g}"
    out: dict = {"system": f"kdemo (fit_onecycle, {label}{', compiled' if compile_step else ''}"
                           f"{', + trackio' if track else ''})"}
    torch.manual_seed(0)
    with timer(out, "prep_s"):
        t = Transformer(source, maxlen=128)
        trn = t.preprocess_train(train.text.tolist(), train.label.tolist(), verbose=0)
        val = t.preprocess_test(test.text.tolist(), test.label.tolist(), verbose=0)
        model = t.get_classifier()
        learner = get_learner(model, train_data=trn, batch_size=32, freeze_lower=freeze_lower)
        learner.model.set_compile(compile_step)
    tracker = None
    if track:
        from kdemo.training.callbacks.tracking import TrackioTracker

        tracker = TrackioTracker("kdemo-bench", config={"lr": lr, "epochs": epochs, "rows": len(train)})
    with timer(out, "train_s"):
        learner.fit_onecycle(lr, epochs, verbose=0, callbacks=[tracker] if tracker else None)
        if tracker is not None:
            tracker.finish({"steps": len(learner.step_losses)})  # the run's end is part of its cost
    if tracker is not None:
        out["tracker_overhead_s"] = tracker.overhead_s
    with timer(out, "eval_s"):
        report = learner.validation_report(val_data=val)
    batches = learner._train_batches()
    real, padded = batches.padded_tokens()
    out.update(dev_acc=report.accuracy, samples_per_s=len(train) * epochs / out["train_s"], padded_tokens=padded, real_tokens=real)
    return out


def run_trainer(train, test, lr: float, epochs: int, *, autotrain: bool = False, source: str | None = None) -> dict:
    """HF Trainer with its speed features, or (``autotrain=True``) AutoTrain Advanced's text-classification
    defaults: every text padded to 128 tokens, batch 8, lr 5e-5, 10 % warmup, random order."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from kdemo.device import cpu_has_bf16
    from kdemo.modeling.classifier import resolve_model_source

    cuda = torch.cuda.is_available()
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16()
    out: dict = {"system": "AutoTrain defaults (pad 128, batch 8, lr 5e-5)" if autotrain else "HF Trainer (group_by_length, dyn. padding, bf16)"}
    batch = 8 if autotrain else 32
    lr = 5e-5 if autotrain else lr
    torch.manual_seed(0)
    names = sorted(train.label.unique())
    with timer(out, "prep_s"):
        src = resolve_model_source(source)
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForSequenceClassification.from_pretrained(
            src, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
        )

        def encode(df):
            enc = tok(df.text.tolist(), truncation=True, max_length=128, padding="max_length" if autotrain else False)
            return [{"input_ids": ids, "attention_mask": m, "labels": names.index(y)}
                    for ids, m, y in zip(enc["input_ids"], enc["attention_mask"], df.label)]

        trn, tst = encode(train), encode(test)
        common = {"output_dir": tempfile.mkdtemp(), "per_device_train_batch_size": batch, "per_device_eval_batch_size": 64,
                  "num_train_epochs": epochs, "learning_rate": lr, "bf16": bf16, "use_cpu": not cuda, "report_to": [],
                  "save_strategy": "no", "eval_strategy": "no", "logging_steps": 50, "seed": 0, "disable_tqdm": True}
        try:  # transformers >= 5.2x
            args = TrainingArguments(**common, warmup_steps=0.1,
                                     train_sampling_strategy="random" if autotrain else "group_by_length")
        except TypeError:  # older 5.x (e.g. the GPU machine's image): the same settings under their older names
            args = TrainingArguments(**common, warmup_ratio=0.1, group_by_length=not autotrain)
        trainer = Trainer(model=model, args=args, train_dataset=trn, data_collator=DataCollatorWithPadding(tok))
    with timer(out, "train_s"):
        trainer.train()
    with timer(out, "eval_s"):
        pred = trainer.predict(tst)
    acc = float((np.argmax(pred.predictions, axis=1) == pred.label_ids).mean())
    padded = sum(len(x["input_ids"]) for x in trn)
    out.update(dev_acc=acc, samples_per_s=len(train) * epochs / out["train_s"], padded_tokens=padded if autotrain else None)
    return out


def _spawn(name: str, args) -> dict:
    """One run of system ``name`` in a fresh interpreter (same options); its result dict."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / f"{name}.json"
        cmd = [sys.executable, "-m", "bench.sst2_cpu", "--worker", name, "--result", str(result), "--rows",
               str(args.rows), "--epochs", str(args.epochs), "--lr", repr(args.lr)]
        cmd += ["--tracking"] if name == "tracked" else []
        cmd += ["--compile"] if name == "compiled" else []
        cmd += ["--skip-trainer"] if name != "trainer" else []
        cmd += ["--no-freezing"] if name != "freezing" else []
        proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ))
        if proc.returncode != 0 or not result.exists():
            raise SystemExit(f"The {name} run failed (exit code {proc.returncode}); its traceback is above.")
        return json.loads(result.read_text(encoding="utf-8"))


def _median_rows(runs: list[dict]) -> dict:
    """One row per system: the first run's fields with the median times and accuracy over the repeats."""
    row = dict(runs[0])
    for key in ("train_s", "prep_s", "eval_s", "dev_acc", "samples_per_s", "tracker_overhead_s"):
        if all(r.get(key) is not None for r in runs):
            row[key] = statistics.median(r[key] for r in runs)
    row["train_s_runs"] = [round(r["train_s"], 2) for r in runs]
    return row


def main() -> None:
    from kdemo.training.learner import FAST_FREEZE_LOWER

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each system; medians are shown")
    parser.add_argument("--skip-trainer", action="store_true")
    parser.add_argument("--no-freezing", action="store_true", help="leave out the freeze-lower-layers row")
    parser.add_argument("--compile", action="store_true", help="add a row with kdemo's compiled step")
    parser.add_argument("--autotrain", action="store_true", help="also run AutoTrain's defaults once (slow: ~80 s per 1,000 rows on 2 cores)")
    parser.add_argument("--tracking", action="store_true",
                        help="add a 'kdemo + trackio' row (the tracking callback of kdemo.train) and print its cost")
    parser.add_argument("--fresh", action="store_true",
                        help="run every repeat of every system in a fresh interpreter (default with --tracking)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tracking:
        os.environ.setdefault("TRACKIO_DIR", tempfile.mkdtemp(prefix="bench-trackio-"))
        args.fresh = True
    train, test = load_sst2(args.rows)
    systems = {"kdemo": lambda: run_kdemo(train, test, args.lr, args.epochs)}
    if not args.skip_trainer:
        systems["trainer"] = lambda: run_trainer(train, test, args.lr, args.epochs)
    if not args.no_freezing:
        systems["freezing"] = lambda: run_kdemo(train, test, args.lr, args.epochs, FAST_FREEZE_LOWER)
    if args.tracking:
        systems["tracked"] = lambda: run_kdemo(train, test, args.lr, args.epochs, track=True)
    if args.compile:
        systems["compiled"] = lambda: run_kdemo(train, test, args.lr, args.epochs, compile_step=True)
    if args.worker is not None:  # one run in this fresh interpreter
        Path(args.result).write_text(json.dumps(systems[args.worker](), default=str), encoding="utf-8")
        return
    runs: dict[str, list[dict]] = {name: [] for name in systems}
    for r in range(args.repeats):
        for name, fn in systems.items():
            runs[name].append(_spawn(name, args) if args.fresh else fn())
            print(f"  repeat {r + 1} {name}: {runs[name][-1]['train_s']:.1f} s, dev acc {runs[name][-1]['dev_acc']:.4f}", flush=True)
    rows = {name: _median_rows(v) for name, v in runs.items()}
    if args.autotrain:
        rows["autotrain"] = run_trainer(train, test, args.lr, args.epochs, autotrain=True)
    if "trainer" in rows:
        for row in rows.values():
            row["time_vs_trainer"] = row["train_s"] / rows["trainer"]["train_s"]
            row["acc_vs_trainer_pts"] = 100 * (row["dev_acc"] - rows["trainer"]["dev_acc"])
    print(f"\nSST-2, {args.rows} training rows, {args.epochs} epoch(s), batch 32, lr {args.lr}; dev = {len(test)} rows; "
          f"medians of {args.repeats} alternating runs")
    print_table(list(rows.values()), ["system", "train_s", "samples_per_s", "dev_acc", "time_vs_trainer", "acc_vs_trainer_pts",
                                      "prep_s", "eval_s", "padded_tokens"])
    if "trainer" in rows:
        k, t = rows["kdemo"], rows["trainer"]
        print(f"\nkdemo (every layer) / Trainer training time: {k['time_vs_trainer']:.3f} (issue 16: <= 1.0)")
        print(f"kdemo dev accuracy: {k['dev_acc']:.4f}; Trainer: {t['dev_acc']:.4f} (issue 16: kdemo >= Trainer - 0.01)")
    if "freezing" in rows:
        f, k = rows["freezing"], rows["kdemo"]
        print(f"freeze lower layers: {f['train_s'] / k['train_s']:.2f}x the time of every layer, "
              f"{100 * (f['dev_acc'] - k['dev_acc']):+.1f} pt accuracy")
    if "tracked" in rows:
        cost = 100 * (rows["tracked"]["train_s"] / rows["kdemo"]["train_s"] - 1)
        paired = statistics.median(100 * (t["train_s"] / k["train_s"] - 1) for k, t in zip(runs["kdemo"], runs["tracked"]))
        own = 100 * rows["tracked"]["tracker_overhead_s"] / rows["kdemo"]["train_s"]
        rows["tracked"].update(cost_pct_medians=cost, cost_pct_paired_median=paired, cost_pct_tracker_thread=own)
        print(f"tracking (trackio) cost (issue 26: <= 1 %): medians {cost:+.2f} %, median of the paired differences "
              f"{paired:+.2f} %, the tracker's own time on the training thread {own:.2f} % "
              f"({rows['tracked']['tracker_overhead_s']:.2f} s); per-repeat pairs: "
              f"{list(zip(rows['kdemo']['train_s_runs'], rows['tracked']['train_s_runs']))}")
    name = f"sst2_cpu_{args.rows}" + ("_tracking" if args.tracking and args.skip_trainer and args.no_freezing else "")
    path = write_json(name, {"machine": machine(), "args": vars(args), "rows": list(rows.values()),
                                               "runs": runs})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
