"""What the "freeze lower layers" option costs and saves: the same run with every layer trained (kdemo's default,
as ktrain and Trainer) and with the lowest third of the blocks and the embeddings frozen (``FAST_FREEZE_LOWER``).

Usage:
    python -m bench.freezing [--datasets sst2 ag_news sms_spam goemotions conll2003] [--repeats 1]

For each dataset (rows drawn with seed 0 from ``../shared/data/<name>/train.csv``, scored on its test file):
``fit_onecycle(1e-4, 1)`` at batch 32 on the embedded all-MiniLM-L6-v2, once with ``freeze_lower=0`` and once
with ``freeze_lower=FAST_FREEZE_LOWER`` (1/3). Single-label data is scored by accuracy and macro-F1; GoEmotions
(multi-label, labels joined by ``|``, lr 3e-4 as in ``bench.parity``) by micro- and macro-F1 at the thresholds
tuned on 10 % of its training rows. With ``--repeats N`` the two runs alternate N times and the medians are kept.

CoNLL-2003 (token classification): the first 4,000 sentences of ``train.txt`` (``read_token_file``),
``NERPreprocessor`` (maxlen 128) + ``sequence_tagger``, ``fit_onecycle(1e-4, 1)`` at batch 32, scored by seqeval's
strict IOB2 entity micro-F1 (and macro-F1 over the four types) on ``test.txt``.
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd
import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND)
from bench.common import SHARED_DATA, machine, print_table, timer, write_json
from kdemo.training.learner import FAST_FREEZE_LOWER

ROWS = {"sst2": 8000, "ag_news": 4000, "sms_spam": 2000, "goemotions": 3000, "conll2003": 4000}
MULTI_LABEL = {"goemotions"}


def _labels(name: str, frame: pd.DataFrame):
    if name in MULTI_LABEL:
        return [[label for label in str(v).split("|") if label] for v in frame["labels"]]
    return frame.label.astype(str).tolist()


def run_conll(rows: int, freeze_lower: float) -> dict:
    """CoNLL-2003: the first ``rows`` training sentences, scored by entity F1 on the test split."""
    from kdemo import get_learner
    from kdemo.text import sequence_tagger
    from kdemo.text.ner import NERPreprocessor, read_token_file

    root = SHARED_DATA / "conll2003"
    train, test = read_token_file(root / "train.txt"), read_token_file(root / "test.txt")
    torch.manual_seed(0)
    preproc = NERPreprocessor(None, maxlen=128)
    trn = preproc.preprocess_train(train.words[:rows], train.tags[:rows])
    tst = preproc.preprocess_test(test.words, test.tags)
    learner = get_learner(sequence_tagger("bilstm-transformer", preproc), train_data=trn, batch_size=32, freeze_lower=freeze_lower)
    out = {"dataset": "conll2003", "rows": rows, "freeze_lower": round(freeze_lower, 3), "frozen_blocks": learner.frozen_blocks}
    with timer(out, "train_s"):
        learner.fit_onecycle(1e-4, 1, verbose=0)
    report = learner.validation_report(val_data=tst)
    out.update(score="entity_f1", value=report.f1, macro_f1=report.macro_f1)
    return out


def run(name: str, rows: int, freeze_lower: float) -> dict:
    from kdemo import Transformer, get_learner

    if name == "conll2003":
        return run_conll(rows, freeze_lower)

    root = SHARED_DATA / name
    train = pd.read_csv(root / "train.csv").sample(n=rows, random_state=0).reset_index(drop=True)
    test = pd.read_csv(root / "test.csv")
    torch.manual_seed(0)
    multi = name in MULTI_LABEL
    t = Transformer(None, maxlen=64 if multi else 128)
    y = _labels(name, train)
    n_val = rows // 10 if multi else 0  # multi-label: thresholds are tuned on held-out training rows
    trn = t.preprocess_train(train.text[n_val:].tolist(), y[n_val:], verbose=0)
    val = t.preprocess_test(train.text[:n_val].tolist(), y[:n_val], verbose=0) if multi else None
    tst = t.preprocess_test(test.text.tolist(), _labels(name, test), verbose=0)
    learner = get_learner(t.get_classifier(), train_data=trn, val_data=val, batch_size=32, freeze_lower=freeze_lower)
    out = {"dataset": name, "rows": len(trn), "freeze_lower": round(freeze_lower, 3), "frozen_blocks": learner.frozen_blocks}
    with timer(out, "train_s"):
        learner.fit_onecycle(3e-4 if multi else 1e-4, 1, verbose=0)
    if multi:
        learner.validation_report()  # tunes the per-label thresholds
        report = learner.validation_report(tst)
        out.update(score="micro_f1", value=report.micro_f1, macro_f1=report.macro_f1)
    else:
        report = learner.validation_report(val_data=tst)
        out.update(score="accuracy", value=report.accuracy, macro_f1=report.macro_f1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--repeats", type=int, default=1, help="alternate the two runs N times, keep medians")
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        runs = {0.0: [], FAST_FREEZE_LOWER: []}
        for _ in range(args.repeats):
            for fraction, results in runs.items():
                results.append(run(name, ROWS[name], fraction))
        full, frozen = ({**r[0], "train_s": statistics.median(x["train_s"] for x in r)} for r in runs.values())
        frozen["time_vs_full"] = frozen["train_s"] / full["train_s"]
        frozen["score_change"] = frozen["value"] - full["value"]
        rows += [full, frozen]
    print_table(rows, ["dataset", "rows", "freeze_lower", "frozen_blocks", "train_s", "score", "value", "macro_f1",
                       "time_vs_full", "score_change"])
    print(f"wrote {write_json('freezing', {'machine': machine(), 'args': vars(args), 'rows': rows})}")


if __name__ == "__main__":
    main()
