"""One owner for a training run: TrainConfig, kdemo.train, TrainResult.save, and the CLI on every task.

The CLI runs train single-label, multi-label (GoEmotions, 400 rows) and regression on sentence pairs (a generated
STS-like table); each folder loads with kdemo and with transformers.pipeline, and ``train --config`` reproduces
each run's metrics. The same run through the Python API, the CLI and the Train tab's job writes a
``training_params.json`` with the same keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import transformers
from conftest import sentiment_frame
from tiny_models import WORDS

import kdemo
from kdemo.cli import main
from kdemo.errors import DataError, TrainingError
from kdemo.run.config import TrainConfig
from kdemo.run.result import PARAMS_FILE

REPO = Path(__file__).resolve().parents[2]
GOEMOTIONS = REPO.parent / "shared" / "data" / "goemotions" / "train.csv"


def sts_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A generated STS-like table: two sentences and their similarity 0–5 (5 × the share of shared words)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        a = rng.choice(WORDS[:40], size=6, replace=False).tolist()
        keep = int(rng.integers(0, 7))
        b = a[:keep] + rng.choice([w for w in WORDS[:40] if w not in a], size=6 - keep, replace=False).tolist()
        rows.append({"sentence1": " ".join(a), "sentence2": " ".join(rng.permutation(b)), "score": round(5 * keep / 6, 3)})
    return pd.DataFrame(rows)


def _params(folder: Path) -> dict:
    return json.loads((folder / PARAMS_FILE).read_text())


def _keys(value, prefix: str = "") -> set[str]:
    """Every key path of a nested dict, e.g. ``resolved.maxlen`` (list values: one level)."""
    if not isinstance(value, dict):
        return set()
    out = set()
    for key, inner in value.items():
        path = f"{prefix}{key}"
        out.add(path)
        if key != "metrics":  # metric names depend on the task
            out |= _keys(inner, path + ".")
    return out


# --- TrainConfig -----------------------------------------------------------------------------------------------


def test_config_round_trips_through_json(tmp_path):
    cfg = TrainConfig(train_file="data.csv", label_columns=["a", "b"], text_pair_column="b2", task="multi_label",
                      schedule="autofit", early_stopping=2, epochs=5, lr="3e-4", maxlen=64.0, class_weight="balanced")
    assert cfg.label_columns == ("a", "b") and cfg.lr == 3e-4 and cfg.maxlen == 64 and cfg.data_name == "data.csv"
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_json(path) == cfg
    assert TrainConfig.from_dict({"config_version": 1, "config": cfg.to_dict(), "metrics": {}}) == cfg
    assert cfg.replace(epochs=2).epochs == 2 and cfg.epochs == 5


@pytest.mark.parametrize(("changes", "phrase"), [
    ({"lr": 2.0}, "Expected lr between 0 and 1"),
    ({"lr": "fast"}, "Expected lr to be a number"),
    ({"epochs": 0}, "Expected epochs between 1 and 1000"),
    ({"batch_size": 2.5}, "Expected batch_size to be a whole number"),
    ({"task": "ner"}, "Expected task one of"),
    ({"schedule": "cosine"}, "Expected schedule one of"),
    ({"precision": "fp16"}, "Expected precision one of"),
    ({"freeze_lower": 1.5}, "Expected freeze_lower between 0 and 1"),
    ({"class_weight": "auto"}, "Expected class_weight None or 'balanced'"),
    ({"text_column": "t", "text_pair_column": "t"}, "Expected text_pair_column a column other than text_column"),
    ({"val_file": "v.csv"}, "Expected val_file to come with a train_file"),
    ({"label_columns": ["ok", ""]}, "Expected label_columns to be column names"),
])
def test_config_refuses_bad_values_with_the_field_named(changes, phrase):
    with pytest.raises(TrainingError, match=phrase) as info:
        TrainConfig(**changes)
    assert "Received:" in str(info.value)


def test_config_from_dict_refuses_unknown_fields_and_newer_versions(tmp_path):
    with pytest.raises(TrainingError, match=r"Received: \['learning_rate'\]"):
        TrainConfig.from_dict({"learning_rate": 1e-4})
    with pytest.raises(TrainingError, match="config version 1 or older"):
        TrainConfig.from_dict({"config_version": 99, "config": {}})
    with pytest.raises(TrainingError, match="does not exist"):
        TrainConfig.from_json(tmp_path / "missing.json")


# --- kdemo.train from Python ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_run(tiny_bert_dir, tmp_path_factory):
    cfg = TrainConfig(model_name=str(tiny_bert_dir), epochs=3, lr=1e-3, batch_size=8, precision="fp32",
                      data_name="reviews.csv")
    events = []
    result = kdemo.train(cfg, train_df=sentiment_frame(), progress=events.append)
    folder = result.save(tmp_path_factory.mktemp("py") / "model")
    return cfg, result, folder, events


def test_train_returns_the_whole_run(python_run):
    cfg, result, _, events = python_run
    assert result.config is cfg
    assert result.report.accuracy >= 0.9 and result.metrics["accuracy"] == result.report.accuracy
    assert len(result.history.history["loss"]) == 3
    steps = [e.step for e in events if e.phase == "train"]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] == result.params["resolved"]["steps"] == 69
    assert [p[0] for p in result.record.val_points] == [23, 46, 69]
    assert result.predictor.predict("the movie was great fun") == "positive"
    resolved = result.params["resolved"]
    assert resolved["task"] == "single_label" and resolved["class_names"] == ["negative", "positive"]
    assert resolved["text_column"] == "text" and resolved["label_columns"] == ["label"]  # guessed
    assert resolved["frozen"] == "nothing (every layer trained)" and resolved["precision"] == "fp32"
    assert result.predictor.meta["text_pairs"] is False  # the Attention tab offers no second text for it


def test_saved_run_folder_loads_everywhere_and_describes_the_run(python_run):
    _, result, folder, _ = python_run
    for name in ("config.json", "model.safetensors", "kdemo.json", "README.md", PARAMS_FILE, "training_results.json",
                 "training_curve.png", "confusion_matrix.png"):
        assert (folder / name).is_file(), name
    params = _params(folder)
    assert params["config"]["epochs"] == 3 and params["config"]["schedule"] == "one_cycle"
    assert params["metrics"]["accuracy"] == pytest.approx(result.report.accuracy)
    assert {"device", "torch", "transformers", "keras", "kdemo"} <= set(params["environment"])
    assert str(folder.parent) not in (folder / PARAMS_FILE).read_text()  # no local paths
    card = (folder / "README.md").read_text()
    assert "one-cycle" in card and "1.00e-03" in card
    texts = ["the movie was great fun", "the movie was awful and boring"]
    ours = kdemo.load_predictor(folder).predict_proba(texts)
    pipe = transformers.pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
    for row, scores in zip(ours, pipe(texts)):
        got = {d["label"]: d["score"] for d in scores}
        np.testing.assert_allclose([got["negative"], got["positive"]], row, atol=1e-5)


def test_train_stopped_before_it_starts_trains_nothing(tiny_bert_dir):
    import threading

    stop = threading.Event()
    stop.set()
    cfg = TrainConfig(model_name=str(tiny_bert_dir), precision="fp32")
    assert kdemo.train(cfg, train_df=sentiment_frame(40), stop=stop) is None


def test_train_names_missing_columns_and_data():
    with pytest.raises(DataError, match="Expected training data"):
        kdemo.train(TrainConfig())
    with pytest.raises(DataError, match=r"Expected a column 'review'"):
        kdemo.train(TrainConfig(text_column="review"), train_df=sentiment_frame(20))


# --- the CLI on every task --------------------------------------------------------------------------------------


def _cli(*argv) -> None:
    assert main([str(a) for a in argv]) == 0


def _reproduce(folder: Path, data: Path, out: Path, model: Path) -> None:
    """``train --config`` with the saved params: the same metrics to 1e-3 (local paths are given again)."""
    _cli("train", "--config", folder / PARAMS_FILE, data, "--model", model, "--out", out)
    first, again = _params(folder), _params(out)
    assert again["config"] == {**first["config"], "train_file": again["config"]["train_file"]}
    for name, value in first["metrics"].items():
        assert again["metrics"][name] == pytest.approx(value, abs=1e-3), name


def test_cli_single_label_and_reproduction(tiny_bert_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    sentiment_frame().to_csv(data, index=False)
    _cli("train", data, "--model", tiny_bert_dir, "--epochs", "3", "--lr", "1e-3", "--batch-size", "8",
         "--precision", "fp32", "--out", tmp_path / "m")
    assert _params(tmp_path / "m")["resolved"]["task"] == "single_label"
    assert kdemo.load_predictor(tmp_path / "m").predict("the movie was great") == "positive"
    assert _params(tmp_path / "m")["metrics"]["accuracy"] >= 0.9
    _reproduce(tmp_path / "m", data, tmp_path / "again", tiny_bert_dir)


@pytest.mark.skipif(not GOEMOTIONS.exists(), reason="../shared/data/goemotions is absent")
def test_cli_multi_label_goemotions_and_reproduction(tiny_bert_dir, tmp_path, capsys):
    data = tmp_path / "go400.csv"
    pd.read_csv(GOEMOTIONS, dtype=str, keep_default_na=False).head(400).to_csv(data, index=False)
    _cli("train", data, "--label-column", "labels", "--model", tiny_bert_dir, "--maxlen", "32", "--lr", "1e-3",
         "--batch-size", "32", "--precision", "fp32", "--out", tmp_path / "go")
    assert "columns: text='text' label='labels'" in capsys.readouterr().out
    params = _params(tmp_path / "go")
    assert params["resolved"]["task"] == "multi_label" and len(params["resolved"]["class_names"]) >= 20
    assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(params["metrics"])
    predictor = kdemo.load_predictor(tmp_path / "go")
    text = "Thank you so much, this is wonderful"
    pipe = transformers.pipeline("text-classification", model=str(tmp_path / "go"), top_k=None, device="cpu")
    got = {d["label"]: d["score"] for d in pipe([text])[0]}
    np.testing.assert_allclose([got[c] for c in predictor.get_classes()], predictor.predict_proba([text])[0], atol=1e-5)
    _reproduce(tmp_path / "go", data, tmp_path / "go2", tiny_bert_dir)


def test_cli_regression_on_sentence_pairs_and_reproduction(tiny_bert_dir, tmp_path, capsys):
    data = tmp_path / "sts.csv"
    sts_frame().to_csv(data, index=False)
    _cli("train", data, "--text-column", "sentence1", "--text-pair-column", "sentence2", "--label-column", "score",
         "--task", "regression", "--model", tiny_bert_dir, "--epochs", "3", "--lr", "1e-3", "--batch-size", "16",
         "--precision", "fp32", "--out", tmp_path / "sts")
    assert "text-pair='sentence2'" in capsys.readouterr().out
    params = _params(tmp_path / "sts")
    assert params["resolved"]["task"] == "regression" and params["resolved"]["text_pair_column"] == "sentence2"
    assert {"mae", "rmse", "r2"} <= set(params["metrics"])
    predictor = kdemo.load_predictor(tmp_path / "sts")
    assert predictor.meta["text_pairs"] is True  # kdemo.json says it reads sentence pairs
    pair = ("good movie plot", "good movie story")
    ours = float(predictor.predict_proba([pair])[0][0])
    pipe = transformers.pipeline("text-classification", model=str(tmp_path / "sts"), function_to_apply="none",
                                 device="cpu")
    assert pipe({"text": pair[0], "text_pair": pair[1]})["score"] == pytest.approx(ours, abs=1e-5)
    _reproduce(tmp_path / "sts", data, tmp_path / "sts2", tiny_bert_dir)


def test_cli_config_without_its_local_data_file_asks_for_it(python_run, tmp_path, capsys):
    _, _, folder, _ = python_run  # trained from a DataFrame: no file to read again
    assert main(["train", "--config", str(folder / PARAMS_FILE), "--out", str(tmp_path / "x")]) == 1
    assert "Expected a training table" in capsys.readouterr().err
    assert main(["train", "--config", str(folder / PARAMS_FILE), str(REPO / "assets" / "x.csv"),
                 "--out", str(tmp_path / "x")]) == 1
    assert "Give it again: --model DIR" in capsys.readouterr().err


# --- one schema, three front doors ------------------------------------------------------------------------------


def test_ui_cli_and_python_write_the_same_params_schema(tiny_bert_dir, python_run, tmp_path):
    from kdemo.jobs import FINISHED
    from kdemo.ui.session import DEVICE_QUEUE, SessionStore
    from kdemo.ui.train_job import make_config, training_job

    data = tmp_path / "reviews.csv"
    sentiment_frame().to_csv(data, index=False)
    _cli("train", data, "--model", tiny_bert_dir, "--epochs", "1", "--precision", "fp32", "--out", tmp_path / "cli")
    session = SessionStore(root=tmp_path / "sessions")._new("schema-test")
    session.data = kdemo.run.read_data(  # as the Data tab holds an upload
        TrainConfig(data_name="reviews.csv", text_column="text", label_columns=("label",)), sentiment_frame())
    cfg = make_config(session, str(tiny_bert_dir), None, 32, 1e-4, 1, "fp32", 0.1, freeze=False)
    job = DEVICE_QUEUE.submit(training_job(session, cfg))
    assert job.wait(300) and job.state == FINISHED, job.error
    ui = _params(session.workdir / "model")
    python = python_run[1].params
    assert _keys(ui) == _keys(_params(tmp_path / "cli")) == _keys(python)
    assert ui["config"]["data_name"] == "reviews.csv" and ui["resolved"]["frozen"] == "nothing (every layer trained)"


def test_train_tab_trains_from_the_sessions_own_model_folder(tiny_bert_dir, tmp_path):
    """The session's own folder is allowed by its policy; the job used to load it under the default policy."""
    from kdemo.jobs import FINISHED
    from kdemo.ui.session import DEVICE_QUEUE, SessionStore
    from kdemo.ui.train_job import make_config, training_job

    session = SessionStore(root=tmp_path / "sessions")._new("own-folder")
    session.data = kdemo.run.read_data(  # as the Data tab holds an upload
        TrainConfig(data_name="reviews.csv", text_column="text", label_columns=("label",)), sentiment_frame(80))
    for model_name in (str(tiny_bert_dir), str(session.workdir / "model")):  # then fine-tune the session's model
        cfg = make_config(session, model_name, 32, 16, 1e-3, 1, "fp32", 0.2, freeze=False)
        job = DEVICE_QUEUE.submit(training_job(session, cfg))
        assert job.wait(300) and job.state == FINISHED, job.error
    assert _params(session.workdir / "model")["resolved"]["steps"] == 4
    assert session.result.config.model_name == str(session.workdir / "model")


# --- the same three tasks on the real MiniLM (slow) --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not GOEMOTIONS.exists(), reason="../shared/data is absent")
@pytest.mark.parametrize("task", ["single_label", "multi_label", "regression_pairs"])
def test_cli_trains_minilm_on_every_task_and_reproduces_it(task, tmp_path):
    """The issue's acceptance run: the embedded MiniLM through the CLI, each folder loaded by kdemo and by
    transformers.pipeline, and ``train --config`` giving the same metrics to 1e-3."""
    shared = GOEMOTIONS.parents[1]
    data = tmp_path / "data.csv"
    if task == "single_label":
        pd.read_csv(shared / "sst2" / "train.csv", dtype=str, keep_default_na=False).head(1000).to_csv(data, index=False)
        args = ["--label-column", "label", "--lr", "3e-4", "--epochs", "2"]
    elif task == "multi_label":
        pd.read_csv(GOEMOTIONS, dtype=str, keep_default_na=False).head(400).to_csv(data, index=False)
        args = ["--label-column", "labels", "--lr", "5e-4", "--epochs", "3"]
    else:
        sts_frame(800).to_csv(data, index=False)
        args = ["--text-column", "sentence1", "--text-pair-column", "sentence2", "--label-column", "score",
                "--task", "regression", "--lr", "3e-4", "--epochs", "5"]
    out = tmp_path / "model"
    _cli("train", data, *args, "--maxlen", "32" if task == "regression_pairs" else "64", "--out", out)
    params = _params(out)
    print(task, params["resolved"]["task"], params["metrics"])
    floor = {"single_label": ("accuracy", 0.8), "multi_label": ("micro_f1", 0.25), "regression_pairs": ("r2", 0.8)}
    metric, minimum = floor[task]
    assert params["metrics"][metric] >= minimum, params["metrics"]  # it really learned
    predictor = kdemo.load_predictor(out)
    text = ("good movie plot", "good movie story") if task == "regression_pairs" else "a gorgeous, witty movie"
    ours = predictor.predict_proba([text])[0]
    if task == "regression_pairs":
        pipe = transformers.pipeline("text-classification", model=str(out), function_to_apply="none", device="cpu")
        assert pipe({"text": text[0], "text_pair": text[1]})["score"] == pytest.approx(float(ours[0]), abs=1e-4)
    else:
        pipe = transformers.pipeline("text-classification", model=str(out), top_k=None, device="cpu")
        got = {d["label"]: d["score"] for d in pipe([text])[0]}
        np.testing.assert_allclose([got[c] for c in predictor.get_classes()], ours, atol=1e-4)
    _cli("train", "--config", out / PARAMS_FILE, data, "--out", tmp_path / "again")
    for name, value in params["metrics"].items():
        assert _params(tmp_path / "again")["metrics"][name] == pytest.approx(value, abs=1e-3), name
