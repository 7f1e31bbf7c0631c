"""SST-2 on CPU: kdemo's defaults vs HF Trainer with its speed features, same rows, batch, epochs and LR.

Usage:
    python -m bench.sst2_cpu [--rows 4000] [--skip-trainer]

kdemo: ``Transformer(None)`` (embedded all-MiniLM-L6-v2), ``get_learner(batch_size=32)``, ``fit_onecycle(1e-4, 1)``,
with kdemo's defaults: embeddings and the lowest third of the blocks frozen (``--freeze-lower 0`` trains every
layer, as Trainer does).
Trainer: same checkpoint, batch 32, 1 epoch, lr 1e-4, 10 % warmup, dynamic padding (DataCollatorWithPadding),
``train_sampling_strategy="group_by_length"``, bf16 where the CPU has it. Both train without in-loop evaluation
and are then evaluated on ``../shared/data/sst2/test.csv`` (872 rows). Training wall time excludes tokenization
and model loading, which are reported separately.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

import kdemo  # noqa: F401  (sets KERAS_BACKEND)
from bench.common import load_sst2, machine, print_table, timer, write_json


def run_kdemo(train, test, lr: float, epochs: int, freeze_lower: float | None = None) -> dict:
    from kdemo import Transformer, get_learner

    label = "defaults" if freeze_lower is None else f"freeze_lower={freeze_lower:g}"
    out: dict = {"system": f"kdemo (fit_onecycle, {label})"}
    torch.manual_seed(0)
    with timer(out, "prep_s"):
        t = Transformer(None, maxlen=128)
        trn = t.preprocess_train(train.text.tolist(), train.label.tolist(), verbose=0)
        val = t.preprocess_test(test.text.tolist(), test.label.tolist(), verbose=0)
        model = t.get_classifier()
        learner = get_learner(model, train_data=trn, batch_size=32, freeze_lower=freeze_lower)
    with timer(out, "train_s"):
        learner.fit_onecycle(lr, epochs, verbose=0)
    with timer(out, "eval_s"):
        report = learner.validate(val_data=val, print_report=False)
    batches = learner._train_batches()
    real, padded = batches.padded_tokens()
    out.update(dev_acc=report.accuracy, samples_per_s=len(train) * epochs / out["train_s"], padded_tokens=padded, real_tokens=real)
    return out


def run_trainer(train, test, lr: float, epochs: int, *, autotrain: bool = False) -> dict:
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

    out: dict = {"system": "AutoTrain defaults (pad 128, batch 8, lr 5e-5)" if autotrain else "HF Trainer (group_by_length, dyn. padding, bf16)"}
    batch = 8 if autotrain else 32
    lr = 5e-5 if autotrain else lr
    torch.manual_seed(0)
    names = sorted(train.label.unique())
    with timer(out, "prep_s"):
        src = resolve_model_source(None)
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForSequenceClassification.from_pretrained(
            src, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
        )

        def encode(df):
            enc = tok(df.text.tolist(), truncation=True, max_length=128, padding="max_length" if autotrain else False)
            return [{"input_ids": ids, "attention_mask": m, "labels": names.index(y)}
                    for ids, m, y in zip(enc["input_ids"], enc["attention_mask"], df.label)]

        trn, tst = encode(train), encode(test)
        args = TrainingArguments(
            output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, per_device_eval_batch_size=64,
            num_train_epochs=epochs, learning_rate=lr, warmup_steps=0.1, bf16=cpu_has_bf16(), use_cpu=True,
            train_sampling_strategy="random" if autotrain else "group_by_length", report_to=[], save_strategy="no", eval_strategy="no",
            logging_steps=50, seed=0, disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=trn, data_collator=DataCollatorWithPadding(tok))
    with timer(out, "train_s"):
        trainer.train()
    with timer(out, "eval_s"):
        pred = trainer.predict(tst)
    acc = float((np.argmax(pred.predictions, axis=1) == pred.label_ids).mean())
    padded = sum(len(x["input_ids"]) for x in trn)
    out.update(dev_acc=acc, samples_per_s=len(train) * epochs / out["train_s"], padded_tokens=padded if autotrain else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--skip-trainer", action="store_true")
    parser.add_argument("--freeze-lower", type=float, default=None,
                        help="kdemo's frozen fraction of blocks (default: kdemo's default, a third; 0 trains every layer)")
    parser.add_argument("--autotrain", action="store_true", help="also run AutoTrain's defaults (slow: ~80 s per 1,000 rows on 2 cores)")
    args = parser.parse_args()
    train, test = load_sst2(args.rows)
    rows = [run_kdemo(train, test, args.lr, args.epochs, args.freeze_lower)]
    if not args.skip_trainer:
        rows.append(run_trainer(train, test, args.lr, args.epochs))
        for row in rows:
            row["time_vs_trainer"] = row["train_s"] / rows[1]["train_s"]
    if args.autotrain:
        rows.append(run_trainer(train, test, args.lr, args.epochs, autotrain=True))
        rows[-1]["time_vs_trainer"] = rows[-1]["train_s"] / rows[1]["train_s"] if not args.skip_trainer else None
    print(f"\nSST-2, {args.rows} training rows, {args.epochs} epoch(s), batch 32, lr {args.lr}; dev = {len(test)} rows")
    print_table(rows, ["system", "train_s", "samples_per_s", "dev_acc", "time_vs_trainer", "prep_s", "eval_s", "padded_tokens"])
    if not args.skip_trainer:
        print(f"\nkdemo/Trainer training time ratio: {rows[0]['time_vs_trainer']:.3f} (issue 6: <= 0.8 at 8,000 rows)")
        print(f"kdemo dev accuracy: {rows[0]['dev_acc']:.4f}; Trainer: {rows[1]['dev_acc']:.4f} "
              f"(issue 6: kdemo >= Trainer - 0.01)")
    if args.autotrain:
        print(f"AutoTrain defaults / kdemo training time: {rows[-1]['train_s'] / rows[0]['train_s']:.2f}x (goal >= 3)")
    suffix = "" if args.freeze_lower is None else f"_freeze{args.freeze_lower:g}"
    path = write_json(f"sst2_cpu_{args.rows}{suffix}", {"machine": machine(), "args": vars(args), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
