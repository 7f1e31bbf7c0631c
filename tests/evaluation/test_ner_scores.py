"""kdemo.evaluate / kdemo.compare of a token classifier on a CoNLL test file: per-sentence entity counts give
seqeval's micro entity F1 on all sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

import kdemo
from kdemo.run.config import TrainConfig

CONLL = Path(__file__).parents[1] / "fixtures" / "ner_news.conll"


def test_ner_evaluate_matches_seqeval_and_compare_uses_the_right_tests(tiny_bert_dir, tmp_path):
    cfg = TrainConfig(train_file=str(CONLL), task="token_classification", model_name=str(tiny_bert_dir), epochs=2,
                      lr=5e-3, batch_size=8, precision="fp32", track=False)
    folder = kdemo.train(cfg).save(tmp_path / "ner")
    evaluation = kdemo.evaluate(folder, CONLL, n_resamples=300)
    report = evaluation.report
    for key in ("f1", "precision", "recall"):
        assert evaluation.intervals[key].value == pytest.approx(getattr(report, key), abs=1e-9), key
    assert evaluation.scores.unit == "sentences" and evaluation.scores.n == report.num_rows
    same = kdemo.compare(folder, folder, CONLL, n_resamples=300)
    assert same.tests["sentence_accuracy"].test == "mcnemar_exact" and same.tests["f1"].test == "paired_bootstrap"
    assert same.tests["f1"].difference == 0 and same.tests["sentence_accuracy"].p_value == 1.0
