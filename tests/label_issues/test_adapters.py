"""The four cleanlab adapters find planted label errors in synthetic out-of-sample predictions."""

from __future__ import annotations

import numpy as np
import pytest

from kdemo.errors import DataError
from kdemo.run.label_issues.classes import multi_label_scores, single_label_scores
from kdemo.run.label_issues.regression import regression_scores
from kdemo.run.label_issues.tokens import token_scores
from kdemo.tasks import SPECS


def _confident_probs(true: np.ndarray, num_classes: int, rng, strength: float = 0.85) -> np.ndarray:
    """Probabilities that put about ``strength`` on the true class (the model learned the truth)."""
    probs = rng.dirichlet(np.ones(num_classes), size=len(true)) * (1 - strength)
    probs[np.arange(len(true)), true] += strength
    return probs / probs.sum(axis=1, keepdims=True)


def test_single_label_finds_planted_flips():
    rng = np.random.default_rng(0)
    true = np.arange(300) % 3
    probs = _confident_probs(true, 3, rng)
    given = true.copy()
    planted = [5, 77, 150, 230]
    given[planted] = (true[planted] + 1) % 3
    probs[planted] = _confident_probs(true[planted], 3, rng, 0.97)  # clear cases: above each class's threshold
    out = single_label_scores(given, probs, ["a", "b", "c"])
    assert list(out.columns) == ["position", "given", "suggested", "label_quality", "is_issue"]
    assert set(out.position[out.is_issue]) == set(planted)
    assert out.loc[planted, "suggested"].tolist() == [["a", "b", "c"][t] for t in true[planted]]
    assert out.label_quality[planted].max() < out.label_quality.drop(planted).min()
    assert out.given[5] == ["a", "b", "c"][given[5]]


def test_single_label_refuses_wrong_shapes_and_one_class():
    with pytest.raises(DataError, match="shape"):
        single_label_scores([0, 1], np.ones((2, 3)) / 3, ["a", "b"])
    with pytest.raises(DataError, match="at least 2 classes"):
        single_label_scores([0, 0], np.ones((2, 2)) / 2, ["a", "b"])


def test_multi_label_finds_planted_errors():
    rng = np.random.default_rng(1)
    n, c = 240, 4
    truth = (rng.random((n, c)) < 0.35).astype(int)
    probs = np.clip(np.where(truth == 1, 0.9, 0.08) + rng.normal(0, 0.03, (n, c)), 0.01, 0.99)
    given = truth.copy()
    planted = [3, 50, 120, 200]
    for row, col in zip(planted, [0, 1, 2, 3]):
        given[row, col] = 1 - given[row, col]
        probs[row, col] = 0.99 if truth[row, col] else 0.01  # clear cases: beyond each class's threshold
    out = multi_label_scores(given, probs, ["w", "x", "y", "z"])
    flagged = set(out.position[out.is_issue])
    assert set(planted) <= flagged and len(flagged) <= len(planted) + 2
    assert out.suggested[3] == ", ".join(n for n, on in zip("wxyz", truth[3]) if on)
    assert out.label_quality[planted].max() < np.median(out.label_quality)


def test_regression_flags_planted_outliers():
    rng = np.random.default_rng(2)
    truth = rng.uniform(0, 5, 200)
    pred = truth + rng.normal(0, 0.1, 200)
    given = truth.copy()
    planted = [10, 90, 170]
    given[planted] += [3.0, -2.5, 4.0]
    out = regression_scores(given, pred)
    assert set(out.position[out.is_issue]) >= set(planted)
    assert out.is_issue.sum() <= len(planted) + 3
    assert out.given[10] == str(float(given[10])) and out.suggested[10] == str(float(pred[10]))


def test_token_finds_the_planted_word_and_suggests_its_tag():
    rng = np.random.default_rng(3)
    tags = ["O", "B-PER", "I-PER"]
    labels, probs = [], []
    for _ in range(120):
        n = int(rng.integers(3, 8))
        true = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
        labels.append(true.copy())
        probs.append(_confident_probs(true, 3, rng, 0.9))
    labels[7][1] = (labels[7][1] + 1) % 3
    labels[60][0] = (labels[60][0] + 2) % 3
    labels.append(np.zeros(0, dtype=int))  # an empty sentence is kept, never flagged
    probs.append(np.zeros((0, 3)))
    out = token_scores(labels, probs, tags)
    assert {7, 60} <= set(out.position[out.is_issue]) and out.is_issue.sum() <= 4
    assert out.word[7] == 1 and out.word[60] == 0
    suggested = out.suggested[7].split()
    assert suggested[1] == tags[int(probs[7][1].argmax())] and out.given[7].split()[1] == tags[labels[7][1]]
    assert out.is_issue.iloc[-1] == False and out.word.iloc[-1] == -1  # noqa: E712
    assert out.label_quality[7] < 0.2


def test_every_labelled_task_names_an_adapter_and_qa_none():
    for task, spec in SPECS.items():
        if spec.label_layout == "spans":
            assert spec.label_issues == ""
        else:
            assert callable(spec.load("label_issues"))
