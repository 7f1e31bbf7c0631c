"""kdemo.data.qa_lengths: windows counted from token lengths agree with the tokenizer's own overflow."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import build_tokenizer

from kdemo.data import qa_lengths
from kdemo.data.qa_lengths import count_windows


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """The tiny WordPiece tokenizer of the test models (BERT's special tokens, ``model_max_length`` 128)."""
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def test_count_windows_is_the_tokenizers_rule(tokenizer):
    for maxlen, stride in ((24, 4), (32, 8), (40, 16), (20, 0)):
        questions, contexts = [], []
        for q in range(1, 12, 2):
            for c in (1, 5, 12, 19, 20, 33, 61):
                questions.append(" ".join(["good"] * q)), contexts.append(" ".join(["fun"] * c))
        formula = count_windows([len(q.split()) for q in questions],
                                [len(c.split()) for c in contexts], maxlen, stride,
                                tokenizer.num_special_tokens_to_add(pair=True))
        ok = np.flatnonzero(formula > 0)
        assert len(ok) > 20
        enc = tokenizer([questions[i] for i in ok], [contexts[i] for i in ok], truncation="only_second",
                        max_length=maxlen, stride=stride, return_overflowing_tokens=True)
        assert np.bincount(enc["overflow_to_sample_mapping"], minlength=len(ok)).tolist() == formula[ok].tolist()
        for i in np.flatnonzero(formula == 0)[:3]:  # the pairs the formula refuses make the tokenizer fail
            with pytest.raises(BaseException):
                tokenizer(questions[i], contexts[i], truncation="only_second", max_length=maxlen, stride=stride,
                          return_overflowing_tokens=True)


def test_the_batch_call_and_the_rule_give_the_same_windows(tokenizer, monkeypatch):
    questions = [" ".join(["good"] * q) for q in (1, 3, 9, 22)] * 2
    contexts = [" ".join(["fun"] * c) for c in (4, 30, 70)]
    ctx_of = np.array([0, 1, 2, 1, 2, 0, 1, 2])
    spans = [(1, 0, 7), (2, 4, 11)]  # "fun fun", "fun fun"
    exact = qa_lengths.qa_lengths(questions, contexts, ctx_of, spans, tokenizer, 32, 8)
    monkeypatch.setattr(qa_lengths, "MAX_PAIR_CALL", 0)
    rule = qa_lengths.qa_lengths(questions, contexts, ctx_of, spans, tokenizer, 32, 8)
    assert exact[4].tolist() == rule[4].tolist() and exact[4].max() > 1 and 0 in exact[4]
    assert exact[0].tolist() == [4, 30, 70] and exact[1].tolist() == [1, 3, 9, 22] * 2
    assert exact[2].tolist() == [2, 2] and exact[3] == 3
    estimated = qa_lengths.qa_lengths(questions, contexts, ctx_of, spans, None, None, 8)
    assert estimated[0].tolist() == [6, 45, 105] and estimated[4] is None and estimated[3] == 3
