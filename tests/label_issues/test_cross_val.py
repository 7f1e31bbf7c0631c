"""The parts of the K-fold search that need no training: fold settings, the examples of tables and token files
(labels, fold data, saved predictions), and the data-map delegation."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

import kdemo
from kdemo.errors import DataError
from kdemo.run.label_issues import api
from kdemo.run.label_issues.cross_val import examples_for, fingerprint, fold_config
from kdemo.run.pipeline import read_data

CONLL = "John\tB-PER\nruns\tO\n\nAcme\tB-ORG\nsells\tO\n\nBerlin\tB-LOC\nwaits\tO\n\nAnn\tB-PER\nsings\tO\n"


def test_fold_runs_are_named_and_tracked_only_when_the_run_is():
    tracked = kdemo.TrainConfig(run_name="mine", quick_baseline=True)
    assert fold_config(tracked, 1, 5).run_name == "mine fold 2/5" and not fold_config(tracked, 1, 5).quick_baseline
    quiet = kdemo.TrainConfig(track=False, data_name="reviews.csv")
    assert fold_config(quiet, 0, 5).run_name is None and fold_config(quiet, 0, 5).track is False
    assert fold_config(kdemo.TrainConfig(data_name="r.csv"), 0, 3).run_name == "r.csv fold 1/3"


def test_table_examples_per_layout_and_fold_data():
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "labels": ["x|y", "y", "z", "x"]})
    data = read_data(kdemo.TrainConfig(label_columns=("labels",), task="multi_label"), df)
    ex = examples_for(data)
    assert ex.class_names == ("x", "y", "z") and ex.labels.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert ex.given() == ["x, y", "y", "z", "x"] and ex.strata is None
    fold = ex.fold_data(np.array([0, 1]), np.array([2, 3]))  # 'z' is unseen in training: row 2 cannot validate
    assert fold.train_df["text"].tolist() == ["a", "b"] and fold.val_df["text"].tolist() == ["d"]
    scores = pd.DataFrame({"text": ["a", "b"], "score": [1.5, 2.0]})
    reg = examples_for(read_data(kdemo.TrainConfig(label_columns=("score",), task="regression"), scores))
    assert reg.class_names == () and reg.given() == ["1.5", "2.0"] and reg.width == 1
    assert reg.combine([(np.array([1, 0]), np.array([[2.5], [0.5]]))]).tolist() == [0.5, 2.5]


def test_token_examples_fold_data_and_saved_predictions(tmp_path):
    path = tmp_path / "ner.conll"
    path.write_text(CONLL, encoding="utf-8")
    ex = examples_for(read_data(kdemo.TrainConfig(train_file=str(path), task="token_classification")))
    assert ex.n == 4 and ex.class_names == ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")
    assert [t.tolist() for t in ex.labels] == [[5, 0], [3, 0], [1, 0], [5, 0]] and ex.texts()[0] == "John runs"
    fold = ex.fold_data(np.array([0, 1]), np.array([2, 3]))  # LOC is unseen in training: sentence 2 cannot validate
    assert fold.train.words == [["John", "runs"], ["Acme", "sells"]] and fold.val.words == [["Ann", "sings"]]
    assert fold.train_file is None
    preds = [np.full((2, 7), 0.1, dtype=np.float32), np.full((3, 7), 0.2, dtype=np.float32)]
    array, lengths = ex.pack(preds)
    assert array.shape == (5, 7) and lengths == [2, 3]
    assert [p.shape for p in ex.unpack(array, lengths)] == [(2, 7), (3, 7)]


def test_fingerprint_changes_with_settings_and_labels_not_with_tracking():
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"]})
    cfg = kdemo.TrainConfig(label_columns=("label",))
    ex = examples_for(read_data(cfg, df))
    base = fingerprint(cfg, ex, 3)
    assert fingerprint(kdemo.TrainConfig(label_columns=("label",), track=False, run_name="r"), ex, 3) == base
    assert fingerprint(kdemo.TrainConfig(label_columns=("label",), epochs=2), ex, 3) != base
    assert fingerprint(cfg, ex, 2) != base
    flipped = examples_for(read_data(cfg, df.assign(label=["y", "y", "x"])))
    assert fingerprint(cfg, flipped, 3) != base


def test_data_map_is_delegated_with_the_same_arguments(monkeypatch):
    calls = []
    module = types.ModuleType("fake_data_map")
    module.data_map_issues = lambda config, **kw: calls.append((config, kw)) or "result"
    monkeypatch.setitem(sys.modules, "fake_data_map", module)
    monkeypatch.setattr(api, "DATA_MAP_SEARCH", "fake_data_map:data_map_issues")
    cfg = kdemo.TrainConfig()
    assert api.find_label_issues(cfg, data_map=True, folds=3, resume=True, work_dir="w") == "result"
    assert calls[0][0] is cfg and set(calls[0][1]) == {"train_df", "work_dir", "resume", "progress", "stop", "policy"}
    assert calls[0][1]["resume"] is True and calls[0][1]["work_dir"] == "w"
    monkeypatch.setattr(api, "DATA_MAP_SEARCH", "kdemo_missing_module:data_map_issues")
    with pytest.raises(DataError, match="data-map search"):
        api.find_label_issues(cfg, data_map=True)
