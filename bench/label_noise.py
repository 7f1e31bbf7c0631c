"""Planted label noise: how many flipped labels ``kdemo.find_label_issues`` finds, and what dropping its flags buys.

Usage:
    python -m bench.label_noise [--datasets sst2 ag_news] [--rows 4000] [--seeds 0 1 2] [--folds 5] [--epochs 2]
        [--maxlen 64] [--noise 0.05] [--test-rows N] [--threads T] [--oracle] [--quick] [--json OUT]

Issue 27, acceptance 1. For each dataset, ``--rows`` training rows of ``../shared/data/<name>/train.csv`` (shuffled
with seed 0, the same rows for every seed) and its clean test file (SST-2: ``test.csv`` = GLUE dev, 872 rows; AG
News: ``test.csv``, 7,600 rows; ``--test-rows`` keeps a seed-0 sample). For each seed s of ``--seeds``:
``--noise`` (5 %) of the training rows, drawn with seed s, get another class drawn uniformly from the other classes
(:func:`flip_labels`; the flipped rows are recorded in the JSON). Then, on the noisy rows:

(a) ``kdemo.find_label_issues(config, folds=K, train_df=noisy)`` (K-fold out-of-sample probabilities, cleanlab);
(b) ``kdemo.find_label_issues(config, data_map=True, train_df=noisy)`` (training dynamics, Swayamdipta et al. 2020);
    for each: precision and recall of the flagged rows (``is_issue``) against the flipped rows, and, ranking every
    row by ``label_quality``, the best precision at recall >= 0.5 and the average precision
    (:func:`detection_scores`, scikit-learn). Issue 27's goal: precision >= 0.6 at recall >= 0.5 with K-fold;
(c) the clean test accuracy of ``kdemo.train(config, train_df=noisy, val_df=test)`` (the noisy run) and of the same
    run on the noisy rows minus the rows flagged by (a), and minus those flagged by (b); ``--oracle`` adds the run on
    the original labels. The data map's own run is not reused as the noisy run: ``find_label_issues`` returns the
    table, not the model, so the noisy run is its own ``kdemo.train`` on every noisy row;
(d) wall seconds of each part (``find_s``: the whole ``find_label_issues`` call; ``train_s``: the whole
    ``kdemo.train`` call, including model loading and the per-epoch validation loss on the test rows).

Settings of every run (``TrainConfig``): the embedded all-MiniLM-L6-v2 (``--model`` for another), every layer
trained, batch 32, lr 1e-4, one-cycle, ``--epochs`` 2 (the data map needs >= 2), **maxlen 64** (``--maxlen``;
SST-2's texts are short, AG News' p95 is 45 words: a few are cut), seed s, no tracking. Each (dataset, seed) runs
in its own subprocess (OMP/MKL threads = ``--threads``, default the machine's cores) so its memory is released.
Results: the medians over the seeds, a printed table and ``bench/results/label_noise.json`` (every seed's figures,
flipped and flagged rows; rewritten after each (dataset, seed), with ``"complete": false`` until the end). This
is an accuracy bench: times are reported, not compared. ``--quick`` (600 rows, seed 0, 2 folds, 1,000 test rows,
written to ``label_noise_quick.json``) checks that it works.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import REPO, SHARED_DATA, machine, print_table, write_json

DATASETS = ("sst2", "ag_news")
FULL = {"rows": 4000, "seeds": [0, 1, 2], "folds": 5, "test_rows": None}
QUICK = {"rows": 600, "seeds": [0], "folds": 2, "test_rows": 1000}
MIN_RECALL = 0.5  # issue 27: precision >= 0.6 at recall >= 0.5 with K-fold
GOAL_PRECISION = 0.6
METHODS = {"kfold": "K-fold + cleanlab", "data_map": "data map"}
# Rough costs on the idle 2-core machine (bench/RESULTS.md: MiniLM, every layer, batch 32): seconds per 1,000
# training rows per epoch, per 1,000 predicted rows, per run (model load, tokenization) and per process (imports).
TRAIN_S_PER_1K = {"sst2": 6.0, "ag_news": 14.0}
PREDICT_S_PER_1K = {"sst2": 3.0, "ag_news": 8.0}
RUN_S, PROCESS_S = 10.0, 15.0
TEST_ROWS = {"sst2": 872, "ag_news": 7600}


# ---------------------------------------------------------------------------------------------------- pure helpers
def flip_labels(labels: Sequence[str], fraction: float, seed: int,
                classes: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Give ``round(fraction * n)`` rows, drawn with ``seed``, another class drawn uniformly from the other classes.

    Args:
        labels: The clean labels, shape (n,).
        fraction: Fraction 0-1 of the rows to flip.
        seed: Seed of ``numpy.random.default_rng`` (which rows, and their new classes).
        classes: The classes to draw from (default: those in ``labels``).

    Returns:
        ``(noisy, flipped)``: the labels with the flips, shape (n,) (object), and the flipped rows' 0-based
        positions, sorted, shape (round(fraction * n),).

    Raises:
        ValueError: If ``fraction`` is outside 0-1 or there are fewer than two classes.
    """
    clean = np.asarray(labels, dtype=object)
    names = sorted(set(clean.tolist())) if classes is None else list(classes)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"Expected a fraction between 0 and 1. Received: {fraction!r}.")
    if len(names) < 2:
        raise ValueError(f"Expected at least two classes to flip between. Received: {names!r}.")
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(clean), size=int(round(fraction * len(clean))), replace=False))
    noisy = clean.copy()
    for row in flipped:
        others = [c for c in names if c != clean[row]]
        noisy[row] = others[int(rng.integers(len(others)))]
    return noisy, flipped


def detection_scores(flipped: Sequence[int], table: pd.DataFrame, num_rows: int, *,
                     min_recall: float = MIN_RECALL) -> dict:
    """How well a :class:`~kdemo.run.label_issues.result.LabelIssues` table finds the flipped rows.

    Args:
        flipped: 0-based positions of the rows whose label was flipped.
        table: One row per training row with columns ``row`` (0-based), ``label_quality`` (lower = more likely
            mislabeled) and ``is_issue`` (bool).
        num_rows: Rows of the training table; ``table`` must hold each of ``0..num_rows-1`` once.
        min_recall: The recall the ranked precision is read at.

    Returns:
        ``flagged`` (rows with ``is_issue``), ``precision``, ``recall`` (of the flagged rows against the flipped
        ones; 0 when there are none), ``precision_at_recall`` (ranking the rows by ``label_quality``, the highest
        precision of a cut-off whose recall is >= ``min_recall``, scikit-learn's ``precision_recall_curve``),
        ``average_precision`` (``average_precision_score`` of the same ranking).

    Raises:
        ValueError: If ``table`` misses a row, repeats one, or no row was flipped.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, precision_score, recall_score

    rows = table["row"].to_numpy()
    if len(rows) != num_rows or set(rows.tolist()) != set(range(num_rows)):
        raise ValueError(f"Expected one table row for each of the {num_rows} training rows. Received: {len(rows)} "
                         f"rows, {len(set(rows.tolist()))} distinct.")
    truth = np.zeros(num_rows, dtype=bool)
    truth[np.asarray(flipped, dtype=int)] = True
    if not truth.any():
        raise ValueError("Expected at least one flipped row. Received: none; raise --rows or --noise.")
    ordered = table.set_index("row").sort_index()
    flagged = ordered["is_issue"].to_numpy(dtype=bool)
    suspicion = 1.0 - ordered["label_quality"].to_numpy(dtype=float)
    precision, recall, _ = precision_recall_curve(truth, suspicion)
    return {"flagged": int(flagged.sum()),
            "precision": float(precision_score(truth, flagged, zero_division=0.0)),
            "recall": float(recall_score(truth, flagged, zero_division=0.0)),
            "precision_at_recall": float(precision[recall >= min_recall].max()),
            "average_precision": float(average_precision_score(truth, suspicion))}


def estimate_seconds(dataset: str, *, rows: int, test_rows: int | None, epochs: int, folds: int, seeds: int,
                     oracle: bool = False) -> float:
    """A rough wall time (seconds) of one dataset on the idle 2-core machine, from the per-row costs above: K
    fold trainings on (K-1)/K of the rows, each predicting its held-out fold after every epoch and at the end; the
    data map's run (10 % held out); the noisy run and the two retrainings (``--oracle``: three), each validating on
    the test rows after every epoch and at the end; one process per seed."""
    train = TRAIN_S_PER_1K.get(dataset, 14.0) * epochs / 1000
    predict = PREDICT_S_PER_1K.get(dataset, 8.0) * (epochs + 1) / 1000
    tests = test_rows or TEST_ROWS.get(dataset, 1000)
    kfold = folds * (RUN_S + train * rows * (folds - 1) / folds + predict * rows / folds)
    data_map = RUN_S + train * rows + predict * rows * 0.1
    trainings = (4 if oracle else 3) * (RUN_S + train * rows + predict * tests)
    return seeds * (PROCESS_S + kfold + data_map + trainings)


def median_of_runs(runs: list[dict]) -> list[dict]:
    """The table's rows for one dataset: its noisy run, each method (median over the seeds of the detection
    figures, the seconds, the retrained accuracy and its per-seed change against the noisy run, in points; a
    retraining skipped because the flags held a whole class counts as missing, None when all are) and, when
    present, the oracle run."""
    def med(values) -> float | None:  # over the seeds that have the figure (a skipped retraining has none)
        present = [v for v in values if v is not None]
        return float(statistics.median(present)) if present else None

    noisy = med(r["noisy"]["accuracy"] for r in runs)
    base = {"dataset": runs[0]["dataset"], "seeds": len(runs), "flipped": med(r["flipped"] for r in runs)}
    table = [{**base, "method": "noisy run (no cleaning)", "test_acc": noisy,
              "train_s": med(r["noisy"]["seconds"] for r in runs)}]
    for key, name in METHODS.items():
        row = {**base, "method": name}
        for field in ("flagged", "precision", "recall", "precision_at_recall", "average_precision", "find_s",
                      "retrain_accuracy", "retrain_s"):
            row[field] = med(r[key][field] for r in runs)
        row["test_acc"] = row.pop("retrain_accuracy")
        row["train_s"] = row.pop("retrain_s")
        row["acc_change_pts"] = med(100 * (r[key]["retrain_accuracy"] - r["noisy"]["accuracy"]) for r in runs
                                    if r[key]["retrain_accuracy"] is not None)
        table.append(row)
    if all("oracle" in r for r in runs):
        table.append({**base, "method": "clean labels (oracle)", "test_acc": med(r["oracle"]["accuracy"] for r in runs),
                      "train_s": med(r["oracle"]["seconds"] for r in runs),
                      "acc_change_pts": med(100 * (r["oracle"]["accuracy"] - r["noisy"]["accuracy"]) for r in runs)})
    return table


# ---------------------------------------------------------------------------------------------------- one seed
def load_dataset(name: str, rows: int, test_rows: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rows`` training rows of ``../shared/data/<name>/train.csv`` (shuffled with seed 0) and its test file (all
    of it, or a seed-0 sample of ``test_rows``: AG News' test file is sorted by class), columns ``text, label``."""
    root = SHARED_DATA / name
    if not (root / "train.csv").exists():
        raise SystemExit(f"{name} not found at {root}. The benchmarks expect ../shared/data beside the repo.")
    train = pd.read_csv(root / "train.csv").sample(frac=1.0, random_state=0).head(rows).reset_index(drop=True)
    test = pd.read_csv(root / "test.csv")
    if test_rows is not None:
        test = test.sample(frac=1.0, random_state=0).head(test_rows).reset_index(drop=True)
    return train[["text", "label"]].astype(str), test[["text", "label"]].astype(str)


def run_seed(dataset: str, seed: int, args) -> dict:
    """Noise, both finders, the noisy run and the retrainings for one (dataset, seed); accuracies 0-1, seconds."""
    from kdemo import DEFAULT_MODEL_ID, TrainConfig, find_label_issues, train

    clean, test = load_dataset(dataset, args.rows, args.test_rows)
    labels, flipped = flip_labels(clean.label, args.noise, seed)
    noisy = clean.assign(label=labels.astype(str))
    config = TrainConfig(text_column="text", label_columns=("label",), task="single_label",
                         model_name=args.model or DEFAULT_MODEL_ID, maxlen=args.maxlen, batch_size=32,
                         epochs=args.epochs, lr=1e-4, schedule="one_cycle", freeze_lower=0.0, seed=seed, track=False)
    out: dict = {"dataset": dataset, "seed": seed, "rows": len(noisy), "test_rows": len(test),
                 "flipped": len(flipped), "flipped_rows": flipped.tolist(),
                 "classes": sorted(set(clean.label))}

    def fit(df: pd.DataFrame, what: str) -> dict:
        start = time.perf_counter()
        result = train(config, train_df=df.reset_index(drop=True), val_df=test)
        seconds = time.perf_counter() - start
        print(f"  {dataset} seed {seed} {what}: test accuracy {result.report.accuracy:.4f} ({len(df)} rows, "
              f"{seconds:.0f} s)", flush=True)
        return {"accuracy": float(result.report.accuracy), "seconds": seconds, "rows": len(df)}

    for key, options in (("kfold", {"folds": args.folds}), ("data_map", {"data_map": True})):
        start = time.perf_counter()
        issues = find_label_issues(config, train_df=noisy, **options)
        seconds = time.perf_counter() - start
        scores = detection_scores(flipped, issues.table, len(noisy))
        flagged = sorted(int(r) for r in issues.issues["row"])
        out[key] = {**scores, "find_s": seconds, "library_seconds": float(issues.seconds), "flagged_rows": flagged}
        print(f"  {dataset} seed {seed} {METHODS[key]}: {scores['flagged']} flagged, precision "
              f"{scores['precision']:.3f}, recall {scores['recall']:.3f}, precision at recall >= {MIN_RECALL} "
              f"{scores['precision_at_recall']:.3f} ({seconds:.0f} s)", flush=True)
    out["noisy"] = fit(noisy, "noisy run")
    for key in METHODS:
        rest = noisy.drop(index=out[key]["flagged_rows"])
        lost = sorted(set(noisy.label) - set(rest.label))
        if lost:  # a finder that flags a whole class (a tiny model's): no run can score that class's test rows
            out[key].update(retrain_accuracy=None, retrain_s=None, retrain_rows=len(rest),
                            retrain_skipped=f"dropping the flagged rows leaves no row of {lost}")
            print(f"  {dataset} seed {seed}: no retraining without the {METHODS[key]} flags: "
                  f"{out[key]['retrain_skipped']}", flush=True)
            continue
        kept = fit(rest, f"retrained without the {METHODS[key]} flags")
        out[key].update(retrain_accuracy=kept["accuracy"], retrain_s=kept["seconds"], retrain_rows=kept["rows"])
    if args.oracle:
        out["oracle"] = fit(clean, "clean labels (oracle)")
    return out


# ---------------------------------------------------------------------------------------------------- driver
def _worker(args) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()  # the per-run "Loading weights" bars and truncation notices would bury the lines
    hf_logging.disable_progress_bar()
    out = run_seed(args.worker, int(args.seed), args)
    Path(args.result).write_text(json.dumps(out, default=str), encoding="utf-8")


def _spawn(dataset: str, seed: int, args, tmp: Path) -> dict:
    """One (dataset, seed) in a fresh interpreter; its result dict."""
    result = tmp / f"{dataset}-{seed}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.label_noise", "--worker", dataset, "--seed", str(seed), "--result", str(result),
           "--rows", str(args.rows), "--folds", str(args.folds), "--epochs", str(args.epochs),
           "--maxlen", str(args.maxlen), "--noise", repr(args.noise), "--threads", str(args.threads)]
    cmd += ["--test-rows", str(args.test_rows)] if args.test_rows is not None else []
    cmd += ["--model", args.model] if args.model else []
    cmd += ["--oracle"] if args.oracle else []
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    if proc.returncode != 0 or not result.exists():
        raise SystemExit(f"{dataset} seed {seed} failed (exit code {proc.returncode}); its traceback is above.")
    return json.loads(result.read_text(encoding="utf-8"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--rows", type=int, default=None, help="training rows per dataset (default 4000; --quick 600)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="noise and training seeds (default 0 1 2)")
    parser.add_argument("--folds", type=int, default=None, help="K of the K-fold finder (default 5; --quick 2)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every training (the data map needs >= 2)")
    parser.add_argument("--maxlen", type=int, default=64, help="tokens per text (default 64)")
    parser.add_argument("--noise", type=float, default=0.05, help="fraction of training labels flipped (default 0.05)")
    parser.add_argument("--test-rows", type=int, default=None, help="a seed-0 sample of the test file (default: all)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads per run (default: the cores)")
    parser.add_argument("--model", default=None, help="model of every run (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--oracle", action="store_true", help="also train on the original (clean) labels")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 600 rows, seed 0, 2 folds, 1,000 test rows")
    parser.add_argument("--json", type=Path, default=None, help="write the results here (default: bench/results/)")
    for hidden in ("--worker", "--seed", "--result"):  # the parent's call of one (dataset, seed)
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.worker:
        _worker(args)
        return
    if args.epochs < 2 or args.folds < 2:
        raise SystemExit(f"Expected --epochs >= 2 (the data map) and --folds >= 2. Received: --epochs {args.epochs}, "
                         f"--folds {args.folds}.")
    estimates = {d: estimate_seconds(d, rows=args.rows, test_rows=args.test_rows, epochs=args.epochs, folds=args.folds,
                                     seeds=len(args.seeds), oracle=args.oracle)
                 for d in args.datasets}
    print(f"Estimated wall time on the idle 2-core machine: {sum(estimates.values()) / 60:.0f} min ("
          + ", ".join(f"{d} {s / 60:.0f} min" for d, s in estimates.items()) + "); a busy machine takes longer.",
          flush=True)
    runs: dict[str, list[dict]] = {d: [] for d in args.datasets}
    started = time.perf_counter()
    facts = machine()
    with tempfile.TemporaryDirectory(prefix="label_noise_") as folder:
        for dataset in args.datasets:
            for seed in args.seeds:
                runs[dataset].append(_spawn(dataset, seed, args, Path(folder)))
                _save(args, runs, facts, complete=False)  # a long run that dies keeps its finished seeds
    rows = [row for dataset in args.datasets for row in median_of_runs(runs[dataset])]
    print(f"\n{args.noise:.0%} of {args.rows} training rows flipped; {args.model or 'MiniLM'} (every layer), batch 32, "
          f"lr 1e-4, one-cycle, {args.epochs} epochs, maxlen {args.maxlen}, K = {args.folds}; medians of seeds "
          f"{args.seeds}; precision@R: best precision at recall >= {MIN_RECALL} ranking by label_quality; seconds")
    print_table(rows, ["dataset", "method", "flagged", "precision", "recall", "precision_at_recall",
                       "average_precision", "find_s", "test_acc", "acc_change_pts", "train_s"])
    for row in rows:
        if row["method"] == METHODS["kfold"]:
            met = row["precision_at_recall"] >= GOAL_PRECISION
            print(f"{row['dataset']}: K-fold precision at recall >= {MIN_RECALL}: {row['precision_at_recall']:.3f} "
                  f"(issue 27: >= {GOAL_PRECISION}: {'yes' if met else 'no'}); its flags: precision "
                  f"{row['precision']:.3f}, recall {row['recall']:.3f}")
    print(f"total {time.perf_counter() - started:.0f} s")
    print(f"wrote {_save(args, runs, facts, complete=True)}")


def _save(args, runs: dict[str, list[dict]], facts: dict, *, complete: bool) -> Path:
    """Write the medians of the finished seeds and every run to ``--json`` (default ``bench/results/``);
    ``complete`` False marks a file written part-way."""
    rows = [row for dataset, done in runs.items() if done for row in median_of_runs(done)]
    payload = {"complete": complete, "machine": facts,
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "rows": rows, "runs": runs}
    if args.json is None:
        return write_json("label_noise_quick" if args.quick else "label_noise", payload)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return args.json


if __name__ == "__main__":
    main()
