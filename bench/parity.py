"""ktrain-parity runs on real data (issue 3 acceptance), with the embedded all-MiniLM-L6-v2 on CPU.

Usage:
    python -m bench.parity goemotions | agnews | autofit | spam | all

* goemotions: multi-label, 3,000 training rows (10 % of them held out to tune thresholds), 1 epoch at lr 3e-4;
  micro/macro-F1 on the 5,427-row test split with the tuned thresholds.
* agnews: 4,000 training rows, 1 epoch of fit_onecycle(1e-4); accuracy on the 7,600-row test split.
* autofit: 2,000 AG News rows, 10 % validation, autofit(2e-4, early_stopping=2, reduce_on_plateau=1); prints the
  history to show it stopped by itself and restored the best epoch's weights.
* spam: SMS spam (5,016 training rows), 1 epoch with and without class_weight="balanced"; spam-class F1 on test.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

import kdemo
from bench.common import SHARED_DATA, machine, write_json


def _split_labels(series: pd.Series) -> list[list[str]]:
    return [[label for label in str(v).split("|") if label] for v in series]


def goemotions(lr: float = 3e-4) -> dict:
    root = SHARED_DATA / "goemotions"
    train = pd.read_csv(root / "train.csv").sample(n=3000, random_state=0).reset_index(drop=True)
    test = pd.read_csv(root / "test.csv")
    torch.manual_seed(0)
    t = kdemo.Transformer(None, maxlen=64)
    y = _split_labels(train.labels)
    n_val = 300
    trn = t.preprocess_train(train.text[n_val:].tolist(), y[n_val:], verbose=0)
    val = t.preprocess_test(train.text[:n_val].tolist(), y[:n_val], verbose=0)
    tst = t.preprocess_test(test.text.tolist(), _split_labels(test.labels), verbose=0)
    learner = kdemo.get_learner(t.get_classifier(), train_data=trn, val_data=val, batch_size=32)
    start = time.perf_counter()
    learner.fit_onecycle(lr, 1, verbose=0)
    train_s = time.perf_counter() - start
    learner.validation_report()  # tunes per-label thresholds on the validation rows
    report = learner.validation_report(tst)
    return {"task": "goemotions multi-label", "lr": lr, "train_rows": len(trn), "train_s": train_s, "test_micro_f1": report.micro_f1,
            "test_macro_f1": report.macro_f1, "labels": len(t.get_classes())}


def agnews() -> dict:
    root = SHARED_DATA / "ag_news"
    train = pd.read_csv(root / "train.csv").sample(n=4000, random_state=0)
    test = pd.read_csv(root / "test.csv")
    torch.manual_seed(0)
    t = kdemo.Transformer(None, maxlen=128)
    trn = t.preprocess_train(train.text.tolist(), train.label.tolist(), verbose=0)
    tst = t.preprocess_test(test.text.tolist(), test.label.tolist(), verbose=0)
    learner = kdemo.get_learner(t.get_classifier(), train_data=trn, batch_size=32)
    start = time.perf_counter()
    learner.fit_onecycle(1e-4, 1, verbose=0)
    train_s = time.perf_counter() - start
    report = learner.validation_report(tst)
    return {"task": "ag_news 4-class", "train_rows": len(trn), "train_s": train_s, "test_accuracy": report.accuracy, "test_macro_f1": report.macro_f1}


def autofit() -> dict:
    root = SHARED_DATA / "ag_news"
    df = pd.read_csv(root / "train.csv").sample(n=2000, random_state=1)
    torch.manual_seed(0)
    trn, val, preproc = kdemo.texts_from_df(df, "text", ["label"], val_pct=0.1, maxlen=128, verbose=0)
    learner = kdemo.get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=32)
    start = time.perf_counter()
    hist = learner.autofit(2e-4, early_stopping=2, reduce_on_plateau=1, verbose=0, max_epochs=12).history
    train_s = time.perf_counter() - start
    final = learner.validation_report()
    best = min(range(len(hist["val_loss"])), key=hist["val_loss"].__getitem__)
    final_loss = float(learner.model.evaluate(learner._val_batches(), verbose=0, return_dict=True)["loss"])
    return {"task": "ag_news autofit", "epochs_run": len(hist["loss"]), "val_loss": [round(v, 4) for v in hist["val_loss"]],
            "peak_lr": hist["lr"], "best_epoch": best + 1, "val_loss_after_restore": round(final_loss, 4),
            "val_accuracy_after_restore": final.accuracy, "train_s": train_s}


def spam() -> dict:
    root = SHARED_DATA / "sms_spam"
    train = pd.read_csv(root / "train.csv")
    test = pd.read_csv(root / "test.csv")
    out = {"task": "sms_spam class weights"}
    for weight in (None, "balanced"):
        torch.manual_seed(0)
        t = kdemo.Transformer(None, maxlen=64)
        trn = t.preprocess_train(train.text.tolist(), train.label.tolist(), verbose=0)
        tst = t.preprocess_test(test.text.tolist(), test.label.tolist(), verbose=0)
        learner = kdemo.get_learner(t.get_classifier(), train_data=trn, batch_size=32)
        if weight:
            out["balanced_weights"] = {t.get_classes()[k]: round(v, 3) for k, v in learner.balanced_class_weight().items()}
        learner.fit_onecycle(1e-4, 1, class_weight=weight, verbose=0)
        report = learner.validation_report(tst)
        out[f"spam_f1_{weight or 'unweighted'}"] = float(report.per_class.loc["spam", "f1-score"])
        out[f"accuracy_{weight or 'unweighted'}"] = report.accuracy
    return out


RUNS = {"goemotions": goemotions, "agnews": agnews, "autofit": autofit, "spam": spam}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", choices=[*RUNS, "all"])
    args = parser.parse_args()
    names = list(RUNS) if "all" in args.runs else args.runs
    results = []
    for name in names:
        result = RUNS[name]()
        print(result, flush=True)
        results.append(result)
    write_json("parity_" + "_".join(names), {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
