"""Task inference, label encoding, the weighted BCE loss, threshold tuning and the multi-label/regression metrics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

from kdemo.errors import DataError
from kdemo.evaluation.report import (
    MultiLabelReport,
    RegressionReport,
    multilabel_metrics,
    regression_metrics,
    tune_thresholds,
)
from kdemo.modeling.classifier import loss_and_metrics
from kdemo.modeling.losses import WeightedBinaryCrossentropy
from kdemo.tasks import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    check_task,
    infer_task,
    multi_hot,
    multi_label_names,
    pos_weights,
    regression_targets,
)


# ---------------------------------------------------------------------------------------------------- infer_task
@pytest.mark.parametrize(
    "y, expected",
    [
        (["pos", "neg", "pos"], SINGLE_LABEL),
        ([0, 1, 2, 1], REGRESSION),  # numbers without class names are regression (ktrain utils.py YTransform)
        (np.array([0, 1, 1]), REGRESSION),
        ([0.0, 1.0, 2.0], REGRESSION),  # floats are numeric targets even when whole (ktrain utils.py)
        (np.array([1.0, 0.0]), REGRESSION),
        (np.array([10.0, 15.0, 12.0]), REGRESSION),  # wine prices
        (["1.5", "2.5"], SINGLE_LABEL),  # strings stay class names even when they look numeric
        ([["sports"], [], ["tech", "sports"]], MULTI_LABEL),
        ([("a", "b"), ("a",)], MULTI_LABEL),
        (["a", {"b"}], MULTI_LABEL),  # one collection is enough
        (np.array([[0, 1], [1, 1], [0, 0]]), MULTI_LABEL),
        (np.array([[0, 1], [1, 0], [0, 1]]), SINGLE_LABEL),  # one-hot: single-label unless a row has two 1s
        (np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32), SINGLE_LABEL),
        (np.zeros((3, 4), dtype=np.float32), MULTI_LABEL),
        ([0.5, 1.25, 3.0], REGRESSION),  # one non-integer value makes the column numeric
        (np.array([0.1, 0.2, 0.3], dtype=np.float32), REGRESSION),
        ([1.5, "x"], SINGLE_LABEL),  # mixed values are not all numbers
    ],
)
def test_infer_task(y, expected):
    assert infer_task(y) == expected


def test_infer_task_with_class_names_reads_integers_as_class_ids():
    assert infer_task([0, 1, 1], class_names=["neg", "pos"]) == SINGLE_LABEL
    assert infer_task(np.array([1.0, 0.0]), class_names=["neg", "pos"]) == SINGLE_LABEL
    assert infer_task([0.5, 1.5], class_names=["neg", "pos"]) == REGRESSION
    assert infer_task([True, False]) == SINGLE_LABEL


def test_check_task():
    for task in (SINGLE_LABEL, MULTI_LABEL, REGRESSION):
        assert check_task(task) is task
        assert check_task(task.value) is task  # a string parses to the member
    with pytest.raises(DataError, match=r"Expected task to be one of \['single_label', 'multi_label', 'regression', 'token_classification', "
                                        r"'question_answering'\]. "
                                        r"Received: task='multilabel'"):
        check_task("multilabel")


def test_task_is_a_string_valued_enum():
    import json

    from kdemo.tasks import TASKS, Task

    assert (SINGLE_LABEL, MULTI_LABEL, REGRESSION) == (Task.SINGLE_LABEL, Task.MULTI_LABEL, Task.REGRESSION) == TASKS
    assert Task.REGRESSION == "regression" and isinstance(Task.REGRESSION, str)
    assert {"regression": 1}[Task.REGRESSION] == 1  # hashes as its value
    assert str(Task.MULTI_LABEL) == f"{Task.MULTI_LABEL}" == "multi_label"
    assert repr(Task.SINGLE_LABEL) == "'single_label'"
    assert json.dumps({"task": Task.MULTI_LABEL}) == '{"task": "multi_label"}'
    assert json.loads(json.dumps(Task.REGRESSION)) == Task.REGRESSION
    assert infer_task([0.5, 1.25]) is Task.REGRESSION


# ---------------------------------------------------------------------------------------------------- encoding
def test_multi_hot_encodes_names_in_class_order():
    out = multi_hot([["tech"], [], ["sports", " tech "]], ["sports", "tech"])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 1], [0, 0], [1, 1]])
    assert multi_label_names([["tech"], [], ["sports", " tech "]]) == ["sports", "tech"]


def test_multi_hot_unknown_label_names_the_row():
    with pytest.raises(DataError, match=r"'politics' at row 3"):
        multi_hot([["tech"], ["sports"], ["sports", "politics"]], ["sports", "tech"])


def test_multi_hot_matrix_passthrough_and_width_check():
    m = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.int64)
    out = multi_hot(m, ["a", "b", "c"])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, m)
    with pytest.raises(DataError, match="Expected 2 label columns. Received: a matrix with 3"):
        multi_hot(m, ["a", "b"])


def test_regression_targets_shape_and_errors_name_the_row():
    out = regression_targets([1, "2.5", 3.25])
    assert out.shape == (3, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], [1.0, 2.5, 3.25])
    with pytest.raises(DataError, match=r"'abc' at row 2"):
        regression_targets([1.0, "abc"])
    with pytest.raises(DataError, match=r"finite.*row 3"):
        regression_targets([1.0, 2.0, float("inf")])


# ---------------------------------------------------------------------------------------------------- pos_weights
def test_pos_weights_values_and_clipping():
    # 10 rows: label 0 has 2 positives (8 / 2 = 4), label 1 has 7 (3 / 7, clipped up to 1), label 2 has none
    # (10 negatives / max(0, 1) = 10), label 3 has 1 (9 / 1 = 9).
    t = np.zeros((10, 4), dtype=np.float32)
    t[:2, 0] = 1
    t[:7, 1] = 1
    t[9, 3] = 1
    w = pos_weights(t)
    assert w.dtype == np.float32 and w.shape == (4,)
    np.testing.assert_allclose(w, [4.0, 1.0, 10.0, 9.0])
    # A rare label in a large table hits the upper clip.
    big = np.zeros((1000, 2), dtype=np.float32)
    big[:5, 0] = 1  # 995 / 5 = 199 -> 30
    big[:500, 1] = 1  # 500 / 500 = 1
    np.testing.assert_allclose(pos_weights(big), [30.0, 1.0])
    np.testing.assert_allclose(pos_weights(big, clip=(0.5, 100.0)), [100.0, 1.0])
    np.testing.assert_allclose(pos_weights(t, clip=(0.0, 5.0)), [4.0, 3 / 7, 5.0, 5.0], rtol=1e-6)


# ---------------------------------------------------------------------------------------------------- the loss
def test_weighted_bce_equals_torch_bce_with_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(16, 5)).astype(np.float32)
    targets = (rng.random((16, 5)) < 0.3).astype(np.float32)
    pw = rng.uniform(1.0, 10.0, size=5).astype(np.float32)
    ours = WeightedBinaryCrossentropy(pw.tolist())(targets, logits)
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(pw))
    ref = bce(torch.from_numpy(logits), torch.from_numpy(targets))
    assert float(keras.ops.convert_to_numpy(ours)) == pytest.approx(float(ref), rel=1e-5)
    # The weights matter: unweighted BCE is a different number here.
    plain = torch.nn.BCEWithLogitsLoss()(torch.from_numpy(logits), torch.from_numpy(targets))
    assert abs(float(ref) - float(plain)) > 0.1


def test_weighted_bce_without_weights_equals_keras_bce():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(12, 3)).astype(np.float32)
    targets = (rng.random((12, 3)) < 0.5).astype(np.float32)
    ours = WeightedBinaryCrossentropy(None)(targets, logits)
    ref = keras.losses.BinaryCrossentropy(from_logits=True)(targets, logits)
    assert float(keras.ops.convert_to_numpy(ours)) == pytest.approx(float(keras.ops.convert_to_numpy(ref)), rel=1e-5)


def test_weighted_bce_is_stable_for_large_logits_and_serialises():
    logits = np.array([[80.0, -80.0]], dtype=np.float32)
    targets = np.array([[0.0, 1.0]], dtype=np.float32)
    loss = WeightedBinaryCrossentropy([2.0, 3.0])(targets, logits)
    # -(0 + log(1 - σ(80)))  and  -(3 * log σ(-80)): both ~ 80 and 240 -> mean 160, finite.
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(160.0, rel=1e-4)
    restored = WeightedBinaryCrossentropy.from_config(WeightedBinaryCrossentropy([2.0, 3.0]).get_config())
    assert restored.pos_weight == [2.0, 3.0]


def test_loss_and_metrics_per_task():
    loss, metrics = loss_and_metrics(MULTI_LABEL, [2.0, 1.0])
    assert isinstance(loss, WeightedBinaryCrossentropy) and loss.pos_weight == [2.0, 1.0]
    assert isinstance(metrics[0], keras.metrics.BinaryAccuracy)
    loss, metrics = loss_and_metrics(REGRESSION)
    assert isinstance(loss, keras.losses.MeanSquaredError) and isinstance(metrics[0], keras.metrics.MeanAbsoluteError)
    loss, metrics = loss_and_metrics(SINGLE_LABEL)
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    # The multi-label accuracy works on logits: threshold 0 on a logit is probability 0.5.
    acc = loss_and_metrics(MULTI_LABEL)[1][0]
    acc.update_state(np.array([[1.0, 0.0, 1.0]]), np.array([[0.3, -0.2, -0.1]]))
    assert float(keras.ops.convert_to_numpy(acc.result())) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------------- thresholds
def _brute_force_thresholds(y, probs, grid, min_positives):
    """The documented rule, spelled out: a micro-F1-optimal global threshold; labels with enough positives get
    their own F1-optimal one (first maximum on ties)."""
    micro = [f1_score(y, (probs >= t).astype(int), average="micro", zero_division=0) for t in grid]
    global_t = grid[int(np.argmax(micro))]
    out = []
    for j in range(y.shape[1]):
        if y[:, j].sum() < min_positives:
            out.append(global_t)
        else:
            out.append(grid[int(np.argmax([f1_score(y[:, j], probs[:, j] >= t, zero_division=0) for t in grid]))])
    return out


def test_tune_thresholds_per_label_f1_optimum():
    y = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    probs = np.array(
        [
            # label 0: positives 0.62, 0.70, 0.90; negatives 0.10, 0.30, 0.58 -> F1 = 1 only for t in (0.58, 0.62]
            [0.62, 0.80, 0.02],
            [0.70, 0.50, 0.02],
            [0.90, 0.20, 0.02],
            [0.10, 0.05, 0.02],
            [0.30, 0.20, 0.02],
            [0.58, 0.10, 0.02],
        ]
    )
    # label 1: positives 0.80, 0.20, 0.20; negatives 0.50, 0.05, 0.10. t in (0.1, 0.2] keeps every positive and the
    # negative at 0.5 (P 3/4, R 1, F1 0.857); at t <= 0.1 a second negative joins (F1 0.75; at 0.05, 0.667);
    # t in (0.2, 0.5]: F1 0.4; t in (0.5, 0.8]: F1 0.5. The best grid value is 0.15 (first of the ties 0.15, 0.2).
    th = tune_thresholds(y, probs, min_positives=1)
    assert th[:2] == [0.6, 0.15]
    grid = np.arange(0.05, 0.96, 0.05)
    expected = _brute_force_thresholds(y, probs, grid, 1)
    assert th == pytest.approx(expected)
    assert th[2] == pytest.approx(expected[2])  # label 2 has no positives: it keeps the global threshold
    assert all(isinstance(t, float) for t in th)


def test_tune_thresholds_global_threshold_for_rare_labels():
    # Every positive has probability >= 0.42 and every negative <= 0.38: micro-F1 is 1 only for t in (0.38, 0.42],
    # whose single grid value is 0.40. With fewer than min_positives positives, every label keeps it.
    rng = np.random.default_rng(2)
    y = (rng.random((30, 3)) < 0.2).astype(int)
    y[0] = 1
    probs = np.where(y == 1, rng.uniform(0.42, 0.99, y.shape), rng.uniform(0.0, 0.38, y.shape))
    assert 0 < y.sum(axis=0).max() < 10
    assert tune_thresholds(y, probs) == [0.4, 0.4, 0.4]
    # A frequent label (>= min_positives) gets its own optimum instead: label 0, with 12 more positives at 0.8
    # (the earlier ones moved to 0.9) and 12 more negatives at 0.5, is perfectly separated only for t in (0.5, 0.8]
    # -> first grid value 0.55.
    y2 = np.concatenate([y, np.zeros((24, 3), dtype=int)])
    probs2 = np.concatenate([probs, np.full((24, 3), 0.01)])
    probs2[:30, 0] = np.where(y[:, 0] == 1, 0.9, probs[:, 0])
    y2[30:42, 0] = 1
    probs2[30:42, 0] = 0.8
    probs2[42:54, 0] = 0.5
    th = tune_thresholds(y2, probs2, min_positives=10)
    assert th[0] == 0.55
    assert th == pytest.approx(_brute_force_thresholds(y2, probs2, np.arange(0.05, 0.96, 0.05), 10))
    assert th[1] == th[2]  # the rare labels share the global threshold
    assert tune_thresholds(y, probs, grid=[0.5, 0.7]) == [0.5, 0.5, 0.5]


def test_multilabel_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    y = (rng.random((50, 4)) < 0.4).astype(np.float32)
    probs = np.clip(y * 0.5 + rng.random((50, 4)) * 0.6, 0, 1).astype(np.float32)
    th = [0.3, 0.5, 0.6, 0.45]
    report = multilabel_metrics(y, probs, ["a", "b", "c", "d"], th)
    pred = (probs >= np.array(th)).astype(int)
    assert isinstance(report, MultiLabelReport)
    assert report.micro_f1 == pytest.approx(f1_score(y, pred, average="micro"))
    assert report.macro_f1 == pytest.approx(f1_score(y, pred, average="macro"))
    assert report.subset_accuracy == pytest.approx(accuracy_score(y, pred))
    assert report.micro_f1 != pytest.approx(report.macro_f1)  # the two averages really differ on this data
    assert list(report.per_label.index) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(report.per_label["threshold"], th)
    np.testing.assert_allclose(report.per_label["f1-score"], f1_score(y, pred, average=None))
    assert report.per_label["support"].tolist() == y.sum(axis=0).astype(int).tolist()
    assert report.thresholds == th and report.num_rows == 50
    assert "micro-F1" in str(report)
    assert report.to_dict()["thresholds"] == th
    # One threshold for all labels broadcasts.
    flat = multilabel_metrics(y, probs, ["a", "b", "c", "d"], 0.5)
    assert flat.thresholds == [0.5] * 4
    assert flat.micro_f1 == pytest.approx(f1_score(y, (probs >= 0.5).astype(int), average="micro"))


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(4)
    t = rng.normal(size=40)
    p = t + rng.normal(scale=0.5, size=40)
    report = regression_metrics(t.reshape(-1, 1), p.reshape(-1, 1))
    assert isinstance(report, RegressionReport)
    assert report.mae == pytest.approx(mean_absolute_error(t, p))
    assert report.rmse == pytest.approx(np.sqrt(mean_squared_error(t, p)))
    assert report.r2 == pytest.approx(r2_score(t, p))
    assert report.y_true.shape == (40,) and report.num_rows == 40
    assert set(report.to_dict()) == {"mae", "rmse", "r2", "num_rows"}
    assert "R²" in str(report)
    assert np.isnan(regression_metrics([1.0], [2.0]).r2)  # R² is undefined for one row


def test_token_classification_is_a_task_but_not_a_table_task():
    from kdemo.tasks import TASKS, TOKEN_CLASSIFICATION, Task

    assert check_task("token_classification") is TOKEN_CLASSIFICATION is Task.TOKEN_CLASSIFICATION
    assert check_task("token-classification") is TOKEN_CLASSIFICATION  # the Hub's and the CLI's spelling
    assert TOKEN_CLASSIFICATION not in TASKS  # a table's label column never holds BIO tags


def test_every_spec_names_modules_that_serve_its_task():
    """Each spec's dotted paths import, and each names the interface its door calls (so a new task's spec fails
    here, not at the first run)."""
    from kdemo.inference.base import BasePredictor
    from kdemo.tasks import DATA_KINDS, SPECS, Task, spec_for
    from kdemo.training.evaluator import Evaluator

    assert list(SPECS) == list(Task)  # one spec per task, the enum's order
    for task, spec in SPECS.items():
        assert spec.task is task and spec_for(task.value) is spec and str(spec) == task.value
        assert spec.data_kind in DATA_KINDS and spec.pipeline_tag and spec.auto_model.startswith("AutoModelFor")
        pipeline = spec.load("pipeline")()
        assert callable(pipeline.read) and callable(pipeline.prepare)
        assert issubclass(spec.load("evaluator"), Evaluator)
        assert issubclass(spec.load("predictor"), BasePredictor)
        assert callable(getattr(spec.load("report"), "to_dict", None))
        assert set(spec.card_metrics) and all(len(row) == 4 for row in spec.card_metrics.values())
    with pytest.raises(ValueError, match="Expected role"):
        SPECS[Task.REGRESSION].load("view")


def test_folder_spec_reads_kdemo_json_then_the_transformers_config():
    from kdemo.tasks import SPECS, Task, folder_spec

    assert folder_spec({"task": "multi_label"}, {}) is SPECS[Task.MULTI_LABEL]
    assert folder_spec({"task": "regression"}, {"problem_type": "single_label_classification"}) is SPECS[Task.REGRESSION]
    assert folder_spec({}, {"problem_type": "multi_label_classification"}) is SPECS[Task.MULTI_LABEL]
    assert folder_spec({"task": "single_label_classification"}, {}) is SPECS[Task.SINGLE_LABEL]  # older folders
    assert folder_spec({}, {"architectures": ["BertForTokenClassification"]}) is SPECS[Task.TOKEN_CLASSIFICATION]
    assert folder_spec({}, {"architectures": ["BertForSequenceClassification"]}) is SPECS[Task.SINGLE_LABEL]
    assert folder_spec({}, {}) is SPECS[Task.SINGLE_LABEL]
