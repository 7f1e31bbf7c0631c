"""bench/label_noise.py: the planted noise, the detection figures, the medians (fast), and a tiny run end to end
on SST-2 rows with a tiny random BERT (slow)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.label_noise import detection_scores, estimate_seconds, flip_labels, main, median_of_runs


def test_flip_labels_flips_the_fraction_to_another_class():
    clean = np.array(["World", "Sports", "Business", "Sci/Tech"] * 250, dtype=object)
    noisy, flipped = flip_labels(clean, 0.05, seed=3)
    assert len(flipped) == 50 and len(set(flipped.tolist())) == 50 and np.all(np.diff(flipped) > 0)
    changed = np.flatnonzero(noisy != clean)
    assert changed.tolist() == flipped.tolist()  # every flipped row changed, no other row did
    assert set(noisy.tolist()) == set(clean.tolist())
    again, same_rows = flip_labels(clean, 0.05, seed=3)
    assert same_rows.tolist() == flipped.tolist() and again.tolist() == noisy.tolist()  # deterministic per seed
    assert flip_labels(clean, 0.05, seed=4)[1].tolist() != flipped.tolist()
    assert clean.tolist() == (["World", "Sports", "Business", "Sci/Tech"] * 250)  # the input is left alone


def test_flip_labels_draws_the_new_class_uniformly_among_the_others():
    clean = np.array(["a"] * 6000, dtype=object)
    noisy, flipped = flip_labels(clean, 0.5, seed=0, classes=["a", "b", "c", "d"])
    counts = pd.Series(noisy[flipped]).value_counts()
    assert set(counts.index) == {"b", "c", "d"}
    assert counts.min() > 900 and counts.max() < 1100  # 1,000 each expected


def test_flip_labels_binary_swaps_and_rejects_bad_input():
    clean = ["negative", "positive"] * 100
    noisy, flipped = flip_labels(clean, 0.1, seed=0)
    assert len(flipped) == 20
    assert all({noisy[r], clean[r]} == {"negative", "positive"} for r in flipped)
    assert len(flip_labels(clean, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError, match="Expected a fraction"):
        flip_labels(clean, 1.5, seed=0)
    with pytest.raises(ValueError, match="two classes"):
        flip_labels(["x"] * 10, 0.1, seed=0)


def _table(quality: list[float], issues: list[bool]) -> pd.DataFrame:
    """A LabelIssues-like table, sorted by label_quality as the library sorts it."""
    table = pd.DataFrame({"row": range(len(quality)), "label_quality": quality, "is_issue": issues})
    return table.sort_values("label_quality").reset_index(drop=True)


def test_detection_scores_against_hand_counted_figures():
    # 10 rows, flipped = 0, 1, 2, 3. Ranked by quality: 0 (.01), 5, 1 (.03), 6, 2 (.05), 4, 7, 8, 3 (.9), 9
    quality = [0.01, 0.03, 0.05, 0.9, 0.6, 0.02, 0.04, 0.7, 0.8, 0.95]
    issues = [True, True, False, False, False, True, False, False, False, False]  # flags 0, 1, 5
    scores = detection_scores([0, 1, 2, 3], _table(quality, issues), 10)
    assert scores["flagged"] == 3
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 4)
    # cut-offs reaching recall >= 0.5: top 3 (2/3, recall .5), top 5 (3/5), top 9 (4/9), ...: best 2/3
    assert scores["precision_at_recall"] == pytest.approx(2 / 3)
    # average precision: mean over the flipped rows of the precision at their rank (1/1, 2/3, 3/5, 4/9)
    assert scores["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 5 + 4 / 9) / 4)
    assert detection_scores([0, 1, 2, 3], _table(quality, issues), 10, min_recall=1.0)["precision_at_recall"] == \
        pytest.approx(4 / 9)


def test_detection_scores_perfect_and_empty_flags():
    quality = [0.1, 0.2, 0.9, 0.8]
    perfect = detection_scores([0, 1], _table(quality, [True, True, False, False]), 4)
    assert perfect == {"flagged": 2, "precision": 1.0, "recall": 1.0, "precision_at_recall": 1.0,
                       "average_precision": 1.0}
    none = detection_scores([0, 1], _table(quality, [False] * 4), 4)
    assert none["flagged"] == 0 and none["precision"] == 0.0 and none["recall"] == 0.0


def test_detection_scores_rejects_an_incomplete_table_or_no_flips():
    table = _table([0.1, 0.2, 0.3], [True, False, False])
    with pytest.raises(ValueError, match="one table row for each of the 4"):
        detection_scores([0], table, 4)
    with pytest.raises(ValueError, match="at least one flipped row"):
        detection_scores([], table, 3)


def _run(seed: int, noisy: float, kfold: tuple[float, float], data_map: tuple[float, float]) -> dict:
    def method(precision: float, retrained: float) -> dict:
        return {"flagged": 10 + seed, "precision": precision, "recall": 0.5, "precision_at_recall": precision,
                "average_precision": precision, "find_s": 100.0 + seed, "retrain_accuracy": retrained,
                "retrain_s": 50.0}

    return {"dataset": "sst2", "seed": seed, "flipped": 20, "noisy": {"accuracy": noisy, "seconds": 40.0 + seed},
            "kfold": method(*kfold), "data_map": method(*data_map)}


def test_median_of_runs_takes_per_field_medians_and_per_seed_changes():
    runs = [_run(0, 0.80, (0.7, 0.82), (0.4, 0.79)), _run(1, 0.90, (0.5, 0.90), (0.3, 0.91)),
            _run(2, 0.85, (0.6, 0.86), (0.2, 0.84))]
    noisy, kfold, data_map = median_of_runs(runs)
    assert noisy["method"].startswith("noisy") and noisy["test_acc"] == pytest.approx(0.85) and noisy["train_s"] == 41
    assert kfold["precision"] == pytest.approx(0.6) and kfold["flagged"] == 11 and kfold["find_s"] == 101
    assert kfold["test_acc"] == pytest.approx(0.86)
    assert kfold["acc_change_pts"] == pytest.approx(1.0)  # per-seed changes +2, 0, +1
    assert data_map["acc_change_pts"] == pytest.approx(-1.0)  # -1, +1, -1
    assert data_map["precision"] == pytest.approx(0.3) and kfold["seeds"] == 3


def test_median_of_runs_leaves_out_skipped_retrainings():
    runs = [_run(0, 0.80, (0.7, 0.82), (0.4, 0.79)), _run(1, 0.90, (0.5, 0.90), (0.3, 0.91))]
    runs[1]["data_map"].update(retrain_accuracy=None, retrain_s=None)
    runs[0]["kfold"].update(retrain_accuracy=None, retrain_s=None)
    runs[1]["kfold"].update(retrain_accuracy=None, retrain_s=None)
    _, kfold, data_map = median_of_runs(runs)
    assert data_map["test_acc"] == pytest.approx(0.79) and data_map["acc_change_pts"] == pytest.approx(-1.0)
    assert kfold["test_acc"] is None and kfold["acc_change_pts"] is None and kfold["train_s"] is None
    assert kfold["precision"] == pytest.approx(0.6)  # the detection figures stay


def test_estimate_grows_with_the_work():
    small = estimate_seconds("sst2", rows=4000, test_rows=None, epochs=2, folds=5, seeds=1)
    assert 0 < small < estimate_seconds("ag_news", rows=4000, test_rows=None, epochs=2, folds=5, seeds=1)
    assert estimate_seconds("sst2", rows=4000, test_rows=None, epochs=2, folds=5, seeds=3) == pytest.approx(3 * small)
    assert estimate_seconds("sst2", rows=4000, test_rows=None, epochs=2, folds=5, seeds=1, oracle=True) > small


@pytest.mark.slow
def test_tiny_run_end_to_end(tmp_path, tiny_bert_dir, sst2_dir):
    out = tmp_path / "label_noise.json"
    main(["--datasets", "sst2", "--rows", "120", "--seeds", "0", "--folds", "2", "--epochs", "2", "--maxlen", "32",
          "--noise", "0.1", "--test-rows", "60", "--threads", "1", "--model", str(tiny_bert_dir), "--oracle",
          "--json", str(out)])
    payload = json.loads(out.read_text(encoding="utf-8"))
    (run,) = payload["runs"]["sst2"]
    assert run["flipped"] == 12 and len(run["flipped_rows"]) == 12 and run["rows"] == 120 and run["test_rows"] == 60
    for key in ("kfold", "data_map"):
        scores = run[key]
        assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
        assert 0 < scores["precision_at_recall"] <= 1 and scores["flagged"] == len(scores["flagged_rows"])
        assert scores["retrain_rows"] == 120 - scores["flagged"] and scores["find_s"] > 0
        if scores["retrain_accuracy"] is None:  # the random model flagged every row of a class
            assert "leaves no row of" in scores["retrain_skipped"]
        else:
            assert 0 <= scores["retrain_accuracy"] <= 1 and scores["retrain_s"] > 0
    assert 0 <= run["noisy"]["accuracy"] <= 1 and run["noisy"]["rows"] == 120 and run["oracle"]["rows"] == 120
    methods = [row["method"] for row in payload["rows"]]
    assert methods == ["noisy run (no cleaning)", "K-fold + cleanlab", "data map", "clean labels (oracle)"]
    assert payload["args"]["maxlen"] == 32 and payload["complete"] is True
