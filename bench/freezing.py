"""What kdemo's default layer freezing costs and saves: the same run with every layer trained and with the default.

Usage:
    python -m bench.freezing [--datasets sst2 ag_news sms_spam]

For each dataset (rows drawn with seed 0 from ``../shared/data/<name>/train.csv``, scored on its test file):
``fit_onecycle(1e-4, 1)`` at batch 32 on the embedded all-MiniLM-L6-v2, once with ``freeze_lower=0`` (every layer,
as ktrain and Trainer train) and once with kdemo's default (embeddings and the lowest third of the blocks frozen).
Prints training time, accuracy and macro-F1 side by side, and the time ratio.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND)
from bench.common import SHARED_DATA, machine, print_table, timer, write_json

ROWS = {"sst2": 8000, "ag_news": 4000, "sms_spam": 2000}


def run(name: str, rows: int, freeze_lower: float | None) -> dict:
    from kdemo import Transformer, get_learner

    root = SHARED_DATA / name
    train = pd.read_csv(root / "train.csv").sample(n=rows, random_state=0).reset_index(drop=True)
    test = pd.read_csv(root / "test.csv")
    torch.manual_seed(0)
    t = Transformer(None, maxlen=128)
    trn = t.preprocess_train(train.text.tolist(), train.label.astype(str).tolist(), verbose=0)
    val = t.preprocess_test(test.text.tolist(), test.label.astype(str).tolist(), verbose=0)
    learner = get_learner(t.get_classifier(), train_data=trn, batch_size=32, freeze_lower=freeze_lower)
    out = {"dataset": name, "rows": rows, "freeze_lower": "default (1/3)" if freeze_lower is None else freeze_lower,
           "frozen_blocks": learner.frozen_blocks}
    with timer(out, "train_s"):
        learner.fit_onecycle(1e-4, 1, verbose=0)
    report = learner.validate(val_data=val, print_report=False)
    out.update(accuracy=report.accuracy, macro_f1=report.macro_f1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        full, default = run(name, ROWS[name], 0.0), run(name, ROWS[name], None)
        default["time_vs_full"] = default["train_s"] / full["train_s"]
        rows += [full, default]
    print_table(rows, ["dataset", "rows", "freeze_lower", "frozen_blocks", "train_s", "accuracy", "macro_f1", "time_vs_full"])
    print(f"wrote {write_json('freezing', {'machine': machine(), 'rows': rows})}")


if __name__ == "__main__":
    main()
