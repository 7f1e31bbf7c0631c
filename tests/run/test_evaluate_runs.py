"""kdemo.evaluate / kdemo.compare and ``python -m kdemo evaluate|compare``: saved runs scored on a test file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import sentiment_frame
from statsmodels.stats.contingency_tables import mcnemar

import kdemo
from kdemo.cli import main
from kdemo.errors import DataError
from kdemo.run.config import TrainConfig


@pytest.fixture(scope="module")
def two_runs(tiny_bert_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    df = sentiment_frame(200)
    folders = []
    for name, lr, epochs in (("good", 1e-3, 3), ("bad", 1e-7, 1)):  # 1e-7 leaves the random head: near chance
        cfg = TrainConfig(model_name=str(tiny_bert_dir), epochs=epochs, lr=lr, batch_size=16, precision="fp32", track=False)
        folders.append(kdemo.train(cfg, train_df=df).save(root / name))
    test = sentiment_frame(120, seed=5)
    test.to_csv(root / "test.csv", index=False)
    return root, folders[0], folders[1]


def test_evaluate_gives_the_report_and_a_ci_per_metric(two_runs):
    root, good, _ = two_runs
    result = kdemo.evaluate(good, root / "test.csv", n_resamples=500)
    assert result.report.num_rows == 120
    acc = result.intervals["accuracy"]
    assert acc.value == pytest.approx(result.report.accuracy) and acc.low <= acc.value <= acc.high
    assert result.intervals["macro_f1"].value == pytest.approx(result.report.macro_f1)
    # the same numbers as the predictor's own predictions
    test = kdemo.read_table(root / "test.csv")
    preds = kdemo.load_predictor(good).predict(test["text"].tolist())
    assert acc.value == pytest.approx(np.mean(np.asarray(preds) == test["label"].to_numpy()))
    assert set(result.to_dict()["metrics"]) == {"accuracy", "macro_f1"}
    assert "accuracy" in str(result) and "95 % CI" in str(result)


def test_compare_uses_mcnemar_for_accuracy_and_a_paired_bootstrap_for_macro_f1(two_runs):
    root, good, bad = two_runs
    cmp = kdemo.compare(bad, good, root / "test.csv", n_resamples=500)
    acc = cmp.tests["accuracy"]
    a, b = cmp.a.scores.correct, cmp.b.scores.correct
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    assert acc.test == "mcnemar_exact" and acc.p_value == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert acc.difference == pytest.approx(b.mean() - a.mean())
    assert cmp.tests["macro_f1"].test == "paired_bootstrap"
    assert acc.difference > 0.2 and acc.p_value < 0.01 and acc.low > 0
    assert cmp.sentence().startswith("run B is better than run A by") and "unlikely to be chance" in cmp.sentence()


def test_cli_evaluate_and_compare_print_one_json_object(two_runs, capsys):
    root, good, bad = two_runs
    assert main(["evaluate", str(good), str(root / "test.csv"), "--json", "--resamples", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]["accuracy"]) == {"value", "ci_low", "ci_high"} and out["rows"] == 120
    assert main(["compare", str(bad), str(good), str(root / "test.csv"), "--json", "--resamples", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    acc = out["metrics"]["accuracy"]
    assert acc["test"] == "mcnemar_exact" and 0 <= acc["p_value"] <= 1 and acc["difference"] == acc["b"] - acc["a"]
    assert {"a", "b", "difference", "ci_low", "ci_high", "test", "p_value", "sentence"} <= set(acc)


def test_unknown_labels_and_missing_columns_are_named(two_runs, tmp_path):
    root, good, _ = two_runs
    bad = sentiment_frame(5)
    bad.loc[3, "label"] = "neutral"
    bad.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="row 5"):
        kdemo.evaluate(good, tmp_path / "t.csv")
    bad.rename(columns={"text": "review"}).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(DataError, match="--text-column"):
        kdemo.evaluate(good, tmp_path / "r.csv")
