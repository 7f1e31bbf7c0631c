"""Extractive QA on real data (slow): the embedded MiniLM fine-tuned on XQuAD's English training articles, scored on
its dev articles, and the saved folder's answers checked against run_qa's post-processing of its own logits."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

import kdemo
from conftest import SHARED_DATA
from kdemo.data.qa_files import read_qa_file

XQUAD = SHARED_DATA / "xquad"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (XQUAD / "en_train.json").exists(), reason="needs ../shared/data/xquad")]


@pytest.fixture(scope="module")
def xquad_run(tmp_path_factory):
    config = kdemo.TrainConfig(task="question_answering", train_file=str(XQUAD / "en_train.json"),
                               val_file=str(XQUAD / "en_dev.json"), maxlen=256, doc_stride=96, epochs=1,
                               batch_size=16, lr=1e-4)
    result = kdemo.train(config)
    return result, result.save(tmp_path_factory.mktemp("xquad") / "model")


def test_minilm_learns_xquad(xquad_run):
    result, _ = xquad_run
    report = result.report
    assert report.num_rows == 177 and report.num_windows >= 177
    # One epoch on 913 questions at maxlen 256 (about 11 min on the 2-core CPU) reached F1 8.3; an untrained span head
    # picks near-random spans (F1 about 2). bench/qa_cpu.py trains the full recipe (2 epochs, maxlen 384).
    assert report.f1 > 6


def test_saved_answers_equal_run_qa_on_dev_questions(xquad_run):
    from run_qa_reference import postprocess_qa_predictions as run_qa_postprocess

    _, out = xquad_run
    dev = read_qa_file(XQUAD / "en_dev.json").subset(range(60))
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForQuestionAnswering.from_pretrained(out).eval()
    meta = json.loads((out / "kdemo.json").read_text())["preprocessor"]
    enc = tokenizer(dev.questions, dev.contexts, truncation="only_second", max_length=meta["maxlen"],
                    stride=meta["doc_stride"], return_overflowing_tokens=True, return_offsets_mapping=True,
                    padding="longest")
    features = []
    for w in range(len(enc["input_ids"])):
        seq = enc.sequence_ids(w)
        features.append({"example_id": dev.ids[enc["overflow_to_sample_mapping"][w]],
                         "offset_mapping": [o if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][w])]})
    inputs = {k: torch.tensor(enc[k]) for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
    with torch.no_grad():
        out_logits = model(**inputs)
    examples = [{"id": i, "context": c} for i, c in zip(dev.ids, dev.contexts)]
    pad = ~inputs["attention_mask"].bool()  # a window's own logits: padding (None offsets in run_qa) cannot rank
    starts = out_logits.start_logits.masked_fill(pad, -1e4).numpy()
    ends = out_logits.end_logits.masked_fill(pad, -1e4).numpy()
    reference, nbest, _ = run_qa_postprocess(examples, features, (starts, ends))
    got = kdemo.load_predictor(out).predict(dev.questions, dev.contexts)
    assert len(got) == 60
    for qid, answer in zip(dev.ids, got):
        assert answer["answer"] == reference[qid]
        best = next(n for n in nbest[qid] if n["text"] == reference[qid])
        assert answer["score"] == pytest.approx(best["probability"], abs=1e-5)
