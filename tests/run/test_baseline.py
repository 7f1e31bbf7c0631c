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


def test_a_run_with_quick_baseline_records_nbsvm_beside_the_model(tiny_bert_dir, one_torch_thread):
    import kdemo
    from kdemo.run.baseline import NOT_SINGLE_LABEL
    from kdemo.ui.train_report import health_md

    config = kdemo.TrainConfig(model_name=str(tiny_bert_dir), epochs=1, batch_size=16, quick_baseline=True)
    result = kdemo.train(config, train_df=sentiment_frame(160))
    quick = result.params["quick_baseline"]
    assert quick["model"] == "nbsvm" and quick["rows"] == result.record.train_rows and 0.5 <= quick["accuracy"] <= 1
    assert "Quick baseline: ktrain's NBSVM" in health_md({"quick_baseline": quick})
    table = sentiment_frame(60).assign(label=lambda d: (d["label"] == "positive").astype(float) + 0.5)
    regression = kdemo.train(config.replace(task="regression"), train_df=table)
    assert regression.params["quick_baseline"] is None and NOT_SINGLE_LABEL in regression.notices
