"""Command line (``python -m kdemo``): train, predict, lr-find, exit codes, and one slow run on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kdemo
from kdemo.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tmp_path_factory) -> tuple[Path, Path]:
    """``(model_folder, data_csv)``: the tiny BERT fine-tuned through the CLI on the toy sentiment table."""
    from conftest import sentiment_frame

    tmp = tmp_path_factory.mktemp("cli")
    data = tmp / "reviews.csv"
    sentiment_frame().to_csv(data, index=False)
    out = tmp / "model"
    code = main(["train", str(data), "--text-column", "text", "--label-column", "label", "--model", str(tiny_bert_dir),
                 "--epochs", "3", "--lr", "1e-3", "--batch-size", "8", "--precision", "fp32", "--out", str(out)])
    assert code == 0
    return out, data


def test_train_writes_a_loadable_accurate_predictor(trained):
    out, data = trained
    assert (out / "README.md").is_file() and (out / "kdemo.json").is_file()
    meta = json.loads((out / "kdemo.json").read_text())
    params = json.loads((out / "training_params.json").read_text())
    assert params["config"]["epochs"] == 3 and params["config"]["schedule"] == "one_cycle"
    assert params["resolved"]["schedule"].startswith("one-cycle")
    assert set(meta["metrics"]) == {"accuracy", "macro_f1", "num_rows"} == set(params["metrics"])
    assert meta["example"].startswith("the movie was")
    predictor = kdemo.load_predictor(out)
    df = pd.read_csv(data)
    accuracy = np.mean(np.array(predictor.predict(df["text"].tolist())) == df["label"].to_numpy())
    assert accuracy >= 0.9
    assert "accuracy" in (out / "README.md").read_text()


def test_predict_writes_probabilities_and_neutralises_formulas(trained, tmp_path):
    out, _ = trained
    # No apostrophes: the tiny test tokenizer maps "'" to an id outside its embedding table.
    rows = pd.DataFrame({
        "id": ["1", "2", "3", "4", "5"],
        "text": ["the movie was great fun", "=HYPERLINK(\"http://x\")", "+cmd|/c calc!A1", "-2+3", "@SUM(A1)"],
        "note": ["-1.5", "=1+1", "ok", "x", "y"],
    })
    src = tmp_path / "new.csv"
    rows.to_csv(src, index=False)
    dest = tmp_path / "preds.csv"
    assert main(["predict", str(out), str(src), "--text-column", "text", "--out", str(dest)]) == 0
    res = pd.read_csv(dest, dtype=str, keep_default_na=False)
    assert list(res.columns) == ["id", "text", "note", "prediction", "prob_negative", "prob_positive"]
    probs = res[["prob_negative", "prob_positive"]].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert set(res["prediction"]) <= {"negative", "positive"}
    assert res.loc[0, "prediction"] == "positive"
    assert res.loc[0, "text"] == "the movie was great fun"
    assert res["text"].iloc[1:].str.startswith("'").all()
    assert res.loc[1, "text"] == "'=HYPERLINK(\"http://x\")"
    assert res["note"].tolist() == ["-1.5", "'=1+1", "ok", "x", "y"]  # numbers stay numbers


@pytest.mark.parametrize("argv", [[], ["train"], ["frobnicate"], ["train", "x.csv"], ["train", "x.csv", "--out", "o",
                                                                                      "--epochs", "zero"]])
def test_bad_usage_returns_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_missing_text_column_fails_cleanly(tiny_bert_dir, sentiment_csv, tmp_path, capsys):
    code = main(["train", str(sentiment_csv), "--text-column", "review", "--label-column", "label",
                 "--model", str(tiny_bert_dir), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and "'review'" in err and "['text', 'label']" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_predict_missing_folder_fails_cleanly(sentiment_csv, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope"), str(sentiment_csv), "--out", str(tmp_path / "p.csv")]) == 1
    assert capsys.readouterr().err.startswith("error: Expected a predictor folder")


def test_push_without_predictor_folder_fails_without_leaking_token(tmp_path, capsys):
    assert main(["push", str(tmp_path), "me/model", "--token", "hf_secret123"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "hf_secret123" not in captured.err + captured.out


def test_lr_find_writes_png_with_guessed_columns(tiny_bert_dir, sentiment_csv, tmp_path, capsys):
    plot = tmp_path / "lr.png"
    code = main(["lr-find", str(sentiment_csv), "--model", str(tiny_bert_dir), "--batch-size", "16",
                 "--num-steps", "25", "--plot", str(plot)])
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "columns: text='text' label='label'" in out  # guessed when not given
    assert "suggested lr" in out


def test_help_lists_commands_with_examples():
    text = build_parser().format_help()
    for command in ("train", "predict", "lr-find", "push"):
        assert command in text
    sub = build_parser()._subparsers._group_actions[0].choices
    for name, parser in sub.items():
        assert f"python -m kdemo {name}" in parser.format_help()


def test_module_help_exits_0():
    res = subprocess.run([sys.executable, "-m", "kdemo", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "train" in res.stdout and "examples:" in res.stdout


@pytest.mark.slow
def test_cli_trains_minilm_on_sms_spam(tmp_path):
    data = SHARED_DATA / "sms_spam"
    if not (data / "train.csv").exists():
        pytest.skip(f"shared data not found at {data}")
    train = tmp_path / "train.csv"
    pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False).head(1000).to_csv(train, index=False)
    model = tmp_path / "model"
    assert main(["train", str(train), "--text-column", "text", "--label-column", "label", "--epochs", "1",
                 "--lr", "5e-4", "--out", str(model)]) == 0
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(data / "test.csv"), "--text-column", "text", "--out", str(preds)]) == 0
    res = pd.read_csv(preds, dtype=str, keep_default_na=False)
    truth = pd.read_csv(data / "test.csv", dtype=str, keep_default_na=False)["label"]
    accuracy = float((res["prediction"] == truth).mean())
    print(f"sms_spam test accuracy: {accuracy:.4f} ({len(res)} rows)")
    assert accuracy >= 0.9


def test_train_resume_continues_a_stopped_run(tiny_bert_dir, tmp_path, capsys, monkeypatch):
    """``--checkpoint-folder`` writes resumable checkpoints; ``--resume`` continues a stopped run to its end."""
    import threading

    from conftest import sentiment_frame

    from kdemo.modeling.step import StepLog

    monkeypatch.setattr(StepLog, "due", lambda self: True)  # every step's event right after it: Stop lands at step 20

    data, ckpt = tmp_path / "reviews.csv", tmp_path / "ckpt"
    sentiment_frame(120).to_csv(data, index=False)
    args = ["train", str(data), "--text-column", "text", "--label-column", "label", "--model", str(tiny_bert_dir),
            "--epochs", "2", "--lr", "1e-3", "--batch-size", "8", "--precision", "fp32"]
    config = kdemo.cli.config_from_args(build_parser().parse_args([*args, "--out", str(tmp_path / "x")]))
    stop = threading.Event()
    kdemo.train(config, progress=lambda e: e.step == 20 and stop.set(), stop=stop, checkpoint_folder=ckpt)  # 14 steps/epoch
    assert json.loads((ckpt / "resume" / "state.json").read_text())["step"] == 20
    assert main([*args, "--resume", str(ckpt), "--out", str(tmp_path / "model")]) == 0
    state = json.loads((ckpt / "resume" / "state.json").read_text())
    assert state["finished"] and state["step"] == 28 and (tmp_path / "model" / "model.safetensors").is_file()
    capsys.readouterr()
    assert main([*args, "--resume", str(ckpt), "--out", str(tmp_path / "again")]) == 1  # nothing left to resume
    assert "planned end" in capsys.readouterr().err
