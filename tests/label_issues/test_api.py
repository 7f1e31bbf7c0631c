"""The plumbing of ``kdemo.find_label_issues``: every row once, fold events, resume from saved folds, Stop, refusals,
and the result's CSV and dict round trips (tiny random-init BERT, 2 folds, 1 epoch)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kdemo
from conftest import sentiment_frame
from kdemo.errors import DataError
from kdemo.run.label_issues.cross_val import FoldEvent, fold_indices
from kdemo.run.label_issues.result import LabelIssues


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, one_torch_thread) -> Path:
    from tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-api"), "bert")


@pytest.fixture
def table(tmp_path) -> tuple[Path, pd.DataFrame]:
    df = sentiment_frame(24, seed=1)
    path = tmp_path / "reviews.csv"
    df.to_csv(path, index=False)
    return path, df


def _config(path, model) -> kdemo.TrainConfig:
    return kdemo.TrainConfig(train_file=str(path), model_name=str(model), epochs=1, lr=1e-3, batch_size=8,
                             precision="fp32", track=False, maxlen=16)


def test_every_row_once_with_fold_events(tiny_dir, table):
    path, df = table
    events = []
    issues = kdemo.find_label_issues(_config(path, tiny_dir), folds=2, progress=events.append)
    assert isinstance(issues, LabelIssues) and issues.method == "cross_validation" and issues.folds == 2
    assert sorted(issues.table["row"]) == list(range(len(df)))
    assert issues.table["label_quality"].is_monotonic_increasing
    by_row = issues.table.set_index("row")
    assert by_row.loc[5, "text"] == df.loc[5, "text"] and by_row.loc[5, "given_label"] == df.loc[5, "label"]
    assert all(isinstance(e, FoldEvent) and e.folds == 2 for e in events)
    assert {e.fold for e in events} == {0, 1} and events[-1].phase == "epoch_end"


def test_resume_skips_saved_folds_and_stop_keeps_finished_ones(tiny_dir, table, tmp_path):
    path, _ = table
    cfg, work = _config(path, tiny_dir), tmp_path / "work"
    stop = threading.Event()

    def stop_in_second_fold(event):
        if event.fold == 1:
            stop.set()

    assert kdemo.find_label_issues(cfg, folds=2, work_dir=work, progress=stop_in_second_fold, stop=stop) is None
    assert sorted(p.name for p in work.iterdir()) == ["fold-0.json", "fold-0.npy"]  # the stopped fold is not kept
    saved = json.loads((work / "fold-0.json").read_text())
    assert saved["fold"] == 0 and saved["class_names"] == ["negative", "positive"]
    events = []
    first = kdemo.find_label_issues(cfg, folds=2, work_dir=work, resume=True, progress=events.append)
    assert {e.fold for e in events} == {1}  # fold 0 read back, fold 1 trained
    events.clear()
    again = kdemo.find_label_issues(cfg, folds=2, work_dir=work, resume=True, progress=events.append)
    assert events == []
    pd.testing.assert_frame_equal(first.table, again.table)
    other = kdemo.TrainConfig.from_dict({**cfg.to_dict(), "lr": 2e-3})  # other settings: nothing reused
    kdemo.find_label_issues(other, folds=2, work_dir=work, resume=True, progress=events.append)
    assert {e.fold for e in events} == {0, 1}


def test_stop_before_the_search_returns_none(tiny_dir, table, tmp_path):
    path, _ = table
    stop = threading.Event()
    stop.set()
    assert kdemo.find_label_issues(_config(path, tiny_dir), folds=2, stop=stop, work_dir=tmp_path / "w") is None
    assert list((tmp_path / "w").iterdir()) == []


def test_refusals_name_what_to_do(tiny_dir, table, tmp_path):
    path, _ = table
    with pytest.raises(DataError, match="folds"):
        kdemo.find_label_issues(_config(path, tiny_dir), folds=1)
    with pytest.raises(DataError, match="folds"):
        kdemo.find_label_issues(_config(path, tiny_dir), folds=25)
    squad = tmp_path / "qa.csv"
    pd.DataFrame({"question": ["Who?"] * 4, "context": ["Ann wrote it."] * 4,
                  "answers": ['{"text": ["Ann"], "answer_start": [0]}'] * 4}).to_csv(squad, index=False)
    qa = kdemo.TrainConfig(train_file=str(squad), task="question_answering", model_name=str(tiny_dir), track=False)
    with pytest.raises(DataError, match="Expected a task with labels"):
        kdemo.find_label_issues(qa, folds=2)


def test_fold_indices_stratify_when_every_class_fills_the_folds():
    strata = np.array([0] * 10 + [1] * 5)
    held = fold_indices(15, 5, strata, seed=0)
    assert sorted(np.concatenate(held).tolist()) == list(range(15))
    assert all(np.bincount(strata[h], minlength=2).tolist() == [2, 1] for h in held)
    rare = np.array([0] * 13 + [1] * 2)  # a class with fewer rows than folds: plain KFold
    assert sorted(np.concatenate(fold_indices(15, 5, rare, seed=0)).tolist()) == list(range(15))
    assert [len(h) for h in fold_indices(7, 2, None, seed=0)] == [4, 3]


def _result(word: bool = False) -> LabelIssues:
    table = pd.DataFrame({"row": [2, 0, 1], "text": ["b", "a", "c"], "given_label": ["x", "y", "x"],
                          "suggested_label": ["y", "y", "x"], "label_quality": [0.01, 0.9, 0.5],
                          "is_issue": [True, False, False]})
    if word:
        table["word"] = [1, -1, -1]
    return LabelIssues(task="single_label", method="cross_validation", folds=2, seconds=1.5, class_names=("x", "y"),
                       table=table)


def test_result_sorts_writes_the_flagged_rows_and_round_trips(tmp_path):
    issues = _result()
    assert issues.table["row"].tolist() == [2, 1, 0] and len(issues) == 1
    assert issues.issues["row"].tolist() == [2]
    out = pd.read_csv(issues.to_csv(tmp_path / "out" / "issues.csv"))
    assert list(out.columns) == ["row", "text", "given_label", "suggested_label", "label_quality"]
    assert out.to_dict("records") == [{"row": 2, "text": "b", "given_label": "x", "suggested_label": "y",
                                       "label_quality": 0.01}]
    back = LabelIssues.from_dict(json.loads(json.dumps(issues.to_dict())))
    pd.testing.assert_frame_equal(back.table, issues.table)
    assert (back.task, back.folds, back.class_names) == ("single_label", 2, ("x", "y"))
    assert list(pd.read_csv(_result(word=True).to_csv(tmp_path / "w.csv")).columns)[-1] == "word"
    assert "3 examples, 1 flagged" in issues.summary() and "row 2" in issues.summary()
    with pytest.raises(DataError, match="method"):
        LabelIssues(task="single_label", method="magic", folds=None, seconds=0, class_names=(), table=issues.table)
