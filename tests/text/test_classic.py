"""ktrain's classic text models on standard-mode data: preprocessing as ktrain's, each model builds and trains
with the Learner, the predictor round-trips through safetensors + JSON, bigru reads a local vectors file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import sentiment_frame

import kdemo as ktrain
from kdemo import text as txt
from kdemo.text.classic import StandardTextPreprocessor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    df = sentiment_frame(240, seed=1)
    return txt.texts_from_df(df, "text", "label", preprocess_mode="standard", maxlen=12, max_features=200,
                             ngram_range=2, val_pct=0.25, random_state=0, verbose=0)


def test_standard_preprocessing_matches_ktrain():
    p = StandardTextPreprocessor(maxlen=6, max_features=100, class_names=["neg", "pos"], ngram_range=2)
    x, y = p.preprocess_train(["The book is bad.", "This book is good!"], ["neg", "pos"], verbose=0)
    assert p.word_index == {"book": 1, "is": 2, "the": 3, "bad": 4, "this": 5, "good": 6}  # by count, then first seen
    assert x[0][:3].tolist() == [1, 2, 4] and (x[0][3:] > 100).all()  # "the" cut: rows keep their end, as Keras
    assert x.shape == (2, 6) and y.tolist() == [[1, 0], [0, 1]]
    assert p.ngram_count() == 2 and p.max_features == 101 + len(p.ngram_index)
    assert p.undo(x[0]) == "book is bad"  # n-gram ids left out ("the" was cut by maxlen)
    assert p.preprocess("hello book").tolist() == [[0, 0, 0, 0, 0, 1]]  # unknown words dropped, padded in front
    again = StandardTextPreprocessor.from_json(json.loads(json.dumps(p.to_json())))
    assert (again.preprocess(["this book is bad"]) == p.preprocess(["this book is bad"])).all()


@pytest.mark.parametrize("name", ["nbsvm", "logreg", "fasttext"])
def test_classic_classifiers_learn_the_toy_task(data, name, tmp_path):
    trn, val, preproc = data
    model = txt.text_classifier(name, train_data=trn, preproc=preproc, verbose=0)
    learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    hist = learner.fit_onecycle(0.01, 4 if name != "fasttext" else 8, verbose=0)
    assert max(hist.history["lr"]) == pytest.approx(0.01)
    assert max(hist.history["val_accuracy"]) >= 0.9
    cm = learner.validate(print_report=False, save_path=None)
    assert cm.shape == (2, 2) and np.trace(cm) >= 0.9 * cm.sum()
    p = ktrain.get_predictor(learner.model, preproc)
    assert p.predict(["a great superb film", "a dull awful plot"]) == ["positive", "negative"]
    p.save(tmp_path / "p")
    loaded = ktrain.load_predictor(tmp_path / "p")
    np.testing.assert_allclose(loaded.predict_proba(["a great film"]), p.predict_proba(["a great film"]), atol=1e-6)
    assert "great" in loaded.explain("a great film").data
    assert not list(tmp_path.rglob("*.pkl")) and (tmp_path / "p" / "weights.safetensors").is_file()


def test_linreg_and_bigru_with_local_vectors(tmp_path):
    trn_r, _, pre_r = txt.texts_from_array(["good fun"] * 4 + ["bad dull"] * 4, [10.0] * 4 + [0.0] * 4,
                                           preprocess_mode="standard", maxlen=4, max_features=50, val_pct=0.25,
                                           random_state=0, verbose=0)
    model = txt.text_regression_model("linreg", train_data=trn_r, preproc=pre_r, verbose=0)
    learner = ktrain.get_learner(model, train_data=trn_r, batch_size=2)
    learner.fit_onecycle(0.1, 20, verbose=0)
    p = ktrain.get_predictor(learner.model, pre_r)
    assert p.predict("good fun") > p.predict("bad dull") and p.explain("good fun") is None
    _, _, pre1 = txt.texts_from_df(sentiment_frame(60), "text", "label", preprocess_mode="standard", maxlen=8,
                                   max_features=100, verbose=0)
    vec = tmp_path / "tiny.vec"
    vec.write_text("2 300\ngood " + " ".join(["0.5"] * 300) + "\n", encoding="utf-8")
    x1, y1 = pre1.preprocess_test(["good film"], ["positive"], verbose=0)
    bigru = txt.text_classifier("bigru", train_data=(x1, y1), preproc=pre1, wv_path=str(vec), verbose=0)
    table = bigru.layers[1].get_weights()[0]
    assert np.allclose(table[pre1.word_index["good"]], 0.5) and np.allclose(table[0], 0.0)


def test_transformer_names_and_classic_names_need_their_own_data(data, tiny_bert_dir):
    trn, _, preproc = data
    with pytest.raises(ktrain.ModelError, match="preprocess_mode='distilbert'"):
        txt.text_classifier("distilbert", trn, preproc=preproc)
    with pytest.raises(ktrain.ModelError, match="ngram_range=1"):
        txt.text_classifier("bigru", trn, preproc=preproc)
