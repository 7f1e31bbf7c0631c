"""Runs tracked on trackio (kdemo.training.callbacks.tracking): read back through trackio's own API."""

from __future__ import annotations

import math
import uuid

import pytest
from conftest import sentiment_frame

import kdemo
from kdemo.run.config import TrainConfig


def _logs(project: str, run: str) -> list[dict]:
    from trackio.sqlite_storage import SQLiteStorage

    return SQLiteStorage.get_logs(project, run)


@pytest.fixture(scope="module")
def tracked(tiny_bert_dir):
    project = f"kdemo-test-{uuid.uuid4().hex[:8]}"
    cfg = TrainConfig(model_name=str(tiny_bert_dir), epochs=2, lr=1e-3, batch_size=16, precision="fp32",
                      project=project, run_name="lr-1e-3")
    return project, kdemo.train(cfg, train_df=sentiment_frame(120))


def test_trackio_holds_the_config_and_every_steps_loss_and_lr(tracked):
    import trackio

    project, result = tracked
    runs = list(trackio.Api().runs(project))
    assert [r.name for r in runs] == ["lr-1e-3"]
    config = runs[0].config
    assert config["lr"] == 1e-3 and config["epochs"] == 2 and config["batch_size"] == 16
    assert config["task"] == "single_label" and config["model_name"] == result.config.model_name
    logs = _logs(project, "lr-1e-3")
    steps = [row for row in logs if "train/loss" in row]
    losses = result.record.step_losses
    assert len(losses) == result.params["resolved"]["steps"] > 4
    assert [row["step"] for row in steps] == list(range(1, len(losses) + 1))
    assert [row["train/loss"] for row in steps] == pytest.approx(losses, rel=1e-6)
    assert [row["train/lr"] for row in steps] == pytest.approx(result.history.history["lr"], rel=1e-6)
    assert all(row["train/step_time_s"] > 0 and row["train/memory_mb"] > 0 for row in steps)
    val = [row for row in logs if "val/loss" in row]
    assert [row["epoch"] for row in val] == [1, 2]
    assert val[-1]["val/accuracy"] == pytest.approx(result.history.history["val_accuracy"][-1])
    final = [row for row in logs if "final/accuracy" in row]
    assert len(final) == 1 and final[0]["final/accuracy"] == pytest.approx(result.report.accuracy)
    assert result.params["tracking"] == {"project": project, "run": "lr-1e-3"}


def test_tracking_turned_off_makes_no_run(tiny_bert_dir):
    import trackio

    project = f"kdemo-off-{uuid.uuid4().hex[:8]}"
    cfg = TrainConfig(model_name=str(tiny_bert_dir), epochs=1, lr=1e-3, batch_size=32, precision="fp32",
                      project=project, track=False)
    result = kdemo.train(cfg, train_df=sentiment_frame(64))
    assert "tracking" not in result.params
    with pytest.raises(ValueError, match="does not exist"):  # trackio never saw the project
        trackio.Api().runs(project)


def test_config_round_trips_tracking_fields():
    cfg = TrainConfig(project=" p ", run_name="r", track=False)
    assert (cfg.project, cfg.run_name, cfg.track) == ("p", "r", False)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(kdemo.errors.TrainingError, match="track"):
        TrainConfig(track="yes")
    assert not math.isnan(TrainConfig().lr)
