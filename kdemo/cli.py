"""Command-line interface: ``python -m kdemo train | predict | lr-find | push``.

Exit codes: 0 success, 1 failure (a :class:`~kdemo.errors.KdemoError`, printed as ``error: <message>`` without a
traceback), 2 bad usage (argparse), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import kdemo
from kdemo.errors import HubError, KdemoError
from kdemo.inference.predictions_csv import predictions_table, write_csv
from kdemo.text.loaders import guess_columns, read_table

DESCRIPTION = """\
Fine-tune Hugging Face text classifiers with ktrain's verbs on Keras 3 (PyTorch backend).

examples:
  python -m kdemo train reviews.csv --epochs 2 --out my-model
  python -m kdemo predict my-model new.csv --out preds.csv
  python -m kdemo lr-find reviews.csv --plot lr.png
  python -m kdemo push my-model your-username/reviews-minilm

Run 'python -m kdemo <command> --help' for the options of a command."""

TRAIN_EPILOG = """\
example:
  python -m kdemo train reviews.csv --text-column text --label-column label \\
      --epochs 2 --lr 1e-4 --out my-model

The output folder loads with kdemo.load_predictor(folder) and with
transformers.pipeline("text-classification", model=folder); it holds a model card (README.md)."""

PREDICT_EPILOG = """\
example:
  python -m kdemo predict my-model new.csv --text-column text --out preds.csv

The output has the input's columns plus 'prediction' and one 'prob_<class>' column per class. Text cells that
start with = + - @ get a leading ' so that spreadsheets do not run them as formulas."""

LR_FIND_EPILOG = """\
example:
  python -m kdemo lr-find reviews.csv --num-steps 100 --plot lr.png

Trains briefly with an exponentially rising learning rate (weights are restored afterwards), saves the
loss-vs-learning-rate plot and prints suggested learning rates for 'train --lr'."""

PUSH_EPILOG = """\
example:
  HF_TOKEN=hf_... python -m kdemo push my-model your-username/reviews-minilm --private

Prefer the HF_TOKEN environment variable to --token: command-line arguments are visible to other users of
the machine. The token is never printed or saved."""



def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _add_data_args(p: argparse.ArgumentParser, *, val: bool = False) -> None:
    p.add_argument("data", metavar="DATA", help="training table (.csv, .tsv or .jsonl) with a header row")
    p.add_argument("--text-column", metavar="TEXT", help="column with the texts (default: guessed)")
    p.add_argument("--label-column", metavar="LABEL", help="column with one label per row (default: guessed)")
    if val:
        p.add_argument("--val", metavar="FILE", help="validation table (default: split off --val-pct of DATA)")
    p.add_argument("--val-pct", type=float, default=0.1, metavar="F",
                   help="fraction 0-1 split off for validation when --val is not given (default: %(default)s)")
    p.add_argument("--model", metavar="ID_OR_DIR",
                   help=f"Hub id or local checkpoint folder (default: the embedded {kdemo.DEFAULT_MODEL_ID})")
    p.add_argument("--maxlen", type=_int_at_least(2), metavar="N",
                   help="tokens per text (default: covers 95%% of the training texts, at most 512)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=32, metavar="N", help="default: %(default)s")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="autocast precision of training; auto = bf16 where the hardware runs it natively")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights' init, shuffling and split (default: 0)")
    p.add_argument("--freeze-lower", type=float, default=None, metavar="F",
                   help="fraction 0-1 of the transformer blocks frozen with the embeddings (default: a third; 0 trains "
                        "every layer)")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m kdemo``.

    Returns:
        The parser, with one subparser per command (``train``, ``predict``, ``lr-find``, ``push``).
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m kdemo", description=DESCRIPTION, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"kdemo {kdemo.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="fine-tune a classifier on a labelled table and save it", formatter_class=fmt,
                       description="Fine-tune a classifier with the one-cycle policy, validate it and save it.",
                       epilog=TRAIN_EPILOG)
    _add_data_args(p, val=True)
    p.add_argument("--epochs", type=_int_at_least(1), default=1, metavar="N", help="default: %(default)s")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the predictor to (replaced)")

    p = sub.add_parser("predict", help="classify the texts of a table with a saved model", formatter_class=fmt,
                       description="Classify every row of a table with a saved predictor folder.",
                       epilog=PREDICT_EPILOG)
    p.add_argument("model_dir", metavar="DIR", help="predictor folder written by 'train'")
    p.add_argument("file", metavar="FILE", help="table (.csv, .tsv or .jsonl) with a text column")
    p.add_argument("--text-column", metavar="C", help="column with the texts (default: guessed)")
    p.add_argument("--out", required=True, metavar="CSV", help="CSV file to write")

    p = sub.add_parser("lr-find", help="run the learning-rate range test and plot it", formatter_class=fmt,
                       description="Learning-rate range test (Smith 2015) on a labelled table.", epilog=LR_FIND_EPILOG)
    _add_data_args(p)
    p.add_argument("--num-steps", type=_int_at_least(2), default=100, metavar="N",
                   help="maximum batches of the test (default: %(default)s)")
    p.add_argument("--plot", required=True, metavar="PNG", help="image file to save the plot to")

    p = sub.add_parser("push", help="upload a saved model to the Hugging Face Hub", formatter_class=fmt,
                       description="Create the Hub repo if needed and upload a predictor folder with its model card.",
                       epilog=PUSH_EPILOG)
    p.add_argument("model_dir", metavar="DIR", help="predictor folder written by 'train'")
    p.add_argument("repo_id", metavar="REPO_ID", help="user-or-org/name")
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_true", default=True, help="private repo (default)")
    vis.add_argument("--public", dest="private", action="store_false", help="public repo")
    p.add_argument("--token", help="write token (default: the HF_TOKEN environment variable or the cached login)")
    return parser


def _learner(args: argparse.Namespace, val_file: str | None = None):
    """Read the data, build the classifier and the learner. Returns ``(learner, preproc, trn)``."""
    import torch

    text_col, label_col = args.text_column, args.label_column
    if text_col is None or label_col is None:
        guessed_text, guessed_label = guess_columns(read_table(args.data))
        text_col, label_col = text_col or guessed_text, label_col or guessed_label
        print(f"columns: text={text_col!r} label={label_col!r} (use --text-column/--label-column to change)")
    torch.manual_seed(args.seed)
    trn, val, preproc = kdemo.texts_from_csv(args.data, text_col, [label_col], val_filepath=val_file,
                                             val_pct=args.val_pct, model_name=args.model, maxlen=args.maxlen,
                                             random_state=args.seed)
    preproc.precision = args.precision
    learner = kdemo.get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=args.batch_size,
                                seed=args.seed, freeze_lower=args.freeze_lower)
    return learner, preproc, trn


class _Bar:
    """A tqdm bar fed by :class:`~kdemo.training.callbacks.ProgressEvent` objects."""

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=event.total_steps, desc=self.desc, unit="step", dynamic_ncols=True)
        if event.phase == "epoch_end":
            logs = event.logs or {}
            extra = "".join(f"  {k} {logs[k]:.4f}" for k in ("val_loss", "val_accuracy") if k in logs)
            self.bar.write(f"epoch {event.epoch + 1}/{event.epochs}: loss {event.loss:.4f}{extra}")
            return
        self.bar.update(event.step - self.bar.n)
        self.bar.set_postfix(epoch=f"{event.epoch + 1}/{event.epochs}", loss=f"{event.loss:.4f}", lr=f"{event.lr:.2e}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _train(args: argparse.Namespace) -> int:
    from kdemo.device import describe_device
    from kdemo.hub.card import write_model_card

    print(f"device: {describe_device()}")
    learner, preproc, trn = _learner(args, args.val)
    bar = _Bar("train")
    try:
        learner.fit_onecycle(args.lr, args.epochs, progress=bar, verbose=0)
    finally:
        bar.close()
    metrics = learner.validate(print_report=True).to_dict()
    meta = {
        "metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "num_rows")},
        "training": {"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size, "maxlen": preproc.maxlen,
                     "schedule": "one-cycle", "optimizer": "AdamW (torch fused)",
                     "precision": learner.model.precision, "seed": args.seed, "frozen_blocks": learner.frozen_blocks},
        "example": trn.texts[0],
    }
    folder = kdemo.get_predictor(learner.model, preproc, meta=meta).save(args.out)
    write_model_card(folder)
    print(f"saved: {folder}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    predictor = kdemo.load_predictor(args.model_dir)
    df = read_table(args.file)
    col = args.text_column or guess_columns(df)[0]
    out = predictions_table(predictor, df, col)
    dest = write_csv(out, args.out)
    counts = ", ".join(f"{k}: {v}" for k, v in out["prediction"].value_counts().items())
    print(f"wrote {len(out)} predictions to {dest} ({counts})")
    return 0


def _lr_find(args: argparse.Namespace) -> int:
    from kdemo.training.callbacks import ProgressReporter

    learner, _, _ = _learner(args)
    bar = _Bar("lr-find")
    try:
        learner.lr_find(num_steps=args.num_steps, verbose=0, callbacks=[ProgressReporter(bar, args.num_steps, 1)])
    finally:
        bar.close()
    try:
        suggestions = learner.lr_estimate()
    except KdemoError as exc:
        suggestions = None
        print(f"warning: no suggestions: {exc}", file=sys.stderr)
    fig = learner.lr_plot(suggest=suggestions is not None, return_fig=True)
    dest = Path(args.plot)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=120)
    print(f"saved plot: {dest}")
    for name, lr in (suggestions or {}).items():
        print(f"suggested lr ({name}): {lr:.2e}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from kdemo.hub.push import push_to_hub

    folder = Path(args.model_dir)
    if not (folder / "config.json").is_file():
        raise HubError(f"Expected a predictor folder written by 'train'. Received: {str(folder)!r}, without config.json.")
    token = args.token or os.environ.get("HF_TOKEN") or None
    url = push_to_hub(folder, args.repo_id, token=token, private=args.private)
    print(f"pushed: {url}")
    return 0


COMMANDS = {"train": _train, "predict": _predict, "lr-find": _lr_find, "push": _push}


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 success, 1 failure (message on stderr, no traceback), 2 bad usage, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return COMMANDS[args.command](args)
    except KdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:  # writing an output file: permissions, full disk, a folder in the way
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1
