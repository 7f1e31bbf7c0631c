"""Multi-label and regression training, sentence pairs and class weights, end to end on a tiny BERT."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import transformers
from conftest import NEGATIVE, POSITIVE, sentiment_frame
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.utils.class_weight import compute_class_weight

from kdemo import TrainingError, Transformer, get_learner, get_predictor, load_predictor
from kdemo.data.dataset import BatchSequence
from kdemo.evaluation.report import MultiLabelReport, RegressionReport
from kdemo.modeling.losses import WeightedBinaryCrossentropy
from kdemo.tasks import pos_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR = 3e-3
BATCH = 8


def _copy_with(src, dst, *, config: dict | None = None, tokenizer: dict | None = None):
    """Copy a tiny checkpoint folder, updating keys of its config.json / tokenizer_config.json."""
    shutil.copytree(src, dst)
    for name, update in (("config.json", config), ("tokenizer_config.json", tokenizer)):
        if update:
            path = dst / name
            path.write_text(json.dumps({**json.loads(path.read_text()), **update}))
    return dst


# ---------------------------------------------------------------------------------------------------- multi-label
def multilabel_rows(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Labels are the word groups a text contains: positive words, negative words, or both (a third each).

    The all-negative prediction scores micro-F1 0 and subset accuracy 0; the best constant prediction (both labels)
    scores micro-F1 0.8 and subset accuracy 1/3.
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            words, labs = rng.choice(POSITIVE, size=int(rng.integers(2, 6))).tolist(), ["positive"]
        elif kind == 1:
            words, labs = rng.choice(NEGATIVE, size=int(rng.integers(2, 6))).tolist(), ["negative"]
        else:
            pos = rng.choice(POSITIVE, size=int(rng.integers(1, 4))).tolist()
            words = pos + rng.choice(NEGATIVE, size=int(rng.integers(1, 4))).tolist()
            rng.shuffle(words)
            labs = ["negative", "positive"]
        texts.append("the movie was " + " ".join(words))
        labels.append(labs)
    return texts, labels


@pytest.fixture(scope="module")
def multilabel(tiny_bert_dir):
    xt, yt = multilabel_rows(160, seed=0)
    xv, yv = multilabel_rows(42, seed=100)
    preproc = Transformer(str(tiny_bert_dir), maxlen=32)
    trn = preproc.preprocess_train(xt, yt, verbose=0)
    val = preproc.preprocess_test(xv, yv, verbose=0)
    torch.manual_seed(0)  # dropout masks: the run is reproducible (seeds 0-5 reach validation micro-F1 0.94-1.0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH)
    history = learner.fit_onecycle(LR, 4, verbose=0)
    report = learner.validation_report(print_report=False)
    return learner, preproc, trn, val, history, report


def test_multilabel_preprocessing_and_loss(multilabel):
    learner, preproc, trn, _, _, _ = multilabel
    assert preproc.task == "multi_label" and learner.task == "multi_label"
    assert preproc.get_classes() == ["negative", "positive"]
    assert trn.labels.dtype == np.float32 and trn.labels.shape == (160, 2)
    np.testing.assert_array_equal(trn.labels[:3], [[0, 1], [1, 0], [1, 1]])
    np.testing.assert_allclose(preproc.pos_weight, pos_weights(trn.labels))
    # About two thirds of the rows hold each label (fewer negatives than positives), so both weights clip to 1.
    assert preproc.pos_weight == [1.0, 1.0]
    assert isinstance(learner.model.loss, WeightedBinaryCrossentropy)
    assert learner.model.loss.pos_weight == preproc.pos_weight
    assert learner.model.hf_model.config.problem_type == "multi_label_classification"


def test_multilabel_learns_and_tunes_thresholds(multilabel):
    learner, _, _, val, history, report = multilabel
    h = history.history
    assert h["val_loss"][-1] < 0.7 * h["val_loss"][0]
    assert isinstance(report, MultiLabelReport)
    # Baselines on this data: all-negative micro-F1 0 / subset accuracy 0; all-positive 0.8 / 0.33.
    assert report.micro_f1 >= 0.9
    assert report.subset_accuracy >= 0.8
    assert report.num_rows == 42 and report.class_names == ["negative", "positive"]
    assert learner.thresholds == report.thresholds
    assert len(learner.thresholds) == 2 and all(0 < t < 1 for t in learner.thresholds)
    # The report scores learner.predict() at those thresholds.
    probs = learner.predict()
    pred = (probs >= np.array(report.thresholds)).astype(int)
    assert report.subset_accuracy == pytest.approx(np.mean((pred == val.labels).all(axis=1)))


def test_multilabel_predictor_predicts_label_lists(multilabel):
    learner, preproc, _, val, _, report = multilabel
    predictor = get_predictor(learner.model, preproc)
    assert predictor.task == "multi_label"
    assert predictor.thresholds == pytest.approx(report.thresholds)
    texts = ["the movie was good great superb lovely", "the movie was awful dull boring terrible",
             "the movie was good awful lovely dull"]
    preds = predictor.predict_labels(texts)
    assert preds == [["positive"], ["negative"], ["negative", "positive"]]
    assert predictor.predict_labels(texts[2]) == ["negative", "positive"]
    # ktrain's predict: (label, probability) pairs for every label, in class order
    pairs = predictor.predict(texts)
    assert [[name for name, _ in row] for row in pairs] == [["negative", "positive"]] * 3
    np.testing.assert_allclose([[p for _, p in row] for row in pairs], predictor.predict_proba(texts), atol=1e-6)
    # Probabilities are independent per-label sigmoids, not a softmax: the mixed text's row sums to well over 1.
    probs = predictor.predict_proba(texts)
    assert probs.shape == (3, 2)
    assert probs[2].sum() > 1.2
    enc = preproc.get_tokenizer()(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = learner.model.hf_model(**enc).logits
    np.testing.assert_allclose(probs, torch.sigmoid(logits).numpy(), atol=1e-5)
    # Predicted label sets are the labels at or above their thresholds; on validation data they are the report's.
    val_preds = predictor.predict_labels(val.texts)
    val_probs = predictor.predict_proba(val.texts)
    names = predictor.get_classes()
    assert val_preds == [[n for n, p, t in zip(names, row, report.thresholds) if p >= t] for row in val_probs]
    truth = [[n for n, y in zip(names, row) if y == 1] for row in val.labels]
    assert np.mean([p == t for p, t in zip(val_preds, truth)]) == pytest.approx(report.subset_accuracy)


def test_multilabel_save_load_and_transformers_pipeline(multilabel, tmp_path):
    learner, preproc, _, _, _, _ = multilabel
    predictor = get_predictor(learner.model, preproc)
    predictor.thresholds = [0.05, 0.95]  # custom thresholds survive the round trip
    folder = predictor.save(tmp_path / "ml")
    meta = json.loads((folder / "kdemo.json").read_text())
    assert meta["task"] == "multi_label" and meta["thresholds"] == [0.05, 0.95]
    loaded = load_predictor(folder)
    assert loaded.task == "multi_label"
    assert loaded.thresholds == [0.05, 0.95]
    assert loaded.get_classes() == ["negative", "positive"]
    texts = ["the movie was good great lovely", "the movie was awful dull boring", "the movie was good awful"]
    ours = loaded.predict_proba(texts)
    np.testing.assert_allclose(ours, predictor.predict_proba(texts), atol=1e-6)
    names = loaded.get_classes()
    assert loaded.predict_labels(texts) == [[n for n, p, t in zip(names, row, [0.05, 0.95]) if p >= t] for row in ours]
    assert loaded.predict_labels(texts) != get_predictor(learner.model, preproc).predict_labels(texts)  # thresholds matter

    pipe = transformers.pipeline("text-classification", model=str(folder), top_k=None, truncation=True, device="cpu")
    out = pipe(texts)
    for row, scores in zip(ours, out):
        got = {d["label"]: d["score"] for d in scores}
        assert set(got) == {"negative", "positive"}  # real label names, not LABEL_0
        np.testing.assert_allclose([got["negative"], got["positive"]], row, atol=1e-5)
    assert sum(d["score"] for d in out[2]) > 1.2  # sigmoid, not softmax


# ---------------------------------------------------------------------------------------------------- regression
def regression_rows(n: int, seed: int) -> tuple[list[str], list[float]]:
    """Target = 0.5 × (positive words − negative words); each text has one kind of word, 2 to 8 of them."""
    rng = np.random.default_rng(seed)
    texts, y = [], []
    for i in range(n):
        k = int(rng.integers(2, 9))
        words, sign = (POSITIVE, 1) if i % 2 else (NEGATIVE, -1)
        texts.append("the movie was " + " ".join(rng.choice(words, size=k).tolist()))
        y.append(0.5 * sign * k)
    return texts, y


@pytest.fixture(scope="module")
def regression(tiny_bert_dir):
    xt, yt = regression_rows(160, seed=1)
    xv, yv = regression_rows(40, seed=101)
    preproc = Transformer(str(tiny_bert_dir), maxlen=32)
    trn = preproc.preprocess_train(xt, yt, verbose=0)
    val = preproc.preprocess_test(xv, yv, verbose=0)
    torch.manual_seed(0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH)
    history = learner.fit_onecycle(LR, 4, verbose=0)
    return learner, preproc, val, history


def test_regression_trains_and_reports(regression):
    learner, preproc, val, history = regression
    assert preproc.task == "regression" and preproc.get_classes() == ["score"]
    assert val.labels.shape == (40, 1) and val.labels.dtype == np.float32
    assert learner.model.hf_model.config.num_labels == 1
    assert learner.model.hf_model.config.problem_type == "regression"
    assert {"loss", "mae", "val_loss", "val_mae"} <= set(history.history)
    assert history.history["val_loss"][-1] < 0.5 * history.history["val_loss"][0]
    assert learner.validate(print_report=False) == [("mae", pytest.approx(mean_absolute_error(val.labels[:, 0], learner.predict()[:, 0]), rel=1e-6))]
    report = learner.validation_report(print_report=False)
    assert isinstance(report, RegressionReport)
    assert report.r2 > 0.5  # 0 is predicting the mean (seeds 0-5 reach 0.83-0.90)
    pred = learner.predict()
    assert pred.shape == (40, 1)
    assert report.r2 == pytest.approx(r2_score(val.labels[:, 0], pred[:, 0]), rel=1e-6)
    assert report.mae == pytest.approx(mean_absolute_error(val.labels[:, 0], pred[:, 0]), rel=1e-6)
    assert history.history["val_mae"][-1] == pytest.approx(report.mae, rel=1e-2)  # fit may run bf16 autocast


def test_regression_predictor_floats_and_round_trip(regression, tmp_path):
    learner, preproc, _, _ = regression
    predictor = get_predictor(learner.model, preproc)
    texts = ["the movie was good great superb lovely fun", "the movie was awful dull boring bad poor"]
    preds = predictor.predict(texts)
    assert all(type(p) is float for p in preds)
    assert preds[0] > 0.5 > -0.5 > preds[1]  # raw values (no sigmoid/softmax): negative targets come out negative
    single = predictor.predict(texts[0])
    assert type(single) is float and single == pytest.approx(preds[0], abs=1e-5)
    assert predictor.predict_proba(texts).shape == (2, 1)
    folder = predictor.save(tmp_path / "reg")
    loaded = load_predictor(folder)
    assert loaded.task == "regression" and loaded.get_classes() == ["score"]
    assert json.loads((folder / "kdemo.json").read_text())["thresholds"] is None
    np.testing.assert_allclose(loaded.predict(texts), preds, atol=1e-5)


# ---------------------------------------------------------------------------------------------------- sentence pairs
@pytest.fixture(scope="module")
def pair_model_dir(tiny_bert_dir, tmp_path_factory):
    """The tiny BERT with a tokenizer that emits segment ids, as real BERT tokenizers do.

    (The fixture's generic fast tokenizer lists only ``input_ids`` and ``attention_mask`` as model inputs, so it
    returns no ``token_type_ids`` for pairs.)
    """
    return _copy_with(tiny_bert_dir, tmp_path_factory.mktemp("pairs") / "bert",
                      tokenizer={"model_input_names": ["input_ids", "token_type_ids", "attention_mask"]})


PAIRS = [("the movie was good", "the plot was great"), ("a dull film", "a boring story"), ("the actor", "was very bad")]


def test_pairs_preprocess_with_segment_ids(pair_model_dir):
    preproc = Transformer(str(pair_model_dir), maxlen=32)
    data = preproc.preprocess_train(PAIRS, ["yes", "no", "no"], verbose=0)
    tok = preproc.get_tokenizer()
    assert data.token_type_ids is not None and len(data.token_type_ids) == 3
    for (a, b), ids, types in zip(PAIRS, data.input_ids, data.token_type_ids):
        n_a = len(tok(a, add_special_tokens=False)["input_ids"])
        n_b = len(tok(b, add_special_tokens=False)["input_ids"])
        # [CLS] a [SEP] -> segment 0; b [SEP] -> segment 1
        assert types.tolist() == [0] * (n_a + 2) + [1] * (n_b + 1)
        assert len(ids) == len(types)
        assert ids[n_a + 1] == tok.sep_token_id and ids[-1] == tok.sep_token_id
    assert data.texts[0] == "the movie was good [SEP] the plot was great"
    batch = data.collate([0, 1, 2])
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
    assert batch["token_type_ids"].sum() == sum(int(t.sum()) for t in data.token_type_ids)  # padding is segment 0


def test_pairs_train_and_predict(pair_model_dir):
    preproc = Transformer(str(pair_model_dir), maxlen=32)
    trn = preproc.preprocess_train(PAIRS * 4, ["yes", "no", "no"] * 4, verbose=0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, batch_size=4)
    learner.fit_onecycle(LR, 1, verbose=0)
    assert len(learner.step_losses) == 3
    predictor = get_predictor(learner.model, preproc)
    label = predictor.predict(PAIRS[0])
    assert label in ("no", "yes")
    labels = predictor.predict(PAIRS)
    assert isinstance(labels, list) and len(labels) == 3 and labels[0] == label
    probs = predictor.predict_proba(PAIRS)
    assert probs.shape == (3, 2)
    # The pair is encoded with its segment ids, exactly as the tokenizer encodes (text_a, text_b).
    enc = preproc.get_tokenizer()([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, return_tensors="pt")
    assert "token_type_ids" in enc
    model = learner.model.hf_model.eval()
    with torch.inference_mode():
        ref = torch.softmax(model(**enc).logits, -1).numpy()
        plain = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        no_segments = torch.softmax(plain.logits, -1).numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    assert not np.allclose(probs, no_segments, atol=1e-6)  # the segment ids really reach the model
    np.testing.assert_allclose(predictor.predict_proba(PAIRS[1]), ref[1], atol=1e-5)


# ---------------------------------------------------------------------------------------------------- class weights
@pytest.fixture(scope="module")
def imbalanced(tiny_bert_dir, tmp_path_factory):
    """100 negative and 20 positive reviews, on a copy of the tiny BERT without dropout (deterministic steps)."""
    folder = _copy_with(tiny_bert_dir, tmp_path_factory.mktemp("nodrop") / "bert",
                        config={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    df = sentiment_frame(200, seed=5)
    df = df[(df.label == "negative") | (df.index % 10 == 1)].reset_index(drop=True)
    preproc = Transformer(str(folder), maxlen=32)
    trn = preproc.preprocess_train(df.text.tolist(), df.label.tolist(), verbose=0)
    return preproc, trn


def test_balanced_class_weight_equals_sklearn(imbalanced):
    preproc, trn = imbalanced
    assert np.bincount(trn.labels).tolist() == [100, 20]
    learner = get_learner(preproc.get_classifier(), train_data=trn, batch_size=BATCH)
    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=trn.labels)
    cw = learner.balanced_class_weight()
    assert set(cw) == {0, 1}
    np.testing.assert_allclose([cw[0], cw[1]], expected)
    np.testing.assert_allclose([cw[0], cw[1]], [120 / (2 * 100), 120 / (2 * 20)])
    with pytest.raises(TrainingError, match="balanced"):
        learner.fit_onecycle(LR, 1, verbose=0, class_weight="balance")


def test_batch_sequence_delivers_sample_weights(imbalanced):
    _, trn = imbalanced
    cw = {0: 0.6, 1: 3.0}
    seq = BatchSequence(trn, 16, shuffle=True, seed=0, class_weight=cw)
    seen = 0
    for i in range(len(seq)):
        _, labels, weights = seq[i]
        assert weights.dtype == np.float32 and weights.shape == labels.shape
        np.testing.assert_array_equal(weights, np.where(labels == 1, 3.0, 0.6).astype(np.float32))
        seen += len(labels)
    assert seen == len(trn)
    assert len(BatchSequence(trn, 16, shuffle=True, seed=0)[0]) == 2  # no weights without class_weight


def test_class_weight_reaches_the_loss(imbalanced):
    """With the whole table in one batch, the first step's loss is the weighted mean of the per-row losses."""
    preproc, trn = imbalanced
    model = preproc.get_classifier()
    initial = [w.copy() for w in model.get_weights()]
    batch = trn.collate(list(range(len(trn))))
    with torch.inference_mode():
        logits = model.hf_model.eval()(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits
    per_row = torch.nn.functional.cross_entropy(logits, torch.from_numpy(trn.labels), reduction="none")
    per_row = per_row.numpy().astype(np.float64)
    learner = get_learner(model, train_data=trn, batch_size=len(trn))
    first = {}
    for name, cw in (("none", None), ("balanced", "balanced"), ("dict", {0: 1.0, 1: 4.0})):
        model.set_weights(initial)
        learner.fit_onecycle(1e-3, 1, verbose=0, class_weight=cw)
        first[name] = learner.step_losses[0]
    w_bal = np.where(trn.labels == 1, 3.0, 0.6)
    w_dict = np.where(trn.labels == 1, 4.0, 1.0)
    assert first["none"] == pytest.approx(per_row.mean(), rel=1e-3)  # (training may run bf16 autocast)
    # Keras reduces weighted losses by the number of rows ("sum_over_batch_size"), not by the sum of weights.
    assert first["balanced"] == pytest.approx((w_bal * per_row).sum() / len(per_row), rel=1e-3)
    assert first["dict"] == pytest.approx((w_dict * per_row).sum() / len(per_row), rel=1e-3)
    assert abs(first["dict"] - first["none"]) > 0.05


def test_balanced_class_weight_raises_minority_recall(imbalanced):
    """3 epochs at 3e-3: unweighted training collapses to the majority class; "balanced" learns both classes.

    (Measured on data seeds 0-5: minority recall 0.0 without weights and 1.0 with them, majority recall 1.0.)
    """
    preproc, trn = imbalanced
    model = preproc.get_classifier()
    initial = [w.copy() for w in model.get_weights()]
    minority = trn.labels == 1
    results = {}
    for cw in (None, "balanced"):
        model.set_weights(initial)
        learner = get_learner(model, train_data=trn, batch_size=BATCH, seed=0)
        learner.fit_onecycle(LR, 3, verbose=0, class_weight=cw)
        probs = learner.predict(trn)
        pred = probs.argmax(axis=1)
        results[cw] = (probs[minority, 1].mean(), (pred[minority] == 1).mean(), (pred[~minority] == 0).mean())
    (p_none, recall_none, _), (p_bal, recall_bal, majority_bal) = results[None], results["balanced"]
    assert recall_bal >= recall_none + 0.5
    assert recall_bal >= 0.9 and majority_bal >= 0.9  # it learns the task, not just the other prior
    assert p_bal > p_none + 0.2


def test_class_weight_is_refused_for_multilabel_and_regression(multilabel, regression):
    for learner in (multilabel[0], regression[0]):
        for cw in ("balanced", {0: 1.0, 1: 2.0}):
            with pytest.raises(TrainingError, match="single-label"):
                learner.fit_onecycle(LR, 1, verbose=0, class_weight=cw)


def test_a_pair_reads_with_the_tokenizers_own_separator(pair_model_dir):
    from types import SimpleNamespace

    preproc = Transformer(str(pair_model_dir), maxlen=32)
    assert preproc.pair_text("a", "b") == "a [SEP] b"
    preproc.tokenizer = SimpleNamespace(sep_token="</s>")  # a RoBERTa-style separator
    assert preproc.pair_text("a", "b") == "a </s> b"
