"""ONNX export and the ONNX Runtime backend of the predictor (tiny BERT / DistilBERT)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from conftest import sentiment_frame
from test_multilabel_regression import multilabel_rows

from kdemo import ModelError, Transformer, get_learner, get_predictor, load_predictor
from kdemo.inference.onnx import ONNX_FILE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR = 3e-3


def _texts(n: int = 40, seed: int = 7) -> list[str]:
    df = sentiment_frame(n, seed=seed)
    return df.text.tolist()


def _trained_predictor(model_dir, texts, labels, epochs: int = 2):
    preproc = Transformer(str(model_dir), maxlen=32)
    trn = preproc.preprocess_train(texts, labels, verbose=0)
    torch.manual_seed(0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, batch_size=8)
    learner.fit_onecycle(LR, epochs, verbose=0)
    return get_predictor(learner.model, preproc)


def _saved_with_onnx(predictor, folder, quantize=False):
    predictor.save(folder)
    written = predictor.export_onnx(folder, quantize=quantize)
    assert written == folder / ONNX_FILE and written.exists()
    return folder


@pytest.fixture(scope="module")
def sentiment_predictors(tiny_bert_dir, tiny_distilbert_dir):
    df = sentiment_frame(160, seed=1)  # 3 epochs of 20 steps learn the toy task (as in test_learner.py)
    return {
        "bert": _trained_predictor(tiny_bert_dir, df.text.tolist(), df.label.tolist(), epochs=3),
        "distilbert": _trained_predictor(tiny_distilbert_dir, df.text.tolist(), df.label.tolist(), epochs=3),
    }


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_onnx_backend_matches_torch_single_label(sentiment_predictors, family, tmp_path):
    predictor = sentiment_predictors[family]
    folder = _saved_with_onnx(predictor, tmp_path / family)
    onnx = load_predictor(folder, backend="onnx")
    torch_loaded = load_predictor(folder)
    assert onnx.task == "single_label" and onnx.get_classes() == ["negative", "positive"]
    texts = _texts()
    ref = torch_loaded.predict_proba(texts)
    got = onnx.predict_proba(texts)
    assert got.shape == (40, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-4)
    np.testing.assert_allclose(got, predictor.predict_proba(texts), atol=1e-4)
    assert ref[:, 1].max() - ref[:, 1].min() > 0.5  # a trained model: the comparison is not between constants
    assert onnx.predict(texts) == torch_loaded.predict(texts)
    assert onnx.predict(texts[0]) == torch_loaded.predict(texts[0])
    # Batches of several lengths (dynamic batch and sequence axes): one text at a time gives the same numbers.
    one_by_one = np.stack([onnx.predict_proba(t) for t in texts[:5]])
    np.testing.assert_allclose(one_by_one, got[:5], atol=1e-5)


@pytest.fixture(scope="module")
def segment_bert_dir(tiny_bert_dir, tmp_path_factory):
    """The tiny BERT with a tokenizer that emits ``token_type_ids`` (as real BERT tokenizers, and the default
    all-MiniLM-L6-v2's, do), so the exported graph takes a ``token_type_ids`` input."""
    folder = tmp_path_factory.mktemp("segments") / "bert"
    shutil.copytree(tiny_bert_dir, folder)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"]
    path.write_text(json.dumps(config))
    return folder


def test_onnx_with_segment_ids_for_single_texts_and_pairs(segment_bert_dir, tmp_path):
    df = sentiment_frame(80, seed=2)
    predictor = _trained_predictor(segment_bert_dir, df.text.tolist(), df.label.tolist(), epochs=1)
    folder = _saved_with_onnx(predictor, tmp_path / "seg")
    onnx = load_predictor(folder, backend="onnx")
    assert "token_type_ids" in onnx.model.input_names
    texts = _texts(12)
    # Single texts are batched without segment ids: the ONNX model gets zeros, as the torch model assumes.
    np.testing.assert_allclose(onnx.predict_proba(texts), predictor.predict_proba(texts), atol=1e-4)
    pairs = [("the movie was good", "the plot was dull"), ("a boring film", "a lovely story")]
    np.testing.assert_allclose(onnx.predict_proba(pairs), predictor.predict_proba(pairs), atol=1e-4)
    np.testing.assert_allclose(onnx.predict_proba(pairs[0]), predictor.predict_proba(pairs[0]), atol=1e-4)


def test_onnx_backend_matches_torch_multilabel(tiny_bert_dir, tmp_path):
    texts, labels = multilabel_rows(160, seed=0)
    predictor = _trained_predictor(tiny_bert_dir, texts, labels, epochs=4)
    predictor.thresholds = [0.4, 0.6]
    folder = _saved_with_onnx(predictor, tmp_path / "ml")
    onnx = load_predictor(folder, backend="onnx")
    assert onnx.task == "multi_label" and onnx.thresholds == [0.4, 0.6]
    sample, _ = multilabel_rows(30, seed=5)
    got = onnx.predict_proba(sample)
    ref = predictor.predict_proba(sample)
    assert (ref.max(axis=0) - ref.min(axis=0)).min() > 0.15  # per-label probabilities vary from text to text
    np.testing.assert_allclose(got, ref, atol=1e-4)
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-_logits(predictor, sample))), atol=1e-4)  # sigmoid
    assert onnx.predict_labels(sample) == predictor.predict_labels(sample)


def _logits(predictor, texts):
    enc = predictor.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return predictor.model.eval()(**enc).logits.numpy()


def test_quantized_export_is_smaller_and_agrees(sentiment_predictors, tmp_path):
    predictor = sentiment_predictors["bert"]
    full = _saved_with_onnx(predictor, tmp_path / "fp32")
    small = _saved_with_onnx(predictor, tmp_path / "int8", quantize=True)
    full_size = (full / ONNX_FILE).stat().st_size
    small_size = (small / ONNX_FILE).stat().st_size
    assert small_size < 0.9 * full_size  # measured: 78 % (the embeddings of the tiny model stay float)
    assert not list(small.glob("*.fp32.onnx"))  # the intermediate float file is removed
    q = load_predictor(small, backend="onnx")
    texts = _texts(80, seed=11)
    ref = predictor.predict_proba(texts)
    got = q.predict_proba(texts)
    agree = np.mean(got.argmax(axis=1) == ref.argmax(axis=1))
    assert agree >= 0.9  # int8 weights change logits slightly; at least 90 % of the argmaxes must agree
    assert np.abs(got - ref).max() < 0.2
    assert not np.allclose(got, ref, atol=1e-6)  # it really is a different (quantized) model


def test_onnx_backend_errors(sentiment_predictors, tmp_path):
    predictor = sentiment_predictors["bert"]
    folder = predictor.save(tmp_path / "no-onnx")
    with pytest.raises(ModelError, match="model.onnx"):
        load_predictor(folder, backend="onnx")
    with pytest.raises(ModelError, match="backend"):
        load_predictor(folder, backend="tensorrt")
    predictor.export_onnx(folder)
    onnx = load_predictor(folder, backend="onnx")
    with pytest.raises(ModelError, match="backend='torch'"):
        onnx.attention("the movie was good")
    tokens, att = load_predictor(folder).attention("the movie was good")  # the torch backend still has them
    assert att.shape[-1] == len(tokens)
