"""Extractive question answering under torchrun: two CPU ranks (gloo) train the same model as one process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qa_fixtures import write_squad
from test_distributed import _events, _train_one_and_two_ranks
from test_qa_run import NAMES
from tiny_models import build_tiny_model

import kdemo


@pytest.fixture(scope="module")
def ddp_qa_setup(tmp_path_factory):
    """A tiny BERT without dropout that knows the QA fixture's names, and a question-answering run of it whose
    contexts give several windows per question."""
    root = tmp_path_factory.mktemp("ddp-qa")
    model = build_tiny_model(root / "tiny", "bert", extra_words=NAMES)
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (model / "config.json").write_text(json.dumps(config))
    train = write_squad(root / "train.json", n_contexts=16)
    val = write_squad(root / "dev.json", n_contexts=6, seed=1)
    run = kdemo.TrainConfig(train_file=str(train), val_file=str(val), model_name=str(model),
                            task="question_answering", maxlen=64, doc_stride=16, batch_size=16, epochs=1, lr=3e-3,
                            precision="fp32")
    (root / "run.json").write_text(json.dumps(run.to_dict()))
    return root


def test_two_ranks_train_the_same_qa_model_as_one_process(ddp_qa_setup, tmp_path, one_torch_thread, capsys):
    run = _train_one_and_two_ranks(ddp_qa_setup, tmp_path, capsys, timeout=180)
    a, b, base = run.a, run.b, run.base
    shared = [k for k in a if k in base and a[k].shape == base[k].shape]  # not the new span head
    assert max(float(np.abs(a[k] - base[k]).max()) for k in shared) > 1e-3  # training moved the weights
    # The span head's bias moves every start (end) logit of a window alike, so the cross-entropy's gradient for it is
    # zero up to rounding, and Adam turns that rounding into full-size steps: it is the one weight left out.
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a if k != "qa_outputs.bias") < 1e-4
    two = _events(run.proc.stdout)
    assert [f["loss"] for f in two if f["phase"] == "train"] == pytest.approx(
        [f["loss"] for f in run.one if f["phase"] == "train"], abs=1e-4)
    p1, p2 = kdemo.load_predictor(run.single), kdemo.load_predictor(run.work / "multi")
    context = "the team was in rome and ann went to paris."
    one, two = p1.predict("who went there?", context), p2.predict("who went there?", context)
    assert one["answer"] == two["answer"] and one["score"] == pytest.approx(two["score"], abs=1e-4)
