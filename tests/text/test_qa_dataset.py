"""Windows of (question, context) pairs: the same windows and answer positions as HF run_qa's
prepare_train_features, offsets masked as its prepare_validation_features, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from kdemo.errors import DataError
from kdemo.text.qa.dataset import encode_questions
from kdemo.text.qa.preprocessor import QAPreprocessor
from qa_fixtures import flat_rows, squad_articles
from tiny_models import build_tokenizer

MAXLEN, STRIDE = 64, 16


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tok"), extra_words=("ann", "bob", "paris", "rome", "went"))


def run_qa_train_features(tokenizer, questions, contexts, answers, max_length, stride):
    """HF transformers examples/pytorch/question-answering/run_qa.py prepare_train_features (Apache-2.0), with
    padding=False, kept verbatim in its logic: the reference the windows are checked against."""
    pad_on_right = tokenizer.padding_side == "right"
    questions = [q.lstrip() for q in questions]
    tokenized = tokenizer(questions if pad_on_right else contexts, contexts if pad_on_right else questions,
                          truncation="only_second" if pad_on_right else "only_first", max_length=max_length,
                          stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    offset_mapping = tokenized.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized["input_ids"][i]
        if tokenizer.cls_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.bos_token_id)
        else:
            cls_index = 0
        sequence_ids = tokenized.sequence_ids(i)
        ans = answers[sample_mapping[i]]
        if len(ans["answer_start"]) == 0:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char = ans["answer_start"][0]
        end_char = start_char + len(ans["text"][0])
        token_start_index = 0
        while sequence_ids[token_start_index] != (1 if pad_on_right else 0):
            token_start_index += 1
        token_end_index = len(input_ids) - 1
        while sequence_ids[token_end_index] != (1 if pad_on_right else 0):
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
            starts.append(cls_index)
            ends.append(cls_index)
        else:
            while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                token_start_index += 1
            starts.append(token_start_index - 1)
            while offsets[token_end_index][1] >= end_char:
                token_end_index -= 1
            ends.append(token_end_index + 1)
    return tokenized, sample_mapping, offset_mapping, starts, ends


def test_windows_and_answer_positions_equal_run_qa(tokenizer):
    questions, contexts, answers = flat_rows(squad_articles(12, unanswerable=3))
    data = encode_questions(tokenizer, questions, contexts, answers, maxlen=MAXLEN, doc_stride=STRIDE)
    ref, mapping, offsets, starts, ends = run_qa_train_features(tokenizer, questions, contexts, answers, MAXLEN, STRIDE)
    assert len(data) == len(ref["input_ids"]) > data.nsamples()  # long contexts give several windows
    assert data.window_question.tolist() == list(mapping)
    for w in range(len(data)):
        assert data.input_ids[w].tolist() == ref["input_ids"][w]
        context = np.asarray([s == 1 for s in ref.sequence_ids(w)])
        assert (data.offsets[w][~context] == -1).all()
        assert data.offsets[w][context].tolist() == [list(o) for o, c in zip(offsets[w], context) if c]
    assert data.labels[:, 0].tolist() == starts and data.labels[:, 1].tolist() == ends


def test_labelled_windows_decode_to_the_answer(tokenizer):
    questions, contexts, answers = flat_rows(squad_articles(8))
    data = encode_questions(tokenizer, questions, contexts, answers, maxlen=MAXLEN, doc_stride=STRIDE)
    found = set()
    for w, q in enumerate(data.window_question.tolist()):
        s, e = data.labels[w]
        if data.offsets[w][s, 0] >= 0:
            text = contexts[q][data.offsets[w][s, 0]: data.offsets[w][e, 1]]
            assert text == answers[q]["text"][0]
            found.add(q)
    assert found == set(range(len(questions)))  # every answer lies in at least one window


def test_collate_and_labels_pad_per_batch(tokenizer):
    questions, contexts, answers = flat_rows(squad_articles(4))
    data = encode_questions(tokenizer, questions, contexts, answers, maxlen=MAXLEN, doc_stride=STRIDE)
    batch = data.collate([0, 1])
    width = int(max(data.lengths[0], data.lengths[1]))
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, width)
    assert batch["attention_mask"].sum() == data.lengths[0] + data.lengths[1]
    assert data.batch_labels([1, 0]).tolist() == [data.labels[1].tolist(), data.labels[0].tolist()]
    whole = data.subset(data.windows_of([1]))
    assert whole.nsamples() == 1 and whole.questions == [data.questions[1]]


def test_a_question_too_long_for_the_window_is_named(tokenizer):
    questions, contexts, answers = flat_rows(squad_articles(3))
    questions[4] = "who " * 80
    with pytest.raises(DataError, match=r"question 5 has a question of \d+ tokens.*raise maxlen"):
        encode_questions(tokenizer, questions, contexts, answers, maxlen=MAXLEN, doc_stride=STRIDE)


def test_empty_context_and_question_are_named(tokenizer):
    questions, contexts, answers = flat_rows(squad_articles(2))
    with pytest.raises(DataError, match="empty context at row 3"):
        encode_questions(tokenizer, questions, contexts[:2] + [" "] + contexts[3:], answers, maxlen=MAXLEN,
                         doc_stride=STRIDE, where=[f"row {i + 1}" for i in range(len(questions))])
    with pytest.raises(DataError, match="empty question at question 1"):
        encode_questions(tokenizer, [""] + questions[1:], contexts, answers, maxlen=MAXLEN, doc_stride=STRIDE)


def test_preprocessor_marks_squad2_and_round_trips(tokenizer):
    questions, contexts, answers = flat_rows(squad_articles(4, unanswerable=2))
    preproc = QAPreprocessor(maxlen=MAXLEN, doc_stride=STRIDE, tokenizer=tokenizer)
    preproc.preprocess_train(questions, contexts, answers)
    assert preproc.version_2_with_negative
    again = QAPreprocessor.from_dict(preproc.to_dict(), tokenizer)
    assert again.to_dict() == preproc.to_dict()
    with pytest.raises(DataError, match="all without an answer"):
        preproc.preprocess_train(questions[:1], contexts[:1], [{"text": [], "answer_start": []}])
    with pytest.raises(ValueError, match="doc_stride"):
        QAPreprocessor(maxlen=MAXLEN, doc_stride=MAXLEN, tokenizer=tokenizer)
