"""kdemo.data.qa_doctor: counts, windows counted as run_qa tokenizes, answer problems named by row, the protocol."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from tiny_models import build_tokenizer

from kdemo.data.doctor import Problem
from kdemo.data.qa_doctor import MAX_ANSWER_TOKENS, diagnose_qa
from kdemo.data.qa_lengths import count_windows
from kdemo.data.qa_files import qa_from_frame, read_qa_file
from kdemo.errors import DataError

LONG = "the movie was good and the plot was fun but the actor was weak " * 5
SHORT = "the team win the game"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """The tiny WordPiece tokenizer of the test models (BERT's special tokens, ``model_max_length`` 128)."""
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def corpus_frame() -> pd.DataFrame:
    """Five questions on two contexts: four answered, one unanswerable."""
    return pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "question": ["what was good", "  who was weak", "what was fun", "who did win", "was it a film"],
        "context": [LONG, LONG, LONG, SHORT, SHORT],
        "answer_text": ["the movie", "the actor", "the plot", "the team", None],
        "answer_start": [LONG.index("the movie"), LONG.index("the actor"), LONG.index("the plot"), 0, None],
    })


def run_qa_windows(tokenizer, corpus, maxlen, doc_stride) -> int:
    """Windows as HF's run_qa.py makes them: questions left-stripped, only the context truncated."""
    enc = tokenizer([q.lstrip() for q in corpus.questions], corpus.contexts, truncation="only_second",
                    max_length=maxlen, stride=doc_stride, return_overflowing_tokens=True)
    return len(enc["input_ids"])


def test_counts_lengths_and_windows_match_the_tokenizer(tokenizer):
    corpus = qa_from_frame(corpus_frame(), name="qa.csv")
    report = diagnose_qa(corpus, tokenizer=tokenizer, maxlen=32, doc_stride=8)
    assert (report.num_questions, report.num_contexts, report.num_answers, report.num_unanswerable) == (5, 2, 4, 1)
    assert report.unanswerable_share == pytest.approx(0.2) and report.version == "table"
    assert report.questions_per_context == {"mean": 2.5, "max": 3.0}
    long_tokens = len(tokenizer(LONG, add_special_tokens=False)["input_ids"])
    short_tokens = len(tokenizer(SHORT, add_special_tokens=False)["input_ids"])
    assert report.context_tokens["max"] == long_tokens
    assert report.context_tokens["mean"] == (long_tokens + short_tokens) / 2
    questions = [len(tokenizer(q.lstrip(), add_special_tokens=False)["input_ids"]) for q in corpus.questions]
    assert report.question_tokens == {"mean": np.mean(questions), "max": max(questions)}
    assert report.answer_tokens == {"mean": 2.0, "max": 2.0}
    assert report.windows_needed == run_qa_windows(tokenizer, corpus, 32, 8) > 5
    assert report.contexts_windowed == 1 and not report.tokens_estimated
    assert report.length_unit == "sub-word tokens" and sum(report.length_hist_counts) == 2
    assert len(report.length_hist_edges) == len(report.length_hist_counts) + 1
    assert report.suggested_maxlen % 8 == 0 and report.suggested_maxlen >= long_tokens + 3 + 3
    kinds = [p.kind for p in report.problems]
    assert kinds == ["windowed", "unanswerable"] and report.errors == []
    windowed = report.problems[0]
    assert windowed.rows == (1, 2, 3) and "3 questions have a context longer than one window" in windowed.message
    assert report.preview[0]["context"][0] == ("the movie", "answer") and report.preview[1]["answer"] == "the actor"
    assert "".join(t for t, _ in report.preview[0]["context"]) == LONG
    assert report.preview[4] == {"where": "row 5", "question": "was it a film", "answer": None,
                                 "context": [(SHORT, None)]}
    assert report.languages and report.unk_share is not None and report.unk_share < 0.05
    text = report.to_markdown()
    assert "**5 questions** on 2 contexts" in text and f"**{report.windows_needed} windows**" in text
    assert json.loads(json.dumps(report.to_dict()))["num_questions"] == 5


def test_problems_name_their_rows(tokenizer):
    long_answer = " ".join(["good"] * (MAX_ANSWER_TOKENS + 2))
    context = f"the film was {long_answer} and the plot was fun"
    df = pd.DataFrame({
        "id": ["x1", "x2", "x1", "x4", "x5", "x6"],
        "question": ["what was it", "what was fun", "was it good", "what was the price",
                     " ".join(["was"] * 22), " ".join(["was"] * 23)],
        "context": [context] * 4 + [LONG, SHORT],
        "answer_text": [long_answer, "fun", "the plot", "the price", "the movie", "the team"],
        "answer_start": [context.index(long_answer), 3, 0, 5, LONG.index("the movie"), 0],
    })
    corpus = qa_from_frame(df, name="bad.csv")
    val = qa_from_frame(df.iloc[[3, 1]].assign(id=["x4", "new"]), name="val.csv")
    report = diagnose_qa(corpus, tokenizer=tokenizer, maxlen=32, doc_stride=8, val=val)
    by_kind = {p.kind: p for p in report.problems}
    assert [p.severity for p in report.problems] == sorted((p.severity for p in report.problems),
                                                           key=["error", "warning", "info"].index)
    assert {p.kind for p in report.errors} == {"answer_not_found", "question_too_long"}
    assert by_kind["answer_not_found"].rows == (4,) and by_kind["answer_not_found"].message.startswith(
        "row 4: expected answer 'the price' at character 5 of the context.")
    assert [(p.kind, p.rows) for p in report.answer_problems] == [
        ("answer_not_found", (4,)), ("answer_moved", (2,)), ("answer_moved", (3,))]
    moved = [p for p in report.problems if p.kind == "answer_moved"]
    assert [p.rows for p in moved] == [(2,), (3,)] and "row 2: answer 'fun' is not at character 3" in moved[0].message
    assert by_kind["question_too_long"].rows == (5,) and "row 5" in by_kind["question_too_long"].message
    assert by_kind["long_question"].rows == (6,)
    assert by_kind["long_answer"].rows == (1,) and "max_answer_length=30" in by_kind["long_answer"].message
    assert by_kind["duplicate_ids"].rows == (1, 3)
    assert by_kind["val_id_overlap"].val_rows == (1,) and by_kind["overlap"].val_rows == (1, 2)
    assert report.windows_needed == run_qa_windows(tokenizer, corpus.subset([0, 1, 2, 3, 5]), 32, 8)
    assert report.preview[1]["context"][1] == ("fun", "answer")  # the repaired offset is shown
    assert report.preview[3]["context"] == [(context, None)]  # an answer not found is not marked
    assert "❌" in report.to_markdown(max_problems=2) and "more (see the JSON report)" in report.to_markdown(2)


def test_all_empty_answers_and_no_tokenizer(tmp_path):
    data = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": LONG, "qas": [
        {"id": f"q{i}", "question": "what was bad", "answers": [], "is_impossible": True} for i in range(3)]}]}]}
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    report = diagnose_qa(path, maxlen=16, doc_stride=4)
    assert report.version == "2.0" and report.num_answers == 0 and report.unanswerable_share == 1.0
    (error,) = report.errors
    assert error.kind == "no_answers" and "nothing to learn from" in error.message
    assert "article 1 ('T'), paragraph 1, question 1 (id q0)" in error.message and error.rows == (1, 2, 3)
    assert report.tokens_estimated and report.length_unit == "words"
    words = len(LONG.split())
    assert report.context_tokens["max"] == np.ceil(words * 1.5)
    expected = count_windows([np.ceil(3 * 1.5)] * 3, [np.ceil(words * 1.5)] * 3, 16, 4)
    assert report.windows_needed == expected.sum() > 3
    assert report.unk_share is None and "estimated" in report.to_markdown()
    assert diagnose_qa(path, maxlen=None).windows_needed is None
    with pytest.raises(DataError, match="doc_stride < maxlen"):
        diagnose_qa(path, maxlen=16, doc_stride=16)
    assert isinstance(report.problems[0], Problem)


@pytest.mark.slow
def test_xquad_with_the_minilm_tokenizer():
    folder = SHARED_DATA / "xquad"
    if not (folder / "en_train.json").exists():
        pytest.skip(f"shared data not found at {folder}")
    from kdemo.modeling.classifier import load_tokenizer, resolve_model_source

    tokenizer = load_tokenizer(resolve_model_source(None))
    english = read_qa_file(folder / "en_train.json")
    report = diagnose_qa(english, tokenizer=tokenizer, val=folder / "en_dev.json")
    assert (report.num_questions, report.num_contexts, report.num_answers) == (913, 175, 913)
    assert report.version == "1.1" and report.errors == [] and report.languages.get("en", 0) > 0.9
    assert report.windows_needed == run_qa_windows(tokenizer, english, 384, 128) > 913
    chinese = read_qa_file(folder / "zh_train.json")
    report = diagnose_qa(chinese, tokenizer=tokenizer)
    assert (report.num_questions, report.num_contexts) == (913, 175)
    assert not [p for p in report.problems if p.kind.startswith("answer_")]  # offsets count characters
    assert "language_coverage" in {p.kind for p in report.problems} and report.languages.get("zh", 0) > 0.9
    print(report.to_markdown())
