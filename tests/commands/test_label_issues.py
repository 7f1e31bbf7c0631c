"""``python -m kdemo label-issues``: its options, the TrainConfig they build, and one run writing the CSV."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import sentiment_frame
from kdemo.cli import build_parser, config_from_args, main
from kdemo.commands.label_issues import OWN_OPTIONS


def _parse(argv):
    return build_parser().parse_args(["label-issues", *argv])


def test_options_fill_the_config_and_the_search():
    args = _parse(["data.csv", "--text-column", "t", "--label-column", "l", "--epochs", "3", "--lr", "2e-4",
                   "--no-track", "--folds", "4", "--work-dir", "w", "--resume", "--out", "i.csv"])
    assert (args.folds, args.data_map, args.work_dir, args.resume, args.out) == (4, False, "w", True, "i.csv")
    config = config_from_args(argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in OWN_OPTIONS}))
    assert (config.train_file, config.text_column, config.label_columns) == ("data.csv", "t", ("l",))
    assert (config.epochs, config.lr, config.track) == (3, 2e-4, False)
    assert _parse(["d.csv", "--data-map", "--out", "o.csv"]).data_map is True
    assert _parse(["d.csv", "--out", "o.csv"]).folds == 5


@pytest.mark.parametrize("argv", [["d.csv"], ["d.csv", "--folds", "1", "--out", "o"],
                                  ["d.csv", "--folds", "3", "--data-map", "--out", "o"]])
def test_bad_usage_exits_2(argv, capsys):
    assert main(["label-issues", *argv]) == 2


def test_writes_the_flagged_rows(tiny_bert_dir, tmp_path, capsys, one_torch_thread):
    data = tmp_path / "reviews.csv"
    sentiment_frame(24, seed=2).to_csv(data, index=False)
    out = tmp_path / "issues.csv"
    code = main(["label-issues", str(data), "--text-column", "text", "--label-column", "label", "--model",
                 str(tiny_bert_dir), "--epochs", "1", "--batch-size", "8", "--maxlen", "16", "--precision", "fp32",
                 "--no-track", "--folds", "2", "--progress-jsonl", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "24 examples" in stdout and '"fold": 1' in stdout
    last = json.loads(stdout.strip().splitlines()[-1])
    written = pd.read_csv(out)
    assert list(written.columns) == ["row", "text", "given_label", "suggested_label", "label_quality"]
    assert last == {"examples": 24, "flagged": len(written), "out": str(out)}


def test_question_answering_is_refused(tiny_bert_dir, tmp_path, capsys):
    qa = tmp_path / "qa.csv"
    pd.DataFrame({"question": ["Who?"] * 3, "context": ["Ann wrote it."] * 3,
                  "answers": ['{"text": ["Ann"], "answer_start": [0]}'] * 3}).to_csv(qa, index=False)
    code = main(["label-issues", str(qa), "--task", "question_answering", "--model", str(Path(tiny_bert_dir)),
                 "--no-track", "--folds", "2", "--out", str(tmp_path / "o.csv")])
    assert code == 1 and "Expected a task with labels" in capsys.readouterr().err
