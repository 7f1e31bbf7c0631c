"""Command-line interface: ``python -m kdemo train | predict | lr-find | push | publish-space``.

Exit codes: 0 success, 1 failure (a :class:`~kdemo.errors.KdemoError`, printed as ``error: <message>`` without a
traceback), 2 bad usage (argparse), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

import kdemo
from kdemo.commands.evaluate import add_parsers as add_evaluate_parsers
from kdemo.commands.evaluate import run_compare, run_evaluate
from kdemo.commands.label_issues import add_parser as add_label_issues_parser, run_label_issues
from kdemo.commands.space import add_parser as add_space_parser
from kdemo.commands.space import run_publish_space
from kdemo.data.columns import guess_columns
from kdemo.data.tables import read_table
from kdemo.device import PRECISIONS, describe_device
from kdemo.distributed.context import choose_backend, launched_rank, launched_world_size
from kdemo.errors import HubError, KdemoError
from kdemo.hub.folder import LOCAL_PREFIX
from kdemo.inference.entities_csv import read_texts, write_entities_csv
from kdemo.inference.predictions_csv import predictions_table, write_csv
from kdemo.run import lr_find, read_data, train
from kdemo.run.config import SCHEDULES, TrainConfig
from kdemo.run.progress import JsonLines, ProgressBar, watch_stop_file
from kdemo.tasks import QUESTIONS, SPECS, TABLE, TOKENS, spec_for


DESCRIPTION = """\
Fine-tune Hugging Face text classifiers with ktrain's verbs on Keras 3 (PyTorch backend).

examples:
  python -m kdemo train reviews.csv --epochs 2 --out my-model
  python -m kdemo predict my-model new.csv --out preds.csv
  python -m kdemo lr-find reviews.csv --plot lr.png
  python -m kdemo push my-model your-username/reviews-minilm

Run 'python -m kdemo <command> --help' for the options of a command."""

TRAIN_EPILOG = """\
examples:
  python -m kdemo train reviews.csv --text-column text --label-column label --epochs 2 --lr 1e-4 --out my-model
  python -m kdemo train goemotions.csv --label-column labels --out emotions     # multi-label: 'a|b' cells
  python -m kdemo train sts.csv --text-column sentence1 --text-pair-column sentence2 --label-column score \\
      --task regression --out sts-model                                          # sentence pairs, regression
  python -m kdemo train --config my-model/training_params.json --out again       # reproduce a saved run
  torchrun --nproc_per_node=4 -m kdemo train reviews.csv --batch-size 64 --out m  # 4 GPUs, global batch 64
  python -m kdemo train reviews.csv --epochs 3 --checkpoint-folder ckpt --out m   # resumable ...
  python -m kdemo train reviews.csv --epochs 3 --resume ckpt --out m              # ... continued after a crash

The task is detected from the labels (one class per row, 'a|b' lists or several 0/1 columns, or numbers),
or is token classification for a CoNLL/BIO token file or JSONL of tokens and ner_tags (python -m kdemo
train data.conll --out ner-model); --task overrides it. With --config, the saved run's settings are used
and any option given here replaces one of them (DATA too). The output folder loads with
kdemo.load_predictor(folder) and with transformers.pipeline("text-classification" or "token-classification",
model=folder); it holds a model card (README.md),
training_params.json (the run's settings, metrics and environment) and training_results.json."""

PREDICT_EPILOG = """\
example:
  python -m kdemo predict my-model new.csv --text-column text --out preds.csv

The output has the input's columns plus 'prediction' and one 'prob_<class>' column per class (a token
classifier: one row per entity, text_id, entity, type, start, end, score; FILE may be .txt, one text a line). Text cells that
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


_SUPPRESS = argparse.SUPPRESS  # options not given stay out of the namespace: --config's values are kept


def _add_run_args(p: argparse.ArgumentParser, *, training: bool) -> None:
    """The options that fill a :class:`~kdemo.run.config.TrainConfig` (defaults: TrainConfig's)."""
    d = TrainConfig()
    p.add_argument("data", metavar="DATA", nargs="?", default=_SUPPRESS,
                   help="training table (.csv, .tsv, .jsonl, .parquet, .xlsx) with a header row, a token file "
                        "(CoNLL/BIO .txt/.conll, JSONL of tokens and ner_tags), or questions (SQuAD .json, or a "
                        "table with question, context and answers columns)")
    p.add_argument("--config", metavar="JSON", default=_SUPPRESS,
                   help="start from a saved run's training_params.json (or a TrainConfig JSON)")
    p.add_argument("--hub-dataset", metavar="ID", default=_SUPPRESS,
                   help="train on a dataset repo of the Hub instead of DATA (its Parquet files; HF_TOKEN for private "
                        "or gated datasets)")
    p.add_argument("--hub-config", metavar="NAME", default=_SUPPRESS, help="the Hub dataset's config (default: its first)")
    p.add_argument("--hub-split", metavar="SPLIT", default=_SUPPRESS, help="the Hub dataset's split (default: train)")
    p.add_argument("--hub-revision", metavar="REV", default=_SUPPRESS, help="the Hub dataset's branch, tag or commit")
    p.add_argument("--hub-max-rows", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help="read at most N rows of the Hub split (default: all)")
    p.add_argument("--text-column", metavar="TEXT", default=_SUPPRESS, help="column with the texts (default: guessed)")
    p.add_argument("--text-pair-column", metavar="TEXT2", default=_SUPPRESS,
                   help="column with the second text of sentence pairs (e.g. NLI, STS)")
    p.add_argument("--label-column", metavar="LABEL", action="append", default=_SUPPRESS,
                   help="label column (default: guessed); repeat it for several 0/1 columns (multi-label)")
    p.add_argument("--task", choices=_TASK_CHOICES, default=_SUPPRESS, type=_task,
                   help="override the detected task: " + ", ".join(_TASK_CHOICES))
    p.add_argument("--val", metavar="FILE", default=_SUPPRESS, help="validation table (default: split off --val-pct)")
    p.add_argument("--val-pct", type=float, metavar="F", default=_SUPPRESS,
                   help=f"fraction 0-1 split off for validation when --val is not given (default: {d.val_pct})")
    p.add_argument("--model", metavar="ID_OR_DIR", default=_SUPPRESS,
                   help=f"Hub id or local checkpoint folder (default: the embedded {kdemo.DEFAULT_MODEL_ID})")
    p.add_argument("--maxlen", type=_int_at_least(8), metavar="N", default=_SUPPRESS,
                   help="tokens per text (default: covers 95%% of the training texts, at most 512)")
    p.add_argument("--doc-stride", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help=f"question answering: context tokens two windows share (default: {d.doc_stride}, as run_qa)")
    p.add_argument("--batch-size", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help=f"rows per optimizer step (default: {d.batch_size})")
    p.add_argument("--precision", choices=PRECISIONS, default=_SUPPRESS,
                   help="autocast precision; auto = bf16 where the hardware runs it natively (default: auto)")
    p.add_argument("--seed", type=_int_at_least(0), default=_SUPPRESS,
                   help="seed of the split, the head's init, dropout and the batch order (default: 0)")
    p.add_argument("--freeze-lower", type=float, metavar="F", default=_SUPPRESS,
                   help="fraction 0-1 of the transformer blocks frozen with the embeddings (default: 0, every layer "
                        "trains; 0.33 takes 0.63-0.77x the time, see bench/RESULTS.md)")
    if not training:
        return
    p.add_argument("--epochs", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help=f"passes over the data; SGDR: cycles (default: {d.epochs})")
    p.add_argument("--lr", type=float, default=_SUPPRESS, help=f"peak learning rate per step (default: {d.lr})")
    p.add_argument("--schedule", choices=_SCHEDULE_CHOICES, type=_schedule, default=_SUPPRESS,
                   help="one-cycle (default), autofit (early stopping, plateau cuts) or sgdr (warm restarts)")
    p.add_argument("--early-stopping", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help="autofit: stop after N epochs without improvement")
    p.add_argument("--reduce-on-plateau", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help="autofit: halve the peak learning rate after N epochs without improvement")
    p.add_argument("--cycle-len", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help="sgdr: epochs of the first cycle (default: 1)")
    p.add_argument("--cycle-mult", type=_int_at_least(1), metavar="N", default=_SUPPRESS,
                   help="sgdr: growth factor of each next cycle (default: 1)")
    p.add_argument("--class-weight", choices=("balanced",), default=_SUPPRESS,
                   help="single-label: weight classes inversely to their frequency")
    p.add_argument("--weight-decay", type=float, metavar="W", default=_SUPPRESS,
                   help=f"AdamW's decoupled weight decay (default: {d.weight_decay:g}, as ktrain and Trainer)")
    p.add_argument("--quick-baseline", action="store_true", default=_SUPPRESS,
                   help="also train ktrain's NBSVM on the same rows (seconds) and print its accuracy beside the model's")
    p.add_argument("--compile", action="store_true", default=_SUPPRESS,
                   help="torch.compile the training forward pass (pays back on long runs; default: off)")
    p.add_argument("--project", metavar="NAME", default=_SUPPRESS,
                   help="trackio project the run is logged under (default: kdemo; see: trackio show --project NAME)")
    p.add_argument("--run-name", metavar="NAME", default=_SUPPRESS, help="name of the run in trackio (default: trackio's)")
    p.add_argument("--no-track", dest="track", action="store_false", default=_SUPPRESS,
                   help="do not log the run to trackio (TRACKIO_DIR, default ~/.cache/huggingface/trackio)")


#: CLI option → TrainConfig field, where the names differ.
_FIELDS = {"data": "train_file", "val": "val_file", "model": "model_name", "label_column": "label_columns"}
#: The values ``--task`` and ``--schedule`` take: every task of :data:`kdemo.tasks.SPECS`, every schedule of
#: :data:`kdemo.run.config.SCHEDULES`.
_TASK_CHOICES = tuple(task.value for task in SPECS)
_SCHEDULE_CHOICES = SCHEDULES


#: Options that are not TrainConfig fields.
_NOT_CONFIG = ("command", "config", "out", "num_steps", "plot", "progress_jsonl", "stop_file", "checkpoint_folder", "resume")


def _task(text: str) -> str:
    return text.strip().lower().replace("-", "_")


def _schedule(text: str) -> str:
    return {"onecycle": "one_cycle", "fit_onecycle": "one_cycle"}.get(_task(text), _task(text))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's :class:`~kdemo.run.config.TrainConfig`: ``--config``'s (if given) with the options given replacing
    its values.

    Raises:
        TrainingError: If a value is out of range, or the config file cannot be read.
    """
    given = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    changes = {_FIELDS.get(k, k.replace("-", "_")): v for k, v in given.items()}
    if "train_file" in changes:
        changes.setdefault("data_name", None)  # named after the new file
    if "config" not in vars(args):
        return TrainConfig(**changes)
    base = TrainConfig.from_json(args.config).to_dict()
    return TrainConfig.from_dict({**base, **changes})


def _check_data_file(config: TrainConfig) -> None:
    """Refuse a run without a data file, or with a saved run's reduced local paths, saying how to give them."""
    for name, path in (("training", config.train_file), ("validation", config.val_file)):
        if path is None and name == "training" and config.hub_dataset is None:
            raise KdemoError("Expected a training table: DATA, --hub-dataset ID, or --config with a saved run. "
                             "Received: none of them.")
        if path is not None and path.startswith(LOCAL_PREFIX):
            raise KdemoError(
                f"Expected the {name} file of the saved run. Received: {path!r}: its folder is not kept in "
                f"training_params.json (so that a pushed model does not reveal your folders). Give it again: "
                f"{'DATA' if name == 'training' else '--val FILE'}."
            )
    if config.model_name.startswith(LOCAL_PREFIX):
        raise KdemoError(
            f"Expected the base model of the saved run. Received: {config.model_name!r}: a local folder, whose path "
            "is not kept in training_params.json. Give it again: --model DIR."
        )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m kdemo``.

    Returns:
        The parser, with one subparser per command (``train``, ``predict``, ``lr-find``, ``push``,
        ``publish-space``).
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m kdemo", description=DESCRIPTION, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"kdemo {kdemo.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="fine-tune a classifier on a labelled table and save it", formatter_class=fmt,
                       description="Fine-tune a classifier (single-label, multi-label, regression; single texts or "
                                   "sentence pairs), validate it and save it.",
                       epilog=TRAIN_EPILOG)
    _add_run_args(p, training=True)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the predictor to (replaced)")
    p.add_argument("--progress-jsonl", action="store_true", default=_SUPPRESS,
                   help="print progress as JSON lines on stdout instead of a progress bar (for programs)")
    p.add_argument("--stop-file", metavar="FILE", default=_SUPPRESS,
                   help="stop after the current batch once FILE exists (the model is still validated and saved)")
    p.add_argument("--checkpoint-folder", metavar="DIR", default=_SUPPRESS,
                   help="one-cycle: write per-epoch weights (DIR/epoch-N) and a resume checkpoint (DIR/resume) there")
    p.add_argument("--resume", metavar="DIR", default=_SUPPRESS,
                   help="continue the interrupted or stopped run whose --checkpoint-folder was DIR (same data and "
                        "options) to its planned end")

    p = sub.add_parser("predict", help="classify the texts of a table with a saved model", formatter_class=fmt,
                       description="Classify every row of a table with a saved predictor folder.",
                       epilog=PREDICT_EPILOG)
    p.add_argument("model_dir", metavar="DIR", help="predictor folder written by 'train'")
    p.add_argument("file", metavar="FILE", help="table (.csv, .tsv or .jsonl) with a text column")
    p.add_argument("--text-column", metavar="C", help="column with the texts (default: guessed)")
    p.add_argument("--text-pair-column", metavar="C2", help="column with the second texts (models trained on pairs)")
    p.add_argument("--out", required=True, metavar="CSV", help="CSV file to write")

    p = sub.add_parser("lr-find", help="run the learning-rate range test and plot it", formatter_class=fmt,
                       description="Learning-rate range test (Smith 2015) on a labelled table.", epilog=LR_FIND_EPILOG)
    _add_run_args(p, training=False)
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

    add_space_parser(sub, fmt)
    add_evaluate_parsers(sub, fmt)
    add_label_issues_parser(sub, fmt, _add_run_args)
    return parser


def _quiet_libraries() -> None:
    """Ranks other than 0: no Hugging Face progress bars or info logs (rank 0 reports for all)."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    _check_data_file(config)
    world = launched_world_size()  # kdemo.train joins torchrun's group and checks the global batch, once
    main_rank = launched_rank() == 0  # under torchrun: rank 0 prints and writes, the other ranks only train
    say = print if main_rank else (lambda *a, **k: None)
    if not main_rank:
        _quiet_libraries()
    say(f"device: {describe_device()}" + (f" × {world} ranks ({choose_backend()})" if world > 1 else ""))
    data = read_data(config)  # read once: kdemo.train gets it as it is
    say(data.summary())
    bar = (JsonLines() if vars(args).get("progress_jsonl") else ProgressBar("train")) if main_rank else None
    stop = threading.Event()
    if vars(args).get("stop_file"):
        watch_stop_file(args.stop_file, stop)

    def announce(preproc, learner) -> None:
        say(f"task: {learner.task}, {learner.train_data.nsamples()} training and "
            f"{learner.val_data.nsamples() if learner.val_data is not None else 0} validation rows, "
            f"classes: {', '.join(preproc.get_classes())}, maxlen {preproc.maxlen}", flush=True)

    try:
        result = train(config, data=data, progress=bar, on_prepared=announce, stop=stop,
                       checkpoint_folder=vars(args).get("checkpoint_folder"), resume_from=vars(args).get("resume"))
    finally:
        if bar is not None:
            bar.close()
    if result is None:  # stopped before training started
        say("stopped before training: nothing saved", file=sys.stderr)
        return 1
    for notice in result.notices:
        say(f"note: {notice}", file=sys.stderr)
    say(result.report)
    if result.baseline is not None:
        say(f"baseline (a constant guess): {result.baseline}")
    if (quick := result.params.get("quick_baseline")) is not None:
        say(f"quick baseline ({quick['model']}, same rows, {quick['seconds']:.1f} s): accuracy {quick['accuracy']:.4f}")
    for warning in result.warnings:
        say(f"warning: {warning}", file=sys.stderr)
    folder = result.save(args.out)
    say(f"saved: {folder}")
    return 0


def _predict_table(predictor, args: argparse.Namespace) -> str:
    """One row per text: the input's columns, ``prediction`` and a ``prob_<class>`` per class."""
    df = read_table(args.file)
    col = args.text_column or guess_columns(df)[0]
    out = predictions_table(predictor, df, col, args.text_pair_column)
    dest = write_csv(out, args.out)
    counts = ", ".join(f"{k}: {v}" for k, v in out["prediction"].value_counts().items())
    return f"wrote {len(out)} predictions to {dest} ({counts})"


def _predict_entities(predictor, args: argparse.Namespace) -> str:
    """One row per entity: text_id, entity, type, start, end, score."""
    texts = read_texts(args.file, args.text_column)
    return f"wrote the entities of {len(texts)} texts to {write_entities_csv(predictor, texts, args.out)}"


def _predict_answers(predictor, args: argparse.Namespace) -> str:
    """One row per question: the input's columns (id, title, question, context, answers) and answer, score, start,
    end (SQuAD JSON or a table with question and context columns)."""
    from kdemo.data.qa_files import read_qa_file

    table = read_qa_file(args.file).to_frame()
    dest = write_csv(predictor.predict_table(table), args.out)
    return f"wrote the answers to {len(table)} questions to {dest}"


#: How ``predict`` writes a model's predictions, by the kind of data its task trains on (``TaskSpec.data_kind``).
_PREDICTION_WRITERS = {TABLE: _predict_table, TOKENS: _predict_entities, QUESTIONS: _predict_answers}


def _predict(args: argparse.Namespace) -> int:
    predictor = kdemo.load_predictor(args.model_dir)
    print(_PREDICTION_WRITERS[spec_for(predictor.task).data_kind](predictor, args))
    return 0


def _lr_find(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    _check_data_file(config)
    data = read_data(config)
    print(data.summary())
    bar = ProgressBar("lr-find")
    try:
        found = lr_find(config, data, num_steps=args.num_steps, on_step=bar)
    finally:
        bar.close()
    if found.suggestions is None:
        print(f"warning: {found.summary()}", file=sys.stderr)
    dest = Path(args.plot)
    dest.parent.mkdir(parents=True, exist_ok=True)
    found.figure.savefig(dest, dpi=120)
    print(f"saved plot: {dest}")
    for name, lr in (found.suggestions or {}).items():
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


COMMANDS = {"train": _train, "predict": _predict, "lr-find": _lr_find, "push": _push, "publish-space": run_publish_space,
            "evaluate": run_evaluate, "compare": run_compare,
            "label-issues": lambda args: run_label_issues(args, config_from_args)}


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
