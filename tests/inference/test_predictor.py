"""Predictor: predictions, saving/loading, compatibility with transformers.pipeline, attention maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers
from conftest import sentiment_frame
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kdemo import DataError, ModelError, Predictor, get_learner, get_predictor, load_predictor, texts_from_df

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    "the movie was great superb fun",
    "the movie was awful boring dull",
    "a witty and gorgeous film",
    "bad weak plot",
    # Longer than maxlen: kdemo and the pipeline must truncate it the same way.
    "the movie was good " * 12 + "bad awful terrible",
]


@pytest.fixture(scope="module")
def trained(tiny_bert_dir):
    trn, val, preproc = texts_from_df(
        sentiment_frame(), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0
    )
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    learner.fit_onecycle(3e-3, 2, verbose=0)
    return learner, preproc


@pytest.fixture(scope="module")
def predictor(trained):
    learner, preproc = trained
    return get_predictor(learner.model, preproc, meta={"training": {"lr": 3e-3, "epochs": 2}})


@pytest.fixture(scope="module")
def saved(predictor, tmp_path_factory):
    return predictor.save(tmp_path_factory.mktemp("saved") / "sentiment-predictor")


# ---------------------------------------------------------------------------------------------------- predictions
def test_predict_returns_class_names(predictor):
    assert predictor.get_classes() == ["negative", "positive"]
    assert predictor.predict(TEXTS[0]) == "positive"
    assert predictor.predict(TEXTS[1]) == "negative"
    labels = predictor.predict(TEXTS[:4])
    assert labels == ["positive", "negative", "positive", "negative"]


def test_predict_proba(predictor):
    probs = predictor.predict_proba(TEXTS)
    assert probs.shape == (len(TEXTS), 2)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    single = predictor.predict_proba(TEXTS[2])
    assert single.shape == (2,)
    np.testing.assert_allclose(single, probs[2], atol=1e-6)
    np.testing.assert_array_equal(predictor.predict(TEXTS, return_proba=True), probs)
    assert predictor.predict_proba([]).shape == (0, 2)
    # Batching and length sorting do not change results, and the order is the input order.
    one_by_one = np.stack([predictor.predict_proba(t) for t in TEXTS])
    np.testing.assert_allclose(one_by_one, probs, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_proba(TEXTS[::-1]), probs[::-1], atol=1e-5)


def test_predict_rejects_non_text(predictor):
    with pytest.raises(DataError, match=r"rows \[2\]"):
        predictor.predict(["fine", 3, "ok"])


# ---------------------------------------------------------------------------------------------------- save / load
def test_saved_folder_contents(saved):
    names = {p.name for p in saved.iterdir()}
    assert {"model.safetensors", "config.json", "kdemo.json", "tokenizer_config.json"} <= names
    forbidden = [p for p in saved.rglob("*") if p.suffix in (".bin", ".pkl", ".pt", ".pth", ".pickle")]
    assert forbidden == []
    config = json.loads((saved / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    meta = json.loads((saved / "kdemo.json").read_text())
    assert meta["format"] == "kdemo-predictor"
    assert meta["class_names"] == ["negative", "positive"]
    assert meta["maxlen"] % 8 == 0
    assert meta["training"] == {"lr": 3e-3, "epochs": 2}
    assert "base_model" in meta
    # The atomic save leaves no temporary folder beside the destination.
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_load_predictor_gives_identical_probabilities(predictor, saved):
    loaded = load_predictor(saved)
    assert isinstance(loaded, Predictor)
    assert loaded.get_classes() == predictor.get_classes()
    assert loaded.maxlen == predictor.maxlen
    assert loaded.meta["training"] == {"lr": 3e-3, "epochs": 2}
    assert loaded.meta["base_model"] == predictor.meta["base_model"]
    diff = np.abs(loaded.predict_proba(TEXTS) - predictor.predict_proba(TEXTS)).max()
    assert diff <= 1e-5
    assert loaded.predict(TEXTS[:4]) == predictor.predict(TEXTS[:4])


def test_transformers_pipeline_loads_the_saved_folder(predictor, saved):
    pipe = transformers.pipeline("text-classification", model=str(saved), truncation=True, top_k=None)
    outputs = pipe(TEXTS)
    probs = predictor.predict_proba(TEXTS)
    for out, row in zip(outputs, probs):
        scores = {d["label"]: d["score"] for d in out}
        assert set(scores) == {"negative", "positive"}  # real names, not LABEL_0 / LABEL_1
        assert abs(scores["negative"] - row[0]) <= 1e-5
        assert abs(scores["positive"] - row[1]) <= 1e-5


def test_save_replaces_an_existing_folder(predictor, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    (dest / "pytorch_model.bin").write_bytes(b"old pickle")
    returned = predictor.save(dest)
    assert returned == dest.resolve()
    names = {p.name for p in dest.iterdir()}
    assert "stale.txt" not in names and "pytorch_model.bin" not in names
    assert "model.safetensors" in names
    predictor.save(dest)  # and again over its own output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    np.testing.assert_allclose(load_predictor(dest).predict_proba(TEXTS), predictor.predict_proba(TEXTS), atol=1e-5)


def test_load_predictor_errors(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        load_predictor(tmp_path)
    with pytest.raises(ModelError, match="config.json"):
        load_predictor(tmp_path / "missing")


def test_predictor_checks_head_size(predictor):
    with pytest.raises(ModelError, match="one output per class"):
        Predictor(predictor.model, predictor.tokenizer, ["a", "b", "c"], 16)


def test_get_predictor_needs_an_hf_classifier(trained):
    learner, preproc = trained
    with pytest.raises(TypeError, match="HFClassifier"):
        get_predictor(learner.model.hf_model, preproc)


# ---------------------------------------------------------------------------------------------------- attention
def _eager_reference(folder, text: str, maxlen: int):
    """The model's own attention probabilities, from a separate copy loaded with eager attention."""
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(text, truncation=True, max_length=maxlen, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc, output_attentions=True)
    return enc, np.stack([a[0].numpy() for a in out.attentions])


def _check_attention(pred: Predictor, folder, text: str, num_layers: int, num_heads: int):
    impl_before = pred.model.config._attn_implementation
    training_before = pred.model.training
    tokens, att = pred.attention(text)
    enc, expected = _eager_reference(folder, text, pred.maxlen)
    assert tokens == pred.tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    seq_len = len(tokens)
    assert att.shape == (num_layers, num_heads, seq_len, seq_len)
    assert att.dtype == np.float32
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)
    assert np.abs(att - expected).max() <= 1e-6
    assert not np.allclose(att, 1.0 / seq_len, atol=1e-3)  # real, token-dependent maps
    assert pred.model.config._attn_implementation == impl_before
    assert pred.model.training == training_before


def test_attention_bert(predictor, saved):
    assert predictor.model.config._attn_implementation != "eager"  # the fast kernel, which returns no maps
    _check_attention(predictor, saved, "the movie was witty and gorgeous", num_layers=2, num_heads=2)


def test_attention_distilbert(tiny_distilbert_dir):
    pred = load_predictor(tiny_distilbert_dir)
    assert pred.model.config._attn_implementation != "eager"
    _check_attention(pred, tiny_distilbert_dir, "a dull plot but a great actor", num_layers=2, num_heads=2)


def test_attention_truncates_to_maxlen(predictor):
    tokens, att = predictor.attention(TEXTS[-1])
    assert len(tokens) == predictor.maxlen
    assert att.shape[-1] == predictor.maxlen


def test_attention_restores_train_mode(predictor):
    predictor.model.train()
    try:
        predictor.attention("great fun")
        assert predictor.model.training is True
    finally:
        predictor.model.eval()


@pytest.mark.parametrize("text", ["", "   ", None])
def test_attention_rejects_empty_text(predictor, text):
    with pytest.raises(DataError, match="non-empty text"):
        predictor.attention(text)


def test_a_table_predictor_explains_its_predicted_class(predictor):
    assert predictor.explain_target(TEXTS[0]) == (None, "")
    attribution, note = predictor.target_attributions(TEXTS[0], method="grad_x_input")
    assert note == "" and attribution.label == predictor.predict(TEXTS[0])
    pair, _ = predictor.target_attributions("a witty film", "a dull plot", method="grad_x_input")
    assert "[SEP]" in pair.tokens[1:-1]  # the second text reaches the model


def test_predict_tokenizes_through_the_preprocessor(predictor, monkeypatch):
    calls = []
    real = predictor.preproc.preprocess
    monkeypatch.setattr(predictor.preproc, "preprocess", lambda texts: calls.append(list(texts)) or real(texts))
    probs = predictor.predict_proba(TEXTS[:2])
    assert calls == [TEXTS[:2]] and probs.shape == (2, 2)
    with pytest.raises(DataError, match="rows \\[2\\]"):
        predictor.predict_proba(["a text", ("a", "pair")])


def test_predictor_spec_and_the_class_load_predictor_picks(predictor, saved, tmp_path):
    from kdemo.inference.base import BasePredictor

    assert isinstance(predictor, BasePredictor) and predictor.spec.problem_type == "single_label_classification"
    assert json.loads((saved / "kdemo.json").read_text())["problem_type"] == predictor.spec.problem_type
    old = json.loads((saved / "kdemo.json").read_text())
    old["task"] = "single_label_classification"  # what older folders recorded
    for f in saved.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "kdemo.json").write_text(json.dumps(old))
    assert load_predictor(tmp_path).task == predictor.task
    (tmp_path / "kdemo.json").unlink()
    assert type(load_predictor(tmp_path)) is Predictor  # no kdemo.json: the architecture decides
