"""XQuAD (English) extractive QA on CPU: kdemo's ``question_answering`` run vs HF Trainer with run_qa's windows.

Usage:
    python -m bench.qa_cpu [--train-rows N] [--dev-rows N] [--epochs 2] [--lr 1e-4] [--batch-size 16]
        [--repeats 3] [--trainer-dynamic-padding] [--skip-trainer] [--skip-kdemo] [--maxlen 384] [--doc-stride 128]
        [--threads T] [--json OUT]

Issue 25, acceptance 1: ``../shared/data/xquad/en_train.json`` (913 questions) → ``en_dev.json`` (177), SQuAD v1.1
JSON, the embedded all-MiniLM-L6-v2, 2 epochs, windows of 384 tokens with a doc stride of 128, every layer trained;
kdemo's dev F1 >= Trainer's - 1 pt and its time <= 1.0x Trainer's (medians of 3). ``--train-rows``/``--dev-rows``
keep the first N questions (written to a temporary SQuAD file that both sides read).

kdemo (``kdemo``): ``kdemo.train(TrainConfig(task="question_answering", train_file, val_file, maxlen, doc_stride,
epochs, lr, batch_size, seed=0))``: one-cycle (10 % warmup, cosine decay, momentum cycled), precision ``"auto"``
(bf16 autocast where the CPU runs it natively), its own windows, post-processing and SQuAD scores (``result.report``).
Given a validation file, ``kdemo.train``'s fit also computes the validation loss after every epoch (and keeps the
best epoch's weights): that is part of its ``train_s`` and shown on its own as ``val_in_fit_s``.

Trainer, run_qa's defaults (``trainer``, the headline reference): ``AutoModelForQuestionAnswering`` from the same
checkpoint; windows from run_qa's ``prepare_train_features``/``prepare_validation_features`` (padded to ``maxlen``,
``default_data_collator``); ``TrainingArguments`` with the same batch, epochs and learning rate, linear decay after a
10 % linear warmup (``warmup_ratio=0.1``; kdemo's one-cycle also warms up for 10 %), weight decay 0, random order,
bf16 where the CPU has it (the same arithmetic as kdemo's ``"auto"``), no in-loop evaluation, logging or saving,
seed 0, no data-loader workers; then ``predict`` on the dev windows, utils_qa's ``postprocess_qa_predictions``
(n-best 20, answers up to 30 tokens) and the official SQuAD v1.1 EM/F1 (:mod:`bench.run_qa_reference`).
``--trainer-dynamic-padding`` adds ``trainer_dynamic``: the same without padding to ``maxlen``
(``DataCollatorWithPadding``) and with ``group_by_length``, the "same work without padding" comparison.

Times, wall seconds, each side and each repeat in a fresh subprocess (OMP/MKL threads = ``--threads``, by default
the machine's cores; no GPU): ``prep_s`` reading, tokenization and model loading; ``train_s`` the fit
(``Trainer.train``, kdemo's ``Learner.fit_onecycle`` as in bench/sst2_cpu.py); ``eval_s`` prediction on the dev
windows + post-processing + scoring; ``total_s`` = ``train_s`` + ``eval_s``. The table shows medians over
``--repeats`` alternating runs (kdemo, Trainer, ...) and ratios against the run_qa-default Trainer.
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
from pathlib import Path

from bench.common import REPO, SHARED_DATA, machine, print_table, timer, write_json

XQUAD = SHARED_DATA / "xquad"
SIDES = {"kdemo": "kdemo.train (question_answering, one-cycle, every layer)",
         "trainer": "HF Trainer, run_qa defaults (pad to maxlen)",
         "trainer_dynamic": "HF Trainer, run_qa, dynamic padding + group_by_length"}
AVERAGED = ("f1", "exact_match", "train_s", "eval_s", "total_s", "prep_s", "val_in_fit_s")


def cut_squad(path: Path, limit: int | None, dest: Path) -> Path:
    """``path`` itself when ``limit`` is None, else a copy at ``dest`` holding only its first ``limit`` questions
    (articles and paragraphs kept in order, emptied ones dropped)."""
    if limit is None:
        return path
    doc = json.loads(path.read_text(encoding="utf-8"))
    left, articles = limit, []
    for article in doc["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if left > 0:
                qas = paragraph["qas"][:left]
                left -= len(qas)
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    dest.write_text(json.dumps({**doc, "data": articles}), encoding="utf-8")
    return dest


# ---------------------------------------------------------------------------------------------------- the sides
def run_trainer(train_file: str, dev_file: str, args, *, dynamic: bool) -> dict:
    """HF Trainer with run_qa's preprocessing and post-processing; times in seconds, scores in percent."""
    import torch
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    from bench.run_qa_reference import (
        postprocess_qa_predictions,
        prepare_train_features,
        prepare_validation_features,
        read_squad,
        squad_v1_scores,
    )
    from kdemo.device import cpu_has_bf16
    from kdemo.modeling.classifier import resolve_model_source

    out: dict = {}
    torch.manual_seed(0)  # the QA head is newly initialised
    pad = not dynamic
    with timer(out, "prep_s"):
        train_rows, dev_rows = read_squad(train_file), read_squad(dev_file)
        src = resolve_model_source(None)
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForQuestionAnswering.from_pretrained(src)
        window = {"max_seq_length": args.maxlen, "doc_stride": args.doc_stride, "pad_to_max_length": pad}
        trn = prepare_train_features(tok, train_rows, **window)
        dev = prepare_validation_features(tok, dev_rows, **window)
        inputs = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in trn]
        train_set = [{k: trn[k][i] for k in inputs + ["start_positions", "end_positions"]}
                     for i in range(len(trn["input_ids"]))]
        dev_set = [{k: dev[k][i] for k in inputs} for i in range(len(dev["input_ids"]))]
        dev_windows = [{"example_id": e, "offset_mapping": o} for e, o in zip(dev["example_id"], dev["offset_mapping"])]
        common = {"output_dir": tempfile.mkdtemp(), "per_device_train_batch_size": args.batch_size,
                  "per_device_eval_batch_size": args.eval_batch_size, "learning_rate": args.lr,
                  "num_train_epochs": args.epochs, "lr_scheduler_type": "linear", "weight_decay": 0.0,
                  "save_strategy": "no", "eval_strategy": "no", "logging_strategy": "no", "report_to": [],
                  "use_cpu": True, "seed": 0, "dataloader_num_workers": 0, "bf16": cpu_has_bf16(),
                  "disable_tqdm": True}
        try:  # transformers >= 5.2x: warmup_ratio and group_by_length under their new names
            targs = TrainingArguments(**common, warmup_steps=0.1,
                                      train_sampling_strategy="group_by_length" if dynamic else "random")
        except TypeError:
            targs = TrainingArguments(**common, warmup_ratio=0.1, group_by_length=dynamic)
        collator = DataCollatorWithPadding(tok) if dynamic else default_data_collator
        trainer = Trainer(model=model, args=targs, train_dataset=train_set, data_collator=collator,
                          processing_class=tok)
    with timer(out, "train_s"):
        trainer.train()
    # transformers 5 also groups predict()'s windows by length under group_by_length (see bench/ner_cpu.py): the
    # logits would come back in another order than dev_windows. Predict in dataset order.
    if getattr(trainer.args, "train_sampling_strategy", None) == "group_by_length":
        trainer.args.train_sampling_strategy = "sequential"
    if getattr(trainer.args, "group_by_length", False):
        trainer.args.group_by_length = False
    with timer(out, "eval_s"):
        start_logits, end_logits = trainer.predict(dev_set).predictions[:2]
        answers = postprocess_qa_predictions(dev_rows, dev_windows, (start_logits, end_logits))
        scores = squad_v1_scores(dev_rows, answers)
    lengths = [sum(m) for m in trn["attention_mask"]]
    out.update(f1=scores["f1"], exact_match=scores["exact_match"], steps=trainer.state.global_step,
               train_windows=len(train_set), dev_windows=len(dev_set), train_questions=len(train_rows),
               dev_questions=len(dev_rows), real_tokens=sum(lengths), precision="bf16" if targs.bf16 else "fp32",
               padded_tokens=_trainer_padded_tokens(trainer, train_set, args.batch_size) if dynamic
               else len(train_set) * len(train_set[0]["input_ids"]))
    return out


def _trainer_padded_tokens(trainer, train_set: list[dict], batch_size: int) -> int:
    """Tokens of one epoch's batches, each padded to its longest window, in the order of Trainer's own sampler."""
    sampler = trainer._get_train_sampler(train_set)
    order = list(sampler) if sampler is not None else list(range(len(train_set)))
    lengths = [len(row["input_ids"]) for row in train_set]
    batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(len(b) * max(lengths[j] for j in b) for b in batches)


def _timed(owner, name: str, out: dict, key: str, *, only_while: dict | None = None, flag: dict | None = None) -> None:
    """Replace ``owner.name`` (a bound method) by a wrapper adding its wall seconds to ``out[key]``; with
    ``only_while``, only calls made while ``only_while["on"]`` count; with ``flag``, ``flag["on"]`` is True during
    the call."""
    method = getattr(owner, name, None)
    if method is None:
        return

    def wrapper(*a, **kw):
        counted = only_while is None or only_while.get("on", False)
        if flag is not None:
            flag["on"] = True
        start = time.perf_counter()
        try:
            return method(*a, **kw)
        finally:
            if counted:
                out[key] = out.get(key, 0.0) + time.perf_counter() - start
            if flag is not None:
                flag["on"] = False

    try:
        setattr(owner, name, wrapper)
    except (AttributeError, TypeError):  # an object refusing instance attributes: the figure stays missing
        pass


def run_kdemo(train_file: str, dev_file: str, args) -> dict:
    """kdemo's one call, ``kdemo.train``; its stages timed from inside (``on_prepared``); times in seconds."""
    import torch

    from kdemo import TrainConfig, train

    out: dict = {"val_in_fit_s": 0.0}
    seen: dict = {}
    in_fit: dict = {"on": False}
    torch.manual_seed(0)
    config = TrainConfig(task="question_answering", train_file=train_file, val_file=dev_file, maxlen=args.maxlen,
                         doc_stride=args.doc_stride, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=0)

    def on_prepared(preproc, learner) -> None:
        out["prep_s"] = time.perf_counter() - started  # read, checks, windows, model: everything before the fit
        seen["learner"] = learner
        _timed(learner, "fit_onecycle", out, "train_s", flag=in_fit)
        _timed(learner, "validation_report", out, "eval_s")
        _timed(learner.model, "evaluate", out, "val_in_fit_s", only_while=in_fit)  # Keras' per-epoch validation

    started = time.perf_counter()
    result = train(config, on_prepared=on_prepared)
    out["wall_s"] = time.perf_counter() - started
    report, learner, resolved = result.report, seen["learner"], result.params.get("resolved", {})
    out.update(f1=float(report.f1), exact_match=float(report.exact_match), steps=resolved.get("steps"),
               train_windows=len(learner.train_data), dev_windows=getattr(report, "num_windows", None),
               train_questions=resolved.get("train_rows"), dev_questions=resolved.get("val_rows"),
               precision=resolved.get("precision"), epochs_run=resolved.get("epochs_run"))
    try:  # one epoch's real and padded tokens, as bench/ner_cpu.py reads them
        out["real_tokens"], out["padded_tokens"] = learner._train_batches().padded_tokens()
    except (AttributeError, TypeError, ValueError):
        pass
    return out


# ---------------------------------------------------------------------------------------------------- driver
def _worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.worker == "kdemo":
        out = run_kdemo(args.train_file, args.dev_file, args)
    else:
        out = run_trainer(args.train_file, args.dev_file, args, dynamic=args.worker == "trainer_dynamic")
    out["total_s"] = out["train_s"] + out["eval_s"]
    Path(args.result).write_text(json.dumps(out, default=str), encoding="utf-8")


def _spawn(side: str, train_file: Path, dev_file: Path, args, tmp: Path) -> dict:
    """One run of ``side`` in a fresh interpreter; its result dict (``side`` and ``system`` added)."""
    result = tmp / f"{side}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.qa_cpu", "--worker", side, "--train-file", str(train_file),
           "--dev-file", str(dev_file), "--result", str(result), "--epochs", str(args.epochs), "--lr", repr(args.lr),
           "--batch-size", str(args.batch_size), "--eval-batch-size", str(args.eval_batch_size),
           "--maxlen", str(args.maxlen), "--doc-stride", str(args.doc_stride), "--threads", str(args.threads)]
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    if proc.returncode != 0 or not result.exists():
        raise SystemExit(f"The {side} run failed (exit code {proc.returncode}); its traceback is above.")
    return {"side": side, "system": SIDES[side], **json.loads(result.read_text(encoding="utf-8"))}


def _median_row(runs: list[dict]) -> dict:
    """The first run's fields with the medians over the runs of the scores and times."""
    row = dict(runs[0])
    for key in AVERAGED:
        if all(isinstance(r.get(key), (int, float)) for r in runs):
            row[key] = statistics.median(r[key] for r in runs)
    row["train_s_runs"] = [round(r["train_s"], 2) for r in runs]
    row["f1_runs"] = [round(r["f1"], 2) for r in runs]
    row["windows"] = f"{row.get('train_windows')}/{row.get('dev_windows')}"
    return row


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=None, help="first N training questions (default: all 913)")
    parser.add_argument("--dev-rows", type=int, default=None, help="first N dev questions (default: all 177)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of both sides (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=64, help="Trainer's prediction batch")
    parser.add_argument("--maxlen", type=int, default=384, help="tokens per window (run_qa's max_seq_length)")
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; medians are shown")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="OMP/MKL threads per run (default: the cores)")
    parser.add_argument("--skip-trainer", action="store_true")
    parser.add_argument("--skip-kdemo", action="store_true")
    parser.add_argument("--trainer-dynamic-padding", action="store_true",
                        help="add Trainer without padding to maxlen (DataCollatorWithPadding, group_by_length)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here (default: bench/results/)")
    for hidden in ("--worker", "--train-file", "--dev-file", "--result"):  # the parent's call of one run
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.worker:
        _worker(args)
        return
    if not (XQUAD / "en_train.json").exists():
        raise SystemExit(f"XQuAD not found at {XQUAD}. The benchmarks expect ../shared/data beside the repo.")
    sides = ([] if args.skip_kdemo else ["kdemo"]) + ([] if args.skip_trainer else ["trainer"])
    sides += ["trainer_dynamic"] if args.trainer_dynamic_padding else []
    if not sides:
        raise SystemExit("Expected at least one side to run. Received: --skip-kdemo and --skip-trainer. Drop one.")
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="qa_cpu_") as folder:
        tmp = Path(folder)
        train_file = cut_squad(XQUAD / "en_train.json", args.train_rows, tmp / "train.json")
        dev_file = cut_squad(XQUAD / "en_dev.json", args.dev_rows, tmp / "dev.json")
        for r in range(args.repeats):
            for side in sides:
                run = _spawn(side, train_file, dev_file, args, tmp)
                runs[side].append(run)
                print(f"  repeat {r + 1} {side}: train {run['train_s']:.1f} s, eval {run['eval_s']:.1f} s, "
                      f"F1 {run['f1']:.2f}, EM {run['exact_match']:.2f}", flush=True)
    rows = {side: _median_row(v) for side, v in runs.items()}
    ref = rows.get("trainer")
    if ref is not None:
        for row in rows.values():
            row["time_vs_trainer"] = row["train_s"] / ref["train_s"]
            row["total_vs_trainer"] = row["total_s"] / ref["total_s"]
            row["f1_vs_trainer_pts"] = row["f1"] - ref["f1"]
    some = next(iter(rows.values()))
    print(f"\nXQuAD en, {some.get('train_questions')} training → {some.get('dev_questions')} dev questions, "
          f"{args.epochs} epoch(s), batch {args.batch_size}, lr {args.lr}, maxlen {args.maxlen}, doc stride "
          f"{args.doc_stride}, {args.threads} thread(s); medians of {args.repeats} alternating runs, seconds")
    print_table(list(rows.values()), ["side", "f1", "exact_match", "train_s", "eval_s", "total_s", "windows", "steps",
                                      "time_vs_trainer", "total_vs_trainer", "f1_vs_trainer_pts", "prep_s",
                                      "val_in_fit_s", "precision"])
    if ref is not None and "kdemo" in rows:
        k = rows["kdemo"]
        print(f"\nF1 >= Trainer - 1: {'yes' if k['f1'] >= ref['f1'] - 1 else 'no'} "
              f"(kdemo {k['f1']:.2f}, Trainer {ref['f1']:.2f}; EM {k['exact_match']:.2f} vs {ref['exact_match']:.2f})")
        print(f"time <= 1.0x: {'yes' if k['time_vs_trainer'] <= 1.0 else 'no'} (training {k['time_vs_trainer']:.3f}x; "
              f"training + evaluation {k['total_vs_trainer']:.3f}x: {'yes' if k['total_vs_trainer'] <= 1.0 else 'no'})")
    payload = {"machine": machine(), "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "rows": list(rows.values()), "runs": runs}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        path = args.json
    else:
        path = write_json(f"qa_cpu_{args.train_rows or 'all'}", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
