"""The quick NBSVM baseline scores the validation rows of a learnable toy table."""

from __future__ import annotations

import pytest
from conftest import sentiment_frame

from kdemo.errors import DataError
from kdemo.run.baseline import quick_baseline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_quick_baseline_learns_the_toy_task():
    train, val = sentiment_frame(200, seed=0), sentiment_frame(60, seed=1)
    result = quick_baseline(train.text, train.label, val.text, val.label, epochs=4)
    assert result.model == "nbsvm" and result.rows == 200 and result.seconds > 0
    assert result.accuracy >= 0.9


def test_quick_baseline_needs_two_classes():
    with pytest.raises(DataError, match="2 classes"):
        quick_baseline(["a", "b"], ["x", "x"], ["a"], ["x"])
