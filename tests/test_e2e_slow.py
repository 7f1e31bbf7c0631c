"""Slow end-to-end runs with the embedded all-MiniLM-L6-v2 on real data (``pytest -m slow``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import transformers

import kdemo

pytestmark = pytest.mark.slow


def test_minilm_on_sst2_trains_saves_and_matches_pipeline(sst2_dir, tmp_path):
    train = pd.read_csv(sst2_dir / "train.csv").sample(n=2000, random_state=0)
    test = pd.read_csv(sst2_dir / "test.csv")
    trn, val, preproc = kdemo.texts_from_df(train, "text", ["label"], val_df=test, verbose=0)
    assert preproc.get_classes() == ["negative", "positive"]
    learner = kdemo.get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=32)
    history = learner.fit_onecycle(1e-4, 1, verbose=0)
    assert history.history["loss"][0] < 0.69
    report = learner.validation_report(print_report=False)
    assert report.accuracy >= 0.75, str(report)

    predictor = kdemo.get_predictor(learner.model, preproc)
    assert predictor.predict("a gorgeous, witty, moving film") == "positive"
    folder = predictor.save(tmp_path / "sst2-minilm")
    reloaded = kdemo.load_predictor(folder)
    texts = test.text.tolist()[:96]
    ours = predictor.predict_proba(texts)
    assert np.abs(reloaded.predict_proba(texts) - ours).max() <= 1e-5

    pipe = transformers.pipeline("text-classification", model=str(folder), truncation=True, top_k=None)
    results = pipe(texts, batch_size=16)
    theirs = np.array([[{d["label"]: d["score"] for d in row}[c] for c in predictor.get_classes()] for row in results])
    assert {d["label"] for d in results[0]} == {"negative", "positive"}
    assert np.abs(theirs - ours).max() <= 1e-5

    tokens, att = reloaded.attention("a gorgeous, witty movie")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert att.shape == (6, 12, len(tokens), len(tokens)) and att.dtype == np.float32
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
