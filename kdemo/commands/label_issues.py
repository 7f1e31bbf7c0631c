"""``python -m kdemo label-issues TRAIN_FILE --text-column T --label-column L [--folds 5 | --data-map] --out CSV``:
the training rows that are probably mislabeled (:func:`kdemo.run.label_issues.api.find_label_issues`)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable

from kdemo.distributed.launch import progress_line
from kdemo.run.label_issues.api import find_label_issues
from kdemo.run.progress import ProgressBar, watch_stop_file

LABEL_ISSUES_EPILOG = """\
examples:
  python -m kdemo label-issues reviews.csv --text-column text --label-column label --epochs 2 --out issues.csv
  python -m kdemo label-issues reviews.csv --folds 10 --work-dir li --out issues.csv   # resumable ...
  python -m kdemo label-issues reviews.csv --folds 10 --work-dir li --resume --out issues.csv   # ... continued
  python -m kdemo label-issues ner.conll --out ner-issues.csv                        # NER: one row per sentence

Each of the K folds trains with the train options given (the same model, schedule and epochs) on the other
folds and predicts its own rows; cleanlab's confident learning (Northcutt et al. 2021) then flags the rows whose
label disagrees with those out-of-sample predictions. --data-map instead reads one run's training dynamics
(Swayamdipta et al. 2020). The CSV has one row per flagged example: row (0-based data row of the file; sentence
index of a token file), text, given_label, suggested_label, label_quality (0-1, lowest first) and, for token
files, word (0-based index of the worst word)."""

#: Options of this command that are not TrainConfig fields.
OWN_OPTIONS = ("folds", "data_map", "work_dir", "resume", "progress_jsonl", "stop_file")


def _folds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {value}")
    return value


def add_parser(sub, fmt, add_run_args: Callable[..., None]) -> None:
    """Add the ``label-issues`` subcommand to ``python -m kdemo``'s subparsers.

    Args:
        sub: The ``add_subparsers`` object of the main parser.
        fmt: The help formatter class.
        add_run_args: ``kdemo.cli``'s function adding the options that fill a TrainConfig (``training=True``).
    """
    p = sub.add_parser("label-issues", help="find the training rows that are probably mislabeled (cleanlab)",
                       formatter_class=fmt, epilog=LABEL_ISSUES_EPILOG,
                       description="Find the training rows whose label is probably wrong: K-fold out-of-sample "
                                   "predictions given to cleanlab, or one run's data map.")
    add_run_args(p, training=True)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--folds", type=_folds, default=5, metavar="K",
                     help="K of the cross-validation: K runs, each on the other K-1 folds (default: %(default)s)")
    how.add_argument("--data-map", action="store_true", help="one run's training dynamics instead (quick)")
    p.add_argument("--out", required=True, metavar="CSV", help="CSV file to write the flagged rows to")
    p.add_argument("--work-dir", metavar="DIR", help="save each finished fold there (.npy + .json)")
    p.add_argument("--resume", action="store_true", help="skip the folds saved in --work-dir by the same search")
    p.add_argument("--progress-jsonl", action="store_true",
                   help="print progress as JSON lines on stdout (with fold and folds) instead of a progress bar")
    p.add_argument("--stop-file", metavar="FILE", help="stop after the current batch once FILE exists")


class FoldBars:
    """One tqdm bar per fold (``fold k/K``), or JSON lines with the fold, fed by the search's events."""

    def __init__(self, json_lines: bool = False):
        self.json_lines, self.bar, self.fold = json_lines, None, None

    def __call__(self, event) -> None:
        fold, folds = getattr(event, "fold", None), getattr(event, "folds", None)
        if self.json_lines:
            print(progress_line(event), flush=True)
            return
        if self.bar is None or fold != self.fold:
            self.close()
            self.bar, self.fold = ProgressBar(f"fold {fold + 1}/{folds}" if fold is not None else "train"), fold
        self.bar(event)

    def close(self) -> None:
        """Close the bar in use."""
        if self.bar is not None:
            self.bar.close()


def run_label_issues(args: argparse.Namespace, config_from_args: Callable[[argparse.Namespace], object]) -> int:
    """``label-issues``: search, print a summary (examples, flagged, the 10 lowest label qualities), write the CSV.

    Args:
        args: The parsed options.
        config_from_args: ``kdemo.cli``'s function building the TrainConfig from the options.

    Returns:
        0, or 1 when stopped before the search finished (nothing written).

    Raises:
        KdemoError: On unusable data, model or options (the CLI prints the message).
    """
    options = vars(args)
    config = config_from_args(argparse.Namespace(**{k: v for k, v in options.items() if k not in OWN_OPTIONS}))
    stop = threading.Event()
    if options.get("stop_file"):
        watch_stop_file(args.stop_file, stop)
    bars = FoldBars(json_lines=bool(options.get("progress_jsonl")))
    try:
        issues = find_label_issues(config, folds=args.folds, data_map=args.data_map, work_dir=args.work_dir,
                                   resume=args.resume, progress=bars, stop=stop)
    finally:
        bars.close()
    if issues is None:
        print("stopped: nothing written" + (f" (finished folds are in {args.work_dir}; add --resume)"
                                            if args.work_dir else ""), file=sys.stderr)
        return 1
    print(issues.summary(top=10))
    dest = issues.to_csv(args.out)
    print(json.dumps({"examples": len(issues.table), "flagged": len(issues), "out": str(dest)})
          if options.get("progress_jsonl") else f"wrote {len(issues)} flagged rows to {dest}")
    return 0
