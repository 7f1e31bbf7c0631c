"""Resume: a fit_onecycle interrupted (crash or Stop) and resumed from its checkpoint ends where an uninterrupted one does.

CPU, fp32, dropout on (the RNG states are part of the checkpoint): the resumed weights equal the uninterrupted run's
within 1e-5, and the per-step loss history continues (the same losses, step for step).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import torch
from conftest import sentiment_frame

from kdemo import TrainingError, get_learner, texts_from_df
from kdemo.training.checkpoint_state import RESUME_DIR, read_state

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR = 3e-3
EPOCHS = 3
BATCH = 8  # 160 training rows: 20 steps per epoch, 60 in all


class Crash(Exception):
    """Stands in for a SIGKILL: the fit ends without any of its end-of-fit code running normally."""


class CrashAt(keras.callbacks.Callback):
    """Raise :class:`Crash` when the training batch with this 0-based index in the whole run starts."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.seen = at, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.seen == self.at:
            raise Crash(f"killed before batch {self.at}")
        self.seen += 1


@pytest.fixture(scope="module")
def data(tiny_bert_dir):
    return texts_from_df(sentiment_frame(), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0)


def _learner(data, init_seed: int = 0):
    trn, val, preproc = data
    torch.manual_seed(init_seed)  # the head's random init; a resumed learner gets its weights from the checkpoint
    return get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH, seed=0)


def _weights(learner) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in learner.model.hf_model.state_dict().items()}


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The uninterrupted 3-epoch run."""
    learner = _learner(data)
    assert learner.model.hf_model.config.hidden_dropout_prob > 0  # dropout is on: the RNG state matters
    learner.fit_onecycle(LR, EPOCHS, verbose=0, checkpoint_folder=str(tmp_path_factory.mktemp("ref")))
    return _weights(learner), list(learner.step_losses)


def _assert_same_run(learner, reference) -> None:
    weights, losses = reference
    got = _weights(learner)
    assert got.keys() == weights.keys()
    worst = max(float(np.max(np.abs(got[k] - weights[k]))) for k in weights)
    assert worst <= 1e-5, f"largest weight difference {worst:.2e}"
    assert len(learner.step_losses) == len(losses) == EPOCHS * 20
    np.testing.assert_allclose(learner.step_losses, losses, rtol=1e-4, atol=1e-5)


def _resume_after_crash(data, folder, crash_at: int, **fit_kwargs):
    interrupted = _learner(data)
    with pytest.raises(Crash):
        interrupted.fit_onecycle(LR, EPOCHS, verbose=0, checkpoint_folder=str(folder), callbacks=[CrashAt(crash_at)],
                                 **fit_kwargs)
    torch.manual_seed(12345)  # a new process: other global random states
    np.random.seed(12345)
    resumed = _learner(data, init_seed=99)  # another init: the checkpoint's weights must replace it
    events = []
    resumed.resume(str(folder), verbose=0, progress=events.append)
    return resumed, events


def test_resume_after_a_crash_at_an_epoch_boundary_equals_the_uninterrupted_run(data, reference, tmp_path):
    resumed, events = _resume_after_crash(data, tmp_path, crash_at=20)  # killed as epoch 2 starts
    _assert_same_run(resumed, reference)
    train_events = [e for e in events if e.phase == "train"]
    assert train_events[0].step == 21 and train_events[-1].step == 60  # the step count continues
    assert {e.total_steps for e in events} == {60}  # the same planned total
    assert [e.epoch for e in events if e.phase == "epoch_end"] == [1, 2]
    state = read_state(tmp_path)
    assert state.finished and state.epoch == EPOCHS and state.step == 60
    assert (tmp_path / "epoch-3" / "model.safetensors").exists()  # ktrain's per-epoch weights continue too


def test_resume_after_a_crash_mid_epoch_equals_the_uninterrupted_run(data, reference, tmp_path):
    resumed, _ = _resume_after_crash(data, tmp_path, crash_at=27, checkpoint_every_s=0)
    _assert_same_run(resumed, reference)


def _read_every_step(monkeypatch):
    """Progress events then arrive right after their step (the fast step reads losses in chunks otherwise), so
    that a Stop asked for at step N lands after step N."""
    from kdemo.modeling.step import StepLog

    monkeypatch.setattr(StepLog, "due", lambda self: True)


def test_a_stopped_run_resumes_to_the_planned_end(data, reference, tmp_path, monkeypatch):
    _read_every_step(monkeypatch)
    learner = _learner(data)

    def progress(event):
        if event.phase == "train" and event.step == 33:
            learner.request_stop()

    learner.fit_onecycle(LR, EPOCHS, verbose=0, checkpoint_folder=str(tmp_path), progress=progress)
    assert learner.stopped_early
    state = json.loads((tmp_path / RESUME_DIR / "state.json").read_text())
    assert (state["epoch"], state["batch"], state["step"], state["finished"]) == (1, 13, 33, False)
    resumed = _learner(data, init_seed=7)
    resumed.resume(str(tmp_path), verbose=0)
    _assert_same_run(resumed, reference)


def test_resume_refuses_a_finished_run_and_a_missing_checkpoint(data, reference, tmp_path):
    learner = _learner(data)
    with pytest.raises(TrainingError, match="Expected a resume checkpoint"):
        learner.resume(str(tmp_path))
    learner.fit_onecycle(LR, 1, verbose=0, checkpoint_folder=str(tmp_path))
    with pytest.raises(TrainingError, match="planned end"):
        learner.resume(str(tmp_path))


def test_kdemo_train_resumes_a_stopped_run_through_the_run_owner(tiny_bert_dir, tmp_path, monkeypatch):
    import threading

    _read_every_step(monkeypatch)

    import kdemo
    from kdemo import TrainConfig

    cfg = TrainConfig(model_name=str(tiny_bert_dir), epochs=2, lr=1e-3, batch_size=8, precision="fp32")
    table = sentiment_frame(120)  # 108 training rows: 14 steps per epoch
    whole = kdemo.train(cfg, train_df=table)
    stop = threading.Event()

    def progress(event):
        if event.phase == "train" and event.step == 20:  # in epoch 2 of 2
            stop.set()

    stopped = kdemo.train(cfg, train_df=table, progress=progress, stop=stop, checkpoint_folder=tmp_path)
    assert len(stopped.learner.step_losses) == 20
    events = []
    resumed = kdemo.train(cfg, train_df=table, resume_from=tmp_path, progress=events.append)
    assert [e.step for e in events if e.phase == "train"] == list(range(21, 29))
    np.testing.assert_allclose(resumed.learner.step_losses, whole.learner.step_losses, rtol=1e-4, atol=1e-5)
    assert [p[0] for p in resumed.record.val_points] == [14, 28]  # the first epoch's point kept from the checkpoint
    a, b = _weights(resumed.learner), _weights(whole.learner)
    assert max(float(np.max(np.abs(a[k] - b[k]))) for k in a) <= 1e-5
    assert resumed.predictor.predict_proba(["the movie was great fun"]).tolist() == \
        whole.predictor.predict_proba(["the movie was great fun"]).tolist()
    with pytest.raises(TrainingError, match="one-cycle"):
        kdemo.train(cfg.replace(schedule="sgdr", cycle_len=1), train_df=table, resume_from=tmp_path)
