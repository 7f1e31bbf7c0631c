"""autofit with early stopping keeps the best epoch's weights and says which epoch (kdemo.train and the report)."""

from __future__ import annotations

import pytest
from conftest import sentiment_frame

import kdemo
from kdemo.run.config import TrainConfig


def test_autofit_early_stopping_keeps_and_names_the_best_epoch(tiny_bert_dir):
    # a learning rate far too high: the validation loss gets worse after the first epochs, so patience 1 stops early
    cfg = TrainConfig(model_name=str(tiny_bert_dir), epochs=8, lr=0.2, batch_size=16, precision="fp32",
                      schedule="autofit", early_stopping=1, track=False, seed=1)
    result = kdemo.train(cfg, train_df=sentiment_frame(96))
    val = result.history.history["val_loss"]
    assert len(val) < 8  # stopped early
    best = int(min(range(len(val)), key=val.__getitem__)) + 1
    assert result.params["best_epoch"] == best
    note = next(n for n in result.notices if n.startswith("Kept the weights of epoch"))
    assert f"epoch {best}," in note and f"after epoch {len(val)}" in note
    # the model holds the best epoch's weights: its validation loss is the best epoch's
    now = result.learner.model.evaluate(result.learner._val_batches(), verbose=0, return_dict=True)["loss"]
    assert now == pytest.approx(val[best - 1], rel=1e-4)
