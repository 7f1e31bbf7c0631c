"""bench/run_qa_reference.py (run_qa's windows and post-processing, the official SQuAD v1.1 metric) and
bench/qa_cpu.py's data cut, on hand-made SQuAD rows with the embedded MiniLM's tokenizer (no model weights)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.qa_cpu import cut_squad
from bench.run_qa_reference import (
    exact_match_score,
    f1_score,
    normalize_answer,
    postprocess_qa_predictions,
    prepare_train_features,
    prepare_validation_features,
    read_squad,
    squad_v1_scores,
)

FILLER = " ".join(f"The river passed village number {i} on its long way to the sea." for i in range(12))
CONTEXT = FILLER + " The bridge at Tarnow was built in 1871 by the engineer Anna Weiss. " + FILLER
SQUAD = {"version": "1.1", "data": [
    {"title": "Bridges", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "q1", "question": "  Who built the bridge at Tarnow?",
         "answers": [{"text": "Anna Weiss", "answer_start": CONTEXT.index("Anna Weiss")}]},
        {"id": "q2", "question": "When was the bridge at Tarnow built?",
         "answers": [{"text": "1871", "answer_start": CONTEXT.index("1871")}]},
    ]}]},
    {"title": "Short", "paragraphs": [{"context": "Paris is the capital of France.", "qas": [
        {"id": "q3", "question": "What is the capital of France?", "answers": [{"text": "Paris", "answer_start": 0}]},
    ]}]},
]}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from kdemo.modeling.classifier import resolve_model_source

    return AutoTokenizer.from_pretrained(resolve_model_source(None))


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    return read_squad(path)


def test_read_squad_flattens_questions_in_file_order(rows):
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[2] == {"id": "q3", "title": "Short", "context": "Paris is the capital of France.",
                       "question": "What is the capital of France?", "answers": {"text": ["Paris"], "answer_start": [0]}}


@pytest.mark.parametrize("pad", [True, False])
def test_train_windows_label_the_answer_tokens_or_cls(tokenizer, rows, pad):
    feats = prepare_train_features(tokenizer, rows, max_seq_length=64, doc_stride=16, pad_to_max_length=pad)
    valid = prepare_validation_features(tokenizer, rows, max_seq_length=64, doc_stride=16, pad_to_max_length=pad)
    n = len(feats["input_ids"])
    assert n > len(rows) + 4  # the long context is cut into many overlapping windows
    assert feats["input_ids"] == valid["input_ids"]
    lengths = {len(ids) for ids in feats["input_ids"]}
    assert lengths == {64} if pad else (max(lengths) <= 64 and len(lengths) > 1)
    answer_windows = {r["id"]: 0 for r in rows}
    for i in range(n):
        row = next(r for r in rows if r["id"] == valid["example_id"][i])
        start, end = feats["start_positions"][i], feats["end_positions"][i]
        offsets = valid["offset_mapping"][i]
        if start == 0:  # [CLS]: the answer is not wholly inside this window
            assert end == 0
            continue
        answer_windows[row["id"]] += 1
        assert offsets[start] is not None and offsets[end] is not None  # inside the context
        assert row["context"][offsets[start][0]: offsets[end][1]] == row["answers"]["text"][0]
        decoded = tokenizer.decode(feats["input_ids"][i][start: end + 1])
        assert decoded == row["answers"]["text"][0].lower()  # MiniLM lower-cases
    assert all(count >= 1 for count in answer_windows.values())
    assert sum(s == 0 for s in feats["start_positions"]) > 0  # windows far from the answer point at [CLS]


def test_postprocess_turns_logits_at_the_labels_into_the_gold_answers(tokenizer, rows):
    feats = prepare_train_features(tokenizer, rows, max_seq_length=64, doc_stride=16, pad_to_max_length=False)
    valid = prepare_validation_features(tokenizer, rows, max_seq_length=64, doc_stride=16, pad_to_max_length=False)
    n, width = len(feats["input_ids"]), 64
    start_logits, end_logits = np.full((n, width), -100.0), np.full((n, width), -100.0)  # Trainer's padding value
    rng = np.random.default_rng(0)
    for i, ids in enumerate(feats["input_ids"]):
        start_logits[i, : len(ids)] = rng.normal(0, 1, len(ids))
        end_logits[i, : len(ids)] = rng.normal(0, 1, len(ids))
        if feats["start_positions"][i]:
            start_logits[i, feats["start_positions"][i]] = 20.0
            end_logits[i, feats["end_positions"][i]] = 20.0
    windows = [{"example_id": e, "offset_mapping": o} for e, o in zip(valid["example_id"], valid["offset_mapping"])]
    answers = postprocess_qa_predictions(rows, windows, (start_logits, end_logits))
    assert answers == {"q1": "Anna Weiss", "q2": "1871", "q3": "Paris"}
    assert squad_v1_scores(rows, answers) == {"exact_match": 100.0, "f1": 100.0}


def test_postprocess_skips_spans_outside_the_context_and_too_long(tokenizer, rows):
    valid = prepare_validation_features(tokenizer, rows[2:], max_seq_length=64, doc_stride=16)
    width = len(valid["input_ids"][0])
    start, end = np.zeros((1, width)), np.zeros((1, width))
    start[0, 0] = end[0, 0] = 50.0  # [CLS]: not part of the context, never an answer in SQuAD v1.1
    start[0, 1] = 40.0  # a question token
    windows = [{"example_id": "q3", "offset_mapping": valid["offset_mapping"][0]}]
    context_tokens = [k for k, o in enumerate(valid["offset_mapping"][0]) if o is not None]
    start[0, context_tokens[0]], end[0, context_tokens[0]] = 10.0, 10.0  # "paris"
    assert postprocess_qa_predictions(rows[2:], windows, (start, end)) == {"q3": "Paris"}
    assert postprocess_qa_predictions(rows[2:], windows, (start, end), max_answer_length=0) == {"q3": "empty"}
    with pytest.raises(ValueError, match="Expected"):
        postprocess_qa_predictions(rows[2:], windows + windows, (start, end))


def test_official_squad_v1_normalisation_and_scores():
    assert normalize_answer("  The Anna-Weiss, an  engineer! ") == "annaweiss engineer"
    assert exact_match_score("the Paris.", "Paris")
    assert not exact_match_score("Paris France", "Paris")
    assert f1_score("Paris France", "Paris") == pytest.approx(2 / 3)
    assert f1_score("a", "the") == 0  # nothing left after normalisation
    rows = [{"id": "a", "answers": {"text": ["Paris", "the city of Paris"]}},
            {"id": "b", "answers": {"text": ["1871"]}}]
    scores = squad_v1_scores(rows, {"a": "city of Paris"})  # best gold of a; b unanswered scores 0
    assert scores == {"exact_match": 50.0, "f1": 50.0}


def test_cut_squad_keeps_the_first_questions(tmp_path):
    src = tmp_path / "full.json"
    src.write_text(json.dumps(SQUAD), encoding="utf-8")
    assert cut_squad(src, None, tmp_path / "cut.json") == src
    cut = cut_squad(src, 2, tmp_path / "cut.json")
    assert [r["id"] for r in read_squad(cut)] == ["q1", "q2"]
    assert [r["id"] for r in read_squad(cut_squad(src, 3, tmp_path / "all.json"))] == ["q1", "q2", "q3"]
