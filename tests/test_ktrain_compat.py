"""ktrain's own transformer text flows, ported from ktrain's tests and tutorials, run with only the import changed.

Each flow is written as a ktrain user writes it (``import kdemo as ktrain``, ``from kdemo import text``) and asserts
the return values ktrain documents. References (amaiya/ktrain): ``ktrain/tests/test_transformers.py``
(``test_transformers_api_1``), ``ktrain/tests/test_textregression.py``, ``ktrain/tests/test_multilabel.py``,
``ktrain/tests/test_textclassification.py``, ``ktrain/core.py``, ``ktrain/text/data.py``, ``ktrain/text/models.py``,
``ktrain/text/preprocessor.py``, ``ktrain/text/predictor.py``, ``ktrain/text/dataset.py``, ``ktrain/utils.py``.

The fast flows use a tiny random-init BERT on a learnable toy task; the ``slow`` ones run the embedded MiniLM on
small slices of ``../shared/data``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, SHARED_DATA, sentiment_frame
from matplotlib.figure import Figure

import kdemo as ktrain
from kdemo import text

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR = 3e-3  # the tiny model's toy task; ktrain's tutorials use 5e-5 on real checkpoints
BATCH = 8


def _arrays(n: int = 200, seed: int = 0):
    df = sentiment_frame(n, seed)
    return df["text"].tolist(), df["label"].tolist()


# ------------------------------------------------------------------------------------------------ namespace
def test_namespace_matches_ktrain():
    for name in ("texts_from_array", "texts_from_csv", "texts_from_df", "texts_from_folder", "Transformer",
                 "text_classifier", "text_regression_model", "print_text_classifiers", "print_text_regression_models",
                 "TransformerDataset"):
        assert callable(getattr(text, name)), name
    assert ktrain.text is text
    for name in ("get_learner", "get_predictor", "load_predictor", "release_gpu_memory"):
        assert callable(getattr(ktrain, name)), name
    assert ktrain.release_gpu_memory() is None  # ktrain returns None too
    for kept in ("Learner", "Predictor", "texts_from_csv", "detect_task", "diagnose", "read_table", "DEFAULT_MODEL_ID"):
        assert hasattr(ktrain, kept), kept  # everything kdemo exported before is still there


def test_print_model_listings(capsys):
    assert text.print_text_classifiers() is None
    out = capsys.readouterr().out
    for name in ("fasttext", "logreg", "nbsvm", "bigru", "standard_gru", "bert", "distilbert"):
        assert f"{name}: " in out
    text.print_text_regression_models()
    out = capsys.readouterr().out
    assert "linreg: " in out and "distilbert: " in out


def test_classic_model_names_need_standard_mode_data(tiny_bert_dir):
    x, y = _arrays(40)
    trn, val, preproc = text.texts_from_array(x, y, preprocess_mode="distilbert", model_name=str(tiny_bert_dir),
                                              maxlen=16, verbose=0)
    for name in ("fasttext", "logreg", "nbsvm", "bigru", "standard_gru"):
        with pytest.raises(ktrain.ModelError, match="preprocess_mode='standard'"):
            text.text_classifier(name, trn, preproc=preproc)
    with pytest.raises(ktrain.ModelError, match="preprocess_mode='standard'"):
        text.text_regression_model("linreg", trn, preproc=preproc)
    with pytest.raises(ktrain.ModelError, match="preproc="):
        text.text_classifier("distilbert", trn)
    (x_train, y_train), _, standard = text.texts_from_array(x, y, preprocess_mode="standard", verbose=0)
    assert x_train.ndim == 2 and y_train.shape[1] == 2 and standard.get_classes() == ["negative", "positive"]


# ------------------------------------------------------------------------------------------------ ktrain's test_transformers_api_1
@pytest.fixture(scope="module")
def api_flow(tiny_bert_dir, tmp_path_factory):
    """ktrain's ``test_transformers_api_1``, step by step, recording what each call returned."""
    import torch

    torch.manual_seed(0)
    x_train, y_train = _arrays(200, 0)
    x_test, y_test = _arrays(40, 1)
    class_names = ["negative", "positive"]
    y_train_ids = [class_names.index(v) for v in y_train]  # ktrain's 20newsgroups test passes class ids
    y_test_ids = [class_names.index(v) for v in y_test]
    t = text.Transformer(str(tiny_bert_dir), maxlen=32, classes=class_names)
    trn = t.preprocess_train(x_train, y_train_ids, verbose=0)
    val = t.preprocess_test(x_test, y_test_ids, verbose=0)
    model = t.get_classifier()
    learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=BATCH)
    out = {"wd_before": learner.get_weight_decay()}
    learner.set_weight_decay(1e-2)
    out["wd_after"] = learner.get_weight_decay()
    out["lr_find"] = learner.lr_find(max_epochs=1, verbose=0)
    out["hist"] = learner.fit_onecycle(LR, 3, verbose=0)
    folder = tmp_path_factory.mktemp("api") / "model"
    learner.save_model(str(folder))
    before = learner.predict()
    learner.load_model(str(folder), preproc=t)
    out["reloaded_same"] = np.allclose(learner.predict(), before, atol=1e-5)
    return learner, t, trn, val, out, folder


def test_weight_decay_and_lr_find_return_what_ktrain_returns(api_flow):
    learner, _, _, _, out, _ = api_flow
    assert out["wd_before"] is None
    assert out["wd_after"] == pytest.approx(1e-2)
    assert out["lr_find"] is None  # ktrain's lr_find returns None; the values are on learner.lr_finder
    assert len(learner.lr_finder.lrs) == len(learner.lr_finder.losses) > 0
    assert learner.lr_plot(return_fig=True) is not None


def test_fit_onecycle_history_holds_the_per_step_trace(api_flow):
    _, _, trn, _, out, _ = api_flow
    h = out["hist"].history
    steps = 3 * int(np.ceil(len(trn) / BATCH))
    assert len(h["lr"]) == len(h["momentum"]) == len(h["iterations"]) == steps
    assert max(h["lr"]) == LR  # ktrain: self.assertAlmostEqual(max(hist.history['lr']), lr)
    assert max(h["momentum"]) == pytest.approx(0.95) and min(h["momentum"]) == pytest.approx(0.85)
    assert max(h["accuracy"]) > 0.9
    assert len(h["loss"]) == 3


def test_save_model_and_load_model_round_trip(api_flow):
    _, _, _, _, out, folder = api_flow
    assert out["reloaded_same"]
    assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()


def test_validate_returns_the_confusion_matrix(api_flow, capsys, tmp_path):
    learner, preproc, _, val, _, _ = api_flow
    cm = learner.validate(class_names=preproc.get_classes())
    assert isinstance(cm, np.ndarray) and cm.shape == (2, 2) and cm.sum() == len(val)
    for i, row in enumerate(cm):
        assert np.argmax(row) == i  # ktrain's own check
    assert "precision" in capsys.readouterr().out  # scikit-learn's classification report is printed
    csv = tmp_path / "report.csv"
    np.testing.assert_array_equal(learner.validate(print_report=False, save_path=str(csv)), cm)
    assert "precision" in pd.read_csv(csv, index_col=0).columns
    np.testing.assert_array_equal(learner.evaluate(val, print_report=False, save_path=None), cm)
    assert learner.validation_report().accuracy == pytest.approx(np.trace(cm) / cm.sum())  # kdemo's report stays


def test_top_losses_are_ktrain_tuples(api_flow, capsys):
    learner, preproc, _, val, _, _ = api_flow
    probs = learner.predict()
    wrong = np.flatnonzero(probs.argmax(1) != val.labels)
    tups = learner.top_losses(n=len(val), preproc=preproc)
    losses = -np.log(probs[np.arange(len(val)), val.labels])
    assert sorted(t[0] for t in tups) == wrong.tolist()  # misclassified rows only, as in ktrain
    for idx, loss, truth, pred in tups:
        assert loss == pytest.approx(losses[idx], abs=1e-4)
        assert truth == preproc.get_classes()[val.labels[idx]] and pred == preproc.get_classes()[probs[idx].argmax()]
    assert [t[1] for t in tups] == sorted((t[1] for t in tups), reverse=True)
    if len(tups) >= 2:
        assert learner.top_losses(n=(1, 2)) == [(tups[1][0], tups[1][1], str(val.labels[tups[1][0]]),
                                                   str(probs[tups[1][0]].argmax()))]
    assert learner.view_top_losses(preproc=preproc, n=1) is None
    out = capsys.readouterr().out
    assert (out.startswith("----------") and "loss:" in out) if tups else out == ""


def test_ground_truth_predict_layer_output_and_set_lr(api_flow):
    learner, _, trn, val, _, _ = api_flow
    y = learner.ground_truth()
    assert y.shape == (len(val), 2) and (y.sum(axis=1) == 1).all()  # one-hot, as ktrain holds it
    np.testing.assert_array_equal(y.argmax(1), val.labels)
    assert learner.predict().shape == (len(val), 2)
    out = learner.layer_output(-1, example_id=0)
    hidden = learner.model.hf_model.config.hidden_size
    assert out.shape == (1, trn.lengths[0], hidden)
    assert learner.layer_output(0, example_id=1, use_val=True).shape == (1, val.lengths[1], hidden)
    learner.set_lr(1e-4)
    assert float(learner.model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_predictor_flow(api_flow, tmp_path):
    learner, preproc, _, _, _, _ = api_flow
    p = ktrain.get_predictor(learner.model, preproc, batch_size=64)
    doc = "the movie was good great superb lovely fun"
    assert p.predict([doc])[0] == "positive"
    assert p.preproc is preproc
    p.save(str(tmp_path / "p"))
    p2 = ktrain.load_predictor(str(tmp_path / "p"), batch_size=64)
    assert p2.predict(doc) == "positive"
    assert np.argmax(p2.predict_proba([doc])[0]) == 1
    assert p2.preproc.get_classes() == ["negative", "positive"] and p2.preproc.maxlen == 32
    shown = p2.explain(doc)
    IPython = pytest.importorskip("IPython")
    assert type(shown) is IPython.core.display.HTML  # ktrain's test_transformers_api_1 checks exactly this
    assert "y=positive" in shown._repr_html_() and shown.attribution.label == "positive"
    assert p2.attributions(doc).label == "positive"  # the attribution object, under kdemo's name
    onnx_path = p2.export_model_to_onnx(str(tmp_path / "model.onnx"), verbose=0)
    assert isinstance(onnx_path, str) and Path(onnx_path).stat().st_size > 0


def test_reset_weights_set_model_and_unfreeze_exclude_range(api_flow):
    learner, preproc, _, _, _, _ = api_flow
    trained = [w.copy() for w in learner.model.get_weights()]
    learner.reset_weights(verbose=0)
    assert learner.history is None
    assert any(not np.array_equal(a, b) for a, b in zip(trained, learner.model.get_weights()))
    learner.unfreeze(exclude_range=1)
    table = learner.print_layers()
    frozen = set(table.loc[~table.trainable, "name"])
    assert any("embeddings" in n for n in frozen) and any(".layer.0." in n for n in frozen)
    assert not any(".layer.1." in n for n in frozen)
    learner.unfreeze()
    assert learner.print_layers().trainable.all()
    other = preproc.get_classifier()
    learner.set_model(other)
    assert learner.model is other and learner.history is None
    with pytest.raises(TypeError, match="HFClassifier"):
        learner.set_model(other.hf_model)


def test_get_learner_trains_every_layer_by_default(api_flow):
    _, preproc, trn, _, _, _ = api_flow
    learner = ktrain.get_learner(preproc.get_classifier(), train_data=trn, batch_size=BATCH, workers=1,
                                 use_multiprocessing=False)
    assert learner.frozen_blocks == 0 and learner.print_layers().trainable.all()


def test_transformers_api_1_data_path(tiny_bert_dir):
    """``test_transformers_api_1``'s data path: texts_from_array with class ids and class_names, eval_batch_size."""
    import torch

    torch.manual_seed(0)
    class_names = ["negative", "positive"]
    x_train, y_train = _arrays(200, 0)
    x_test, y_test = _arrays(40, 1)
    trn, val, preproc = text.texts_from_array(x_train=x_train, y_train=np.array([class_names.index(v) for v in y_train]),
                                              x_test=x_test, y_test=np.array([class_names.index(v) for v in y_test]),
                                              class_names=class_names, preprocess_mode="distilbert", maxlen=500,
                                              max_features=35000, model_name=str(tiny_bert_dir), verbose=0)
    assert preproc.get_classes() == class_names and preproc.maxlen == 128  # capped at the model's maximum
    model = text.text_classifier("distilbert", train_data=trn, preproc=preproc, verbose=0)
    learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=BATCH, eval_batch_size=64)
    hist = learner.fit_onecycle(LR, 3, verbose=0)
    assert max(hist.history["lr"]) == LR and max(hist.history["val_accuracy"]) > 0.9
    obs = learner.top_losses(n=1, val_data=None)
    assert all(o[0] in range(len(val.x)) for o in obs)
    assert learner.get_weight_decay() is None


# ------------------------------------------------------------------------------------------------ autofit, fit, plots
def test_autofit_cycles_momentum_and_plots(tiny_bert_dir):
    x, y = _arrays(128)  # 96 training rows: 12 steps an epoch, so the triangle's middle step is its peak
    trn, val, preproc = text.texts_from_array(x, y, class_names=["negative", "positive"], val_pct=0.25,
                                              preprocess_mode="distilbert", model_name=str(tiny_bert_dir), maxlen=16,
                                              random_state=0, verbose=0)
    learner = ktrain.get_learner(text.text_classifier("distilbert", trn, preproc=preproc, verbose=0), train_data=trn,
                                 val_data=val, batch_size=BATCH)
    hist = learner.autofit(LR, 2, verbose=0)
    lrs, moms = np.array(hist.history["lr"]), np.array(hist.history["momentum"])
    steps = int(np.ceil(len(trn) / BATCH))
    assert len(lrs) == len(moms) == 2 * steps
    assert lrs.max() == pytest.approx(LR) and lrs.min() >= LR / 10 - 1e-12
    assert moms[int(np.argmax(lrs))] == pytest.approx(0.85) and moms.max() <= 0.95 + 1e-9
    for kind in ("lr", "momentum"):
        fig = learner.plot(kind, return_fig=True)
        assert isinstance(fig, Figure) and fig.axes[0].get_xlabel() == "iterations"
        assert len(fig.axes[0].lines[0].get_xdata()) == 2 * steps
    assert learner.plot("lr") is None  # displayed (in a notebook) rather than returned
    hist = learner.autofit(LR, 1, cycle_momentum=True, max_momentum=0.9, min_momentum=0.8, verbose=0)
    assert max(hist.history["momentum"]) == pytest.approx(0.9) and min(hist.history["momentum"]) == pytest.approx(0.8)
    assert learner.plot("momentum", return_fig=True) is not None
    hist = learner.fit(LR, 2, cycle_len=1, early_stopping=1, verbose=0)
    assert 1 <= len(hist.history["loss"]) <= 2 and len(hist.history["lr"]) == len(hist.history["loss"]) * steps


# ------------------------------------------------------------------------------------------------ data objects and labels
def test_dataset_indexing_like_transformer_dataset(tiny_bert_dir):
    x, y = _arrays(60)
    trn, val, preproc = text.texts_from_array(x, y, preprocess_mode="distilbert", model_name=str(tiny_bert_dir),
                                              maxlen=16, verbose=0)
    assert trn.x.shape[:2] == (len(trn), 2) and trn.xshape() == (len(trn), trn.x.shape[-1])
    assert trn.y.shape == (len(trn), 2) and trn.nclasses() == 2 and trn.nsamples() == len(trn)
    first_x, first_y = trn[0]
    assert first_x.shape[0] == 1 and first_y.shape == (1, 2)
    np.testing.assert_array_equal(trn[0][0], trn.x[:1])  # batch_size 1 until get_learner sets it
    assert preproc.undo(trn.x[0]) == trn.texts[0]
    ktrain.get_learner(preproc.get_classifier(), train_data=trn, batch_size=4)
    assert trn[0][0].shape[0] == 4 and trn[1][1].shape == (4, 2)
    assert not trn.ondisk()
    assert len(preproc.preprocess(["good movie"])) == 1


def test_bert_mode_returns_unpackable_arrays(tiny_bert_dir):
    x, y = _arrays(60)
    (x_train, y_train), (x_test, y_test), preproc = text.texts_from_array(
        x, y, preprocess_mode="bert", model_name=str(tiny_bert_dir), maxlen=16, verbose=0)
    assert len(x_train) == 2 and x_train[0].shape == x_train[1].shape and x_train[0].shape[0] == len(y_train)
    assert y_train.shape == (len(y_train), 2)
    trn, val, _ = text.texts_from_array(x, y, preprocess_mode="bert", model_name=str(tiny_bert_dir), maxlen=16, verbose=0)
    learner = ktrain.get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH)
    assert len(learner.train_data) == len(y_train)


def test_numeric_targets_without_class_names_are_regression(tiny_bert_dir, capsys):
    x, _ = _arrays(60)
    prices = np.random.default_rng(0).choice([10.0, 15.0, 20.0], size=60)
    trn, val, preproc = text.texts_from_array(x, prices, model_name=str(tiny_bert_dir), maxlen=16)
    assert "task: text regression" in capsys.readouterr().out
    assert preproc.task == "regression" and trn.y.ndim == 1
    t = text.Transformer(str(tiny_bert_dir), maxlen=16)
    t.preprocess_train(x, [0, 1] * 30, verbose=0)  # YTransform: numbers without class names are regression
    assert t.task == "regression"
    t = text.Transformer(str(tiny_bert_dir), maxlen=16, class_names=["neg", "pos"])
    assert t.preprocess_train(x, [0, 1] * 30, verbose=0).y.shape == (60, 2) and t.task == "single_label"
    ids = np.random.default_rng(0).integers(0, 2, size=60).tolist()
    _, _, p2 = text.texts_from_array(x, ids, class_names=["neg", "pos"], model_name=str(tiny_bert_dir), maxlen=16, verbose=0)
    assert p2.task == "single_label" and p2.get_classes() == ["neg", "pos"]
    df = pd.DataFrame({"text": x, "price": prices, "flag": (prices > 12).astype(float)})
    for col in ("price", "flag"):  # float columns, whole numbers included (1.0/0.0; 10.0/15.0)
        _, _, p3 = text.texts_from_df(df, "text", label_columns=[col], model_name=str(tiny_bert_dir), maxlen=16, verbose=0)
        assert p3.task == "regression", col
    df["ints"] = (prices > 12).astype(int)
    _, _, p4 = text.texts_from_df(df, "text", label_columns=["ints"], model_name=str(tiny_bert_dir), maxlen=16, verbose=0)
    assert p4.task == "single_label"  # integer targets are class ids unless is_regression=True (ktrain)
    _, _, p5 = text.texts_from_df(df, "text", label_columns=["ints"], is_regression=True, model_name=str(tiny_bert_dir),
                                  maxlen=16, verbose=0)
    assert p5.task == "regression"


def test_one_hot_label_columns_are_single_label(tiny_bert_dir):
    x, y = _arrays(60)
    df = pd.DataFrame({"text": x, "pos": [int(v == "positive") for v in y], "neg": [int(v == "negative") for v in y]})
    trn, val, preproc = text.texts_from_df(df, "text", label_columns=["pos", "neg"], model_name=str(tiny_bert_dir),
                                           maxlen=16, preprocess_mode="distilbert", max_features=20000, ngram_range=1,
                                           verbose=0)
    assert preproc.task == "single_label" and preproc.get_classes() == ["pos", "neg"]  # label_columns order
    by_text = {t: [p, n] for t, p, n in zip(df["text"], df["pos"], df["neg"])}
    np.testing.assert_array_equal(trn.y, [by_text[t] for t in trn.texts])  # ktrain's y: the one-hot rows
    onehot = np.eye(2)[[int(v == "positive") for v in y]]
    _, _, p2 = text.texts_from_array(x, onehot, class_names=["negative", "positive"], model_name=str(tiny_bert_dir),
                                     maxlen=16, verbose=0)
    assert p2.task == "single_label"
    onehot[0] = [1, 1]  # a row with two 1s makes it multi-label
    _, _, p3 = text.texts_from_array(x, onehot, class_names=["negative", "positive"], model_name=str(tiny_bert_dir),
                                     maxlen=16, verbose=0)
    assert p3.task == "multi_label"


def test_multilabel_order_and_predict_pairs(tiny_bert_dir):
    x, y = _arrays(80)
    df = pd.DataFrame({"text": x, "toxic": [int("awful" in t) for t in x], "clean": [int("good" in t) for t in x],
                       "any": 1})
    trn, val, preproc = text.texts_from_df(df, "text", label_columns=["toxic", "clean", "any"],
                                           model_name=str(tiny_bert_dir), maxlen=16, verbose=0)
    assert preproc.task == "multi_label" and preproc.get_classes() == ["toxic", "clean", "any"]
    model = text.text_classifier("distilbert", trn, preproc=preproc, multilabel=True, verbose=0)
    learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=BATCH)
    learner.fit_onecycle(LR, 1, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert learner.validate(print_report=False, save_path=None) is None  # ktrain: no multilabel confusion matrix
    assert any("multilabel" in str(w.message) for w in caught)
    p = ktrain.get_predictor(learner.model, preproc)
    pairs = p.predict("the movie was awful")
    assert [name for name, _ in pairs] == ["toxic", "clean", "any"]
    np.testing.assert_allclose([prob for _, prob in pairs], p.predict_proba("the movie was awful"), atol=1e-6)
    assert isinstance(p.predict_labels("the movie was awful"), list)


def test_regression_flow(tiny_bert_dir):
    import torch

    x, y = _arrays(200)
    target = np.array([1.0 if v == "positive" else -1.0 for v in y])  # whole-number floats: regression
    trn, val, preproc = text.texts_from_array(x, target, model_name=str(tiny_bert_dir), maxlen=16, verbose=0,
                                              preprocess_mode="distilbert", random_state=0)
    torch.manual_seed(0)
    model = text.text_regression_model("distilbert", train_data=trn, preproc=preproc, verbose=0)
    learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=BATCH)
    learner.fit_onecycle(LR, 4, verbose=0)
    out = learner.validate()
    mae = float(np.abs(learner.predict()[:, 0] - val.y).mean())
    assert out == [("mae", pytest.approx(mae, rel=1e-5))]  # ktrain returns [(metric, value)] for regression
    assert mae < 0.5  # predicting the mean scores 1.0
    tups = learner.top_losses(n=3)
    assert len(tups) == 3 and all(isinstance(t[2], (float, np.floating)) for t in tups)
    p = ktrain.get_predictor(learner.model, preproc)
    assert isinstance(p.predict("the movie was good great"), float)
    with pytest.warns(UserWarning, match="regression"):
        assert p.explain("the movie was good") is None  # ktrain: explain is not supported for regression
    assert p.attributions("the movie was good").scores.shape[0] > 0


def test_texts_from_csv_and_folder_accept_ktrain_arguments(tiny_bert_dir, sentiment_csv, tmp_path):
    trn, val, preproc = text.texts_from_csv(str(sentiment_csv), "text", label_columns=["label"], val_filepath=None,
                                            max_features=35000, maxlen=16, ngram_range=1, preprocess_mode="distilbert",
                                            model_name=str(tiny_bert_dir), verbose=0)
    assert preproc.get_classes() == ["negative", "positive"] and len(trn) + len(val) == 200
    (x_std, y_std), _, standard = text.texts_from_csv(str(sentiment_csv), "text", label_columns=["label"],
                                                      preprocess_mode="standard", maxlen=8, ngram_range=2, verbose=0)
    assert x_std.shape[1] == 8 and y_std.shape[1] == 2 and standard.ngram_count() == 2  # ktrain's classic path
    for split, offset in (("train", 0), ("test", 1)):
        for i, (t, lab) in enumerate(zip(*_arrays(20, offset))):
            (tmp_path / split / lab).mkdir(parents=True, exist_ok=True)
            (tmp_path / split / lab / f"{i}.txt").write_text(t)
    (x_train, y_train), _, _ = text.texts_from_folder(str(tmp_path), maxlen=16, preprocess_mode="bert",
                                                      model_name=str(tiny_bert_dir), verbose=0)
    assert y_train.shape == (20, 2)


# ------------------------------------------------------------------------------------------------ notebooks
def test_plots_display_in_a_jupyter_kernel_with_the_inline_backend(tiny_bert_dir):
    """ktrain draws with pyplot and shows; kdemo's figures must reach a notebook as ``image/png`` display data."""
    jupyter_client = pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    km = jupyter_client.KernelManager(kernel_cmd=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                                  "{connection_file}"])
    km.start_kernel(cwd=str(REPO), env=env)
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        cell = f"""
%matplotlib inline
import torch; torch.set_num_threads(1)
import kdemo as ktrain
from kdemo import text
x = ["the movie was good great", "the movie was awful dull"] * 16
y = ["positive", "negative"] * 16
trn, val, preproc = text.texts_from_array(x, y, model_name={str(tiny_bert_dir)!r}, maxlen=16, verbose=0)
learner = ktrain.get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
learner.lr_find(num_steps=8, max_epochs=2, show_plot=True, verbose=0)
learner.lr_plot()
learner.fit_onecycle(1e-3, 1, verbose=0)
learner.plot("lr")
learner.plot("loss")
fig = learner.plot("momentum", return_fig=True)
print(type(fig).__name__)
"""
        msg_id = client.execute(cell)
        images, stdout, status, deadline = 0, "", None, time.time() + 240
        while status != "idle" and time.time() < deadline:
            msg = client.get_iopub_msg(timeout=deadline - time.time())
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("display_data", "execute_result") and "image/png" in content.get("data", {}):
                images += 1
            elif kind == "stream" and content["name"] == "stdout":
                stdout += content["text"]
            elif kind == "error":
                pytest.fail("\n".join(content["traceback"]))
            elif kind == "status":
                status = content["execution_state"]
        assert images == 4  # lr_find(show_plot=True), lr_plot(), plot("lr"), plot("loss")
        assert "Figure" in stdout  # return_fig=True still returns the figure
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


# ------------------------------------------------------------------------------------------------ real data, real model
@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not (SHARED_DATA / "sst2" / "train.csv").exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.mark.slow
def test_ktrain_tutorial_on_sst2_with_minilm(shared_data, tmp_path):
    """ktrain's tutorial (tutorial-A3 / the README's text recipe) on 64 SST-2 rows, maxlen 32, one epoch."""
    train = pd.read_csv(shared_data / "sst2" / "train.csv").sample(64, random_state=0)
    test = pd.read_csv(shared_data / "sst2" / "test.csv").sample(64, random_state=0)
    trn, val, preproc = text.texts_from_df(train, "text", label_columns=["label"], val_df=test, maxlen=32,
                                           preprocess_mode="distilbert", verbose=0)
    model = text.text_classifier("distilbert", train_data=trn, preproc=preproc, verbose=0)
    learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    assert learner.lr_find(max_epochs=1, verbose=0) is None
    hist = learner.fit_onecycle(5e-5, 1, verbose=0)
    assert max(hist.history["lr"]) == 5e-5
    cm = learner.validate(class_names=preproc.get_classes(), print_report=False, save_path=str(tmp_path / "r.csv"))
    assert cm.shape == (2, 2) and cm.sum() == 64
    predictor = ktrain.get_predictor(learner.model, preproc)
    assert predictor.predict("a gorgeous, witty, seductive movie.") in ("negative", "positive")
    assert "y=" in predictor.explain("a gorgeous, witty, seductive movie.")._repr_html_()


@pytest.mark.slow
def test_ktrain_multilabel_on_goemotions_with_minilm(shared_data):
    df = pd.read_csv(shared_data / "goemotions" / "train.csv").head(64)
    labels = ["joy", "neutral", "anger"]
    for name in labels:
        df[name] = df["labels"].str.split("|").map(lambda parts, n=name: int(n in parts))
    trn, val, preproc = text.texts_from_df(df, "text", label_columns=labels, maxlen=32, val_pct=0.25, verbose=0)
    assert preproc.task == "multi_label" and preproc.get_classes() == labels
    learner = ktrain.get_learner(text.text_classifier("distilbert", trn, preproc=preproc, verbose=0), train_data=trn,
                                 val_data=val, batch_size=16)
    learner.fit_onecycle(5e-5, 1, verbose=0)
    pairs = ktrain.get_predictor(learner.model, preproc).predict(df["text"].iloc[0])
    assert [n for n, _ in pairs] == labels and all(0 <= p <= 1 for _, p in pairs)
