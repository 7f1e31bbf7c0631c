"""The data map (Swayamdipta et al. 2020): statistics, regions, one run that flags planted label errors, the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import sentiment_frame
from matplotlib.figure import Figure

from kdemo import DataError, TrainingError, get_learner, texts_from_df
from kdemo.run.label_issues import data_map as dm
from kdemo.run.label_issues.cartography import AMBIGUOUS, EASY, HARD, cartography, flag_issues, regions
from kdemo.run.label_issues.data_map import data_map_issues, plot_data_map
from kdemo.run.label_issues.result import LabelIssues
from kdemo.run.config import TrainConfig
from kdemo.training.callbacks.training_dynamics import TrainingDynamics

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Rows of the toy sentiment file whose label is flipped.
PLANTED = (3, 10, 17, 24, 41, 58)


def test_confidence_variability_correctness_on_fixed_inputs():
    probs = np.array([[0.9, 0.2, 0.1, np.nan],
                      [0.7, 0.8, 0.1, np.nan],
                      [0.8, np.nan, 0.4, np.nan]])
    correct = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=float)
    confidence, variability, correctness = cartography(probs, correct)
    np.testing.assert_allclose(confidence[:3], [0.8, 0.5, 0.2])
    np.testing.assert_allclose(variability[:3], [np.std([0.9, 0.7, 0.8]), 0.3, np.std([0.1, 0.1, 0.4])])
    np.testing.assert_allclose(correctness[:3], [1.0, 0.5, 0.0])  # the unseen epoch of row 1 is left out
    assert np.isnan([confidence[3], variability[3], correctness[3]]).all()
    with pytest.raises(ValueError):
        cartography(probs, correct[:, :2])


def test_regions_and_flag_use_the_documented_cut_offs():
    confidence = np.array([0.9, 0.5, 0.45, 0.1, 0.1, 0.3])
    variability = np.array([0.05, 0.19, 0.19, 0.25, 0.05, 0.1])
    correctness = np.array([1.0, 0.6, 0.5, 0.0, 0.0, 0.34])
    assert regions(confidence, variability).tolist() == [EASY, EASY, HARD, AMBIGUOUS, HARD, HARD]
    assert flag_issues(confidence, variability, correctness).tolist() == [False, False, False, False, True, True]


def _noisy_frame() -> pd.DataFrame:
    df = sentiment_frame(80, seed=1)
    flip = {"positive": "negative", "negative": "positive"}
    df.loc[list(PLANTED), "label"] = df.loc[list(PLANTED), "label"].map(flip)
    return df


@pytest.fixture(scope="module")
def noisy_issues(tiny_bert_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("noisy") / "noisy.csv"
    _noisy_frame().to_csv(path, index=False)
    config = TrainConfig(train_file=str(path), model_name=str(tiny_bert_dir), epochs=5, lr=3e-3, batch_size=8,
                         precision="fp32", track=False)
    events = []
    issues = data_map_issues(config, work_dir=tmp_path_factory.mktemp("work"), progress=events.append)
    return issues, events, config


def test_one_run_flags_the_planted_label_errors(noisy_issues):
    issues, events, _ = noisy_issues
    table = issues.table
    assert issues.method == "data_map" and issues.folds is None and issues.task == "single_label"
    assert sorted(table["row"]) == list(range(80))  # every row of the file, as 0-based rows
    df = _noisy_frame()
    by_row = table.set_index("row")
    assert (by_row.loc[range(80), "given_label"].to_numpy() == df["label"].to_numpy()).all()
    assert (by_row.loc[range(80), "text"].to_numpy() == df["text"].to_numpy()).all()
    flagged = set(issues.issues["row"])
    assert len(flagged & set(PLANTED)) >= 5, (flagged, by_row.loc[list(PLANTED)])
    assert len(flagged - set(PLANTED)) <= 3
    assert set(table.head(len(PLANTED))["row"]) == set(PLANTED)  # the planted rows rank lowest
    truth = sentiment_frame(80, seed=1)["label"]
    assert (by_row.loc[list(PLANTED), "suggested_label"].to_numpy() == truth[list(PLANTED)].to_numpy()).all()
    assert (by_row.loc[list(flagged), "region"] == HARD).all()
    assert np.allclose(table["label_quality"], table["confidence"])
    assert any(e.phase == "epoch_end" for e in events)


def test_resume_returns_the_finished_result_without_training(noisy_issues, tmp_path, monkeypatch):
    issues, _, config = noisy_issues
    (tmp_path / dm.RESULT_FILE).write_text(__import__("json").dumps(issues.to_dict()))
    monkeypatch.setattr(dm, "train", lambda *a, **k: pytest.fail("trained again"))
    again = data_map_issues(config, work_dir=tmp_path, resume=True)
    pd.testing.assert_frame_equal(again.table, issues.table)


def test_fewer_than_two_epochs_is_refused(tiny_bert_dir):
    with pytest.raises(DataError, match="at least 2 epochs"):
        data_map_issues(TrainConfig(train_file="x.csv", model_name=str(tiny_bert_dir), epochs=1))


def test_plot_draws_every_example(noisy_issues):
    issues, _, _ = noisy_issues
    fig = plot_data_map(issues)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 80
    assert len(ax.collections[1].get_offsets()) == len(issues)
    fig.canvas.draw()
    other = LabelIssues(task="single_label", method="cross_validation", folds=5, seconds=0.0, class_names=("a", "b"),
                        table=issues.table[["row", "text", "given_label", "suggested_label", "label_quality", "is_issue"]])
    with pytest.raises(DataError, match="data-map"):
        plot_data_map(other)


def test_learner_find_label_issues_reads_the_last_fit(tiny_bert_dir):
    trn, val, preproc = texts_from_df(_noisy_frame(), "text", "label", model_name=str(tiny_bert_dir),
                                      val_df=_noisy_frame().head(8), verbose=0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    with pytest.raises(TrainingError, match="TrainingDynamics"):
        learner.find_label_issues()
    learner.fit_onecycle(3e-3, 1, verbose=0, callbacks=[TrainingDynamics()])
    with pytest.raises(DataError, match="at least 2 epochs"):
        learner.find_label_issues()
    learner.record_training_dynamics = True
    learner.fit_onecycle(3e-3, 3, verbose=0)
    issues = learner.find_label_issues()
    assert len(issues.table) == 80 and {"confidence", "variability", "correctness", "region"} <= set(issues.table)
    assert len(set(issues.issues["row"]) & set(PLANTED)) >= 4


def test_a_stopped_search_returns_none(tiny_bert_dir, tmp_path):
    import threading

    path = tmp_path / "noisy.csv"
    _noisy_frame().to_csv(path, index=False)
    config = TrainConfig(train_file=str(path), model_name=str(tiny_bert_dir), epochs=3, lr=3e-3, batch_size=8,
                         precision="fp32", track=False)
    stop = threading.Event()
    stop.set()
    assert data_map_issues(config, stop=stop) is None  # before training
    stop.clear()
    events = []

    def progress(event):
        events.append(event)
        if event.phase == "epoch_end":
            stop.set()

    assert data_map_issues(config, stop=stop, progress=progress, work_dir=tmp_path / "w") is None  # part-way
    assert sum(e.phase == "epoch_end" for e in events) < 3 and not (tmp_path / "w" / dm.RESULT_FILE).exists()
