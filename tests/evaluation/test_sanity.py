"""kdemo.evaluation.sanity: the constant-guess baseline of every task, and the warnings of a run that learned nothing
(issue 29, item 2)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sentiment_frame

import kdemo
from kdemo.evaluation.ner import ner_metrics
from kdemo.evaluation.report import classification_metrics, multilabel_metrics, regression_metrics
from kdemo.evaluation.sanity import Baseline, baseline, health_check
from kdemo.run import TrainConfig, load_result


class _Rows:
    """A stand-in for a TextDataset: ``labels`` (or token ``tags``) and a length."""

    def __init__(self, labels=None, tags=None):
        self.labels, self.tags = (None if labels is None else np.asarray(labels)), tags

    def __len__(self):
        return len(self.tags if self.tags is not None else self.labels)


def test_single_label_baseline_is_the_majority_class_of_the_training_data():
    val = [0, 0, 1, 1, 1]
    report = classification_metrics(np.array(val), np.array(val), ["neg", "pos"])
    base = baseline(report, _Rows([1, 1, 1, 0]), _Rows(val))
    assert "'pos'" in base.description and base.metrics["accuracy"] == pytest.approx(0.6)
    assert base.metrics["macro_f1"] == pytest.approx(0.375)  # F1 0.75 for pos, 0 for neg
    assert health_check(report, base, [1.0] * 4 + [0.1] * 4) == []  # a perfect model is healthy


def test_one_class_for_everything_and_a_score_at_the_baseline_are_warned():
    val = np.array([0, 0, 1, 1, 1])
    report = classification_metrics(val, np.ones(5, dtype=int), ["neg", "pos"])
    base = baseline(report, _Rows([1, 1, 0]), _Rows(val))
    warnings = health_check(report, base)
    assert any("predicts 'pos' for 100%" in w for w in warnings)
    assert any("at or below the baseline's 0.600" in w for w in warnings)
    assert warnings[-1].startswith("What to do")


def test_multi_label_baseline_is_the_most_common_label_set():
    train, val = [[1, 0], [1, 0], [0, 1]], np.array([[1, 0], [0, 1]])
    report = multilabel_metrics(val, val.astype(float), ["a", "b"], 0.5)
    base = baseline(report, _Rows(train), _Rows(val))
    assert "{a}" in base.description and base.headline == "micro_f1"
    assert base.metrics["subset_accuracy"] == pytest.approx(0.5) and base.metrics["micro_f1"] == pytest.approx(0.5)


def test_regression_baseline_is_the_training_mean_and_a_constant_prediction_is_warned():
    val = np.array([1.0, 2.0, 3.0, 4.0])
    base = baseline(regression_metrics(val, val), _Rows([[2.0], [4.0]]), _Rows(val))
    assert "3 (the training mean)" in base.description and base.metrics["mae"] == pytest.approx(1.0)
    flat = regression_metrics(val, np.full(4, 2.5))
    warnings = health_check(flat, base)
    assert any("nearly the same value" in w for w in warnings) and any("MAE" in w.upper() for w in warnings)


def test_ner_baseline_is_all_o_and_a_tagger_finding_no_entity_is_warned():
    tags = [["B-PER", "I-PER", "O", "O"], ["O", "B-LOC"]]
    none = [["O"] * 4, ["O"] * 2]
    report = ner_metrics(tags, none)
    base = baseline(report, _Rows(tags=tags), _Rows(tags=tags))
    assert base.metrics == {"f1": 0.0, "accuracy": pytest.approx(0.5)}
    warnings = health_check(report, base)
    assert any("tags every word 'O'" in w for w in warnings) and any("at or below" in w for w in warnings)
    assert health_check(ner_metrics(tags, tags), base) == []


def test_a_loss_that_did_not_fall_is_warned_and_the_baseline_round_trips():
    val = np.array([0, 1])
    report = classification_metrics(val, val, ["neg", "pos"])
    assert any("did not fall" in w for w in health_check(report, None, [0.7] * 20))
    assert health_check(report, None, [0.7] * 3) == []  # too few steps to say
    base = Baseline("always 'x'", {"accuracy": 0.5}, "accuracy")
    assert Baseline.from_dict(base.to_dict()) == base


def _config(model, lr: float, epochs: int) -> TrainConfig:
    return TrainConfig(model_name=str(model), maxlen=32, batch_size=8, epochs=epochs, lr=lr, precision="fp32", val_pct=0.2)


def test_a_run_that_collapses_to_one_class_gets_the_warning(tiny_bert_dir, tmp_path):
    df = sentiment_frame(200)
    df["label"] = np.random.default_rng(1).permutation(df["label"].to_numpy())  # nothing to learn
    result = kdemo.train(_config(tiny_bert_dir, 0.5, 2), train_df=df)  # a learning rate that wrecks the model
    predicted = result.report.confusion_matrix.sum(axis=0)
    assert (predicted > 0).sum() == 1, result.report.confusion_matrix  # it really predicts one class
    assert result.baseline is not None and "majority class" in result.baseline.description
    assert any("for 100% of the validation rows" in w for w in result.warnings), result.warnings
    assert any("baseline" in w for w in result.warnings)
    assert result.params["warnings"] == result.warnings and result.params["baseline"] == result.baseline.to_dict()
    loaded = load_result(result.save(tmp_path / "run"))  # a multi-GPU run's result is read back from its folder
    assert loaded.warnings == result.warnings and loaded.baseline == result.baseline


def test_a_healthy_run_gets_no_warning(tiny_bert_dir):
    result = kdemo.train(_config(tiny_bert_dir, 1e-3, 3), train_df=sentiment_frame(200))
    assert result.report.accuracy > result.baseline.metrics["accuracy"]
    assert result.warnings == [], result.warnings
