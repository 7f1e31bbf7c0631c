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


class _FakeRun:
    def __init__(self):
        self.logged: list[tuple[dict, int]] = []

    def log(self, metrics, step=None):
        self.logged.append((dict(metrics), step))


def test_steps_are_handed_to_trackio_in_batches_and_all_arrive(monkeypatch):
    """Steps wait in the tracker until ``flush_every_s`` has passed (one SQLite commit per batch, not per step); an
    epoch's end hands the rest over, so nothing is lost and the order is kept."""
    from kdemo.training.callbacks import tracking

    clock = [0.0]
    monkeypatch.setattr(tracking.time, "perf_counter", lambda: clock[0])

    def one_step(self, batch, logs=None):  # stands in for ProgressReporter's bookkeeping of one optimizer step
        step = len(self._pending) + len(self.run.logged) + 1
        self._pending.append(({"train/loss": float(step)}, step))

    monkeypatch.setattr(tracking.ProgressReporter, "on_train_batch_end", one_step)
    tracker = tracking.TrackioTracker("p", "r", flush_every_s=10.0)
    tracker.run, tracker._active = _FakeRun(), True
    tracker.catch_up = lambda logs=None: []
    for second in range(1, 10):
        clock[0] = float(second)
        tracker.on_train_batch_end(second - 1)
    assert tracker.run.logged == []  # nothing handed over before flush_every_s
    clock[0] = 10.0
    tracker.on_train_batch_end(9)
    assert [s for _, s in tracker.run.logged] == list(range(1, 11))
    clock[0] = 11.0
    tracker.on_train_batch_end(10)
    assert len(tracker.run.logged) == 10
    tracker.step_losses = [0.0] * 11
    tracker.on_epoch_end(0, {"val_loss": 0.5})
    assert [s for _, s in tracker.run.logged] == list(range(1, 12)) + [11]
    assert tracker.run.logged[-1][0] == {"val/loss": 0.5, "epoch": 1}


def test_the_tracker_counts_its_own_time():
    """``overhead_s`` (what bench/sst2_cpu.py --tracking reports) adds up the tracker's own time."""
    from kdemo.training.callbacks.tracking import TrackioTracker

    tracker = TrackioTracker("p", "r")
    with tracker._timed():
        sum(range(10_000))
    assert tracker.overhead_s > 0.0
