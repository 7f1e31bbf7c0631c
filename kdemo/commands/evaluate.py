"""``python -m kdemo evaluate RUN TEST_FILE`` and ``python -m kdemo compare RUN_A RUN_B TEST_FILE``."""

from __future__ import annotations

import argparse
import json

from kdemo.run.evaluate_runs import compare, evaluate

EVALUATE_EPILOG = """\
example:
  python -m kdemo evaluate my-model test.csv --json

Scores the saved run on a labelled file with the run's columns (or --text-column/--label-column): the full
report as for validation, each metric with its 95 % bootstrap confidence interval."""

COMPARE_EPILOG = """\
example:
  python -m kdemo compare run-a run-b test.csv --json

Scores both runs on the same file; per metric: B - A, its 95 % paired-bootstrap CI and a p-value (McNemar's exact
test for accuracy, a paired bootstrap for F1, macro-F1, entity F1, MAE ...), and one plain sentence."""


def add_parsers(sub, fmt) -> None:
    """Add the ``evaluate`` and ``compare`` subcommands to ``python -m kdemo``'s subparsers.

    Args:
        sub: The ``add_subparsers`` object of the main parser.
        fmt: The help formatter class.
    """
    for name, runs, epilog, help_text in (
        ("evaluate", ("run",), EVALUATE_EPILOG, "score a saved run on a labelled test file, with 95 percent CIs"),
        ("compare", ("run_a", "run_b"), COMPARE_EPILOG, "compare two saved runs on one test file (paired tests)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                           epilog=epilog, formatter_class=fmt)
        for run in runs:
            p.add_argument(run, metavar=run.upper(), help="run folder written by 'train'")
        p.add_argument("test_file", metavar="TEST_FILE", help="labelled file with the run's columns")
        p.add_argument("--text-column", metavar="TEXT", help="column with the texts (default: the run's)")
        p.add_argument("--label-column", metavar="LABEL", action="append",
                       help="label column (default: the run's); repeat it for several 0/1 columns")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default: 2000)")


def run_evaluate(args: argparse.Namespace) -> int:
    """``evaluate``: print the report with CIs, or one JSON object with ``--json``."""
    result = evaluate(args.run, args.test_file, text_column=args.text_column, label_column=args.label_column,
                      n_resamples=args.resamples)
    print(json.dumps(result.to_dict()) if args.json else result)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """``compare``: print each metric's paired test, or one JSON object with ``--json``."""
    result = compare(args.run_a, args.run_b, args.test_file, text_column=args.text_column,
                     label_column=args.label_column, n_resamples=args.resamples)
    print(json.dumps(result.to_dict()) if args.json else result)
    return 0
