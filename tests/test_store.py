"""The persistent session store (kdemo.ui.store): what a session builds comes back after a restart, and only to
the browser holding its key; expiry and the disk cap work on it; the token is never written."""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pandas as pd
import pytest

from kdemo.errors import KdemoError
from kdemo.jobs import FINISHED, INTERRUPTED, RUNNING, Job
from kdemo.run.config import TrainConfig
from kdemo.ui import store
from kdemo.ui.session import SessionLimits, SessionStore


def _request(page: str):
    return SimpleNamespace(session_hash=page)


def _persistent(data_dir, limits=None) -> SessionStore:
    """A fresh store on ``data_dir``: what a restarted server builds."""
    sessions = SessionStore(limits)
    sessions.open(data_dir)
    return sessions


def test_a_session_comes_back_after_a_restart_only_with_its_key(tmp_path):
    first = _persistent(tmp_path)
    key = first.attach(_request("page-1"), None)
    session = first.get(_request("page-1"))
    assert session.workdir == tmp_path / "sessions" / store.folder_name(key) and key not in str(session.workdir)
    session.train_df = pd.DataFrame({"text": ["good", "bad"], "label": ["pos", "neg"]})
    session.data_name, session.task = "reviews.csv", "single_label"
    session.set_columns("text", ["label"])
    session.class_weight_offer, session.use_class_weight = {0: 0.5, 1: 2.0}, True
    session.train_config = TrainConfig(data_name="reviews.csv", epochs=3, lr=1e-3)
    first.persist(session)
    job = Job(lambda job: None, epochs=3, total_steps=30, step_losses=[0.7, 0.6], val_points=[(10, 0.5)])
    job.state = RUNNING
    first.persist_job(session, job)

    restarted = _persistent(tmp_path)  # a new process: nothing in memory
    assert restarted.attach(_request("page-9"), key) == key
    back = restarted.get(_request("page-9"))
    assert back.workdir == session.workdir
    pd.testing.assert_frame_equal(back.train_df, session.train_df)
    assert (back.data_name, back.text_column, back.label_columns, back.task) == ("reviews.csv", "text", ["label"], "single_label")
    assert back.class_weight_offer == {0: 0.5, 1: 2.0} and back.use_class_weight
    assert back.train_config == session.train_config
    assert back.job.state == INTERRUPTED and back.job.done and not back.job.active and not back.busy
    assert back.job.step_losses == [0.7, 0.6] and back.job.val_points == [(10, 0.5)] and back.job.total_steps == 30

    stranger = restarted.attach(_request("page-x"), "A" * 43)  # a well-formed key that was never issued
    assert stranger != key and restarted.get(_request("page-x")).train_df is None
    assert restarted.attach(_request("page-y"), "../" + key[3:]) != key


def test_a_finished_job_and_its_model_come_back(tmp_path, tiny_bert_dir):
    from kdemo.inference.predictor import load_predictor

    first = _persistent(tmp_path)
    key = first.attach(_request("p"), None)
    session = first.get(_request("p"))
    predictor = load_predictor_from_tiny(tiny_bert_dir)
    predictor.save(session.workdir / store.MODEL_DIR)
    job = Job(lambda job: None, epochs=1, total_steps=5, step_losses=[0.5] * 5)
    job.result = {"report": "a report", "top_losses": pd.DataFrame({"row": [1]}), "num_layers": 2, "num_heads": 2}
    first.persist(session)
    first.persist_job(session, job, FINISHED)

    back = _persistent(tmp_path)
    back.attach(_request("q"), key)
    restored = back.get(_request("q"))
    assert restored.job.state == FINISHED and restored.job.result["num_layers"] == 2
    assert restored.report == "a report"
    texts = ["the movie was great fun", "awful boring"]
    assert restored.require_predictor().predict_proba(texts).tolist() == \
        load_predictor(session.workdir / store.MODEL_DIR).predict_proba(texts).tolist()


def load_predictor_from_tiny(model_dir):
    from kdemo.text.preprocessor import Transformer

    preproc = Transformer(str(model_dir), maxlen=16, class_names=["negative", "positive"])
    from kdemo.inference.predictor import get_predictor

    return get_predictor(preproc.get_classifier(), preproc)


def test_expiry_and_the_disk_cap_work_on_the_store(tmp_path):
    limits = SessionLimits(reconnect_grace_s=10, idle_timeout_s=100, sweep_every_s=1, max_disk_bytes=1000)
    first = _persistent(tmp_path, limits)
    key = first.attach(_request("p"), None)
    session = first.get(_request("p"))
    first.persist(session)
    (session.workdir / "model.bin").write_bytes(b"x" * 1500)
    with pytest.raises(KdemoError, match="stay under 1,000 bytes"):
        session.require_disk_room(limits.max_disk_bytes)
    old = time.time() - 1000
    os.utime(session.workdir / store.SESSION_FILE, (old, old))
    os.utime(session.workdir, (old, old))
    restarted = SessionStore(limits)
    restarted.open(tmp_path)  # its sweep deletes the folder nobody came back to within idle_timeout_s
    assert not session.workdir.exists()
    assert restarted.attach(_request("p2"), key) != key  # gone: the key is not adopted any more


def test_the_browser_secret_is_stable_and_private(tmp_path):
    secret = store.browser_secret(tmp_path)
    assert store.browser_secret(tmp_path) == secret and len(secret) >= 24
    assert (tmp_path / "browser_secret").stat().st_mode & 0o077 == 0


def test_no_token_or_key_is_written(tmp_path):
    first = _persistent(tmp_path)
    key = first.attach(_request("p"), None)
    session = first.get(_request("p"))
    session.train_df = pd.DataFrame({"text": ["a"], "label": ["b"]})
    first.persist(session)
    first.persist_job(session, Job(lambda job: None))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes()
    assert json.loads((session.workdir / store.SESSION_FILE).read_text()).keys() >= {"data_name", "task"}
    assert not any("token" in k for k in json.loads((session.workdir / store.SESSION_FILE).read_text()))


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = tmp_path / "kdemo" / "app"
    assert store.default_data_dir() in (expected, store.Path("/data/kdemo"))


def test_the_train_tab_resumes_a_stopped_run_after_a_restart(tmp_path, tiny_bert_dir):
    """Train, Stop part-way, "restart" (the store's memory emptied), Resume: the run reaches its planned end."""
    from conftest import sentiment_frame

    from kdemo.jobs import STOPPED
    from kdemo.ui import train_tab
    from kdemo.ui.session import STORE

    saved = STORE.root, STORE.persistent
    STORE.open(tmp_path)
    try:
        page = _request("resume-page")
        key = STORE.attach(page, None)
        session = STORE.get(page)
        session.train_df, session.data_name, session.task = sentiment_frame(120), "reviews.csv", "single_label"
        session.set_columns("text", ["label"])
        STORE.persist(session)
        train_tab.train(str(tiny_bert_dir), 16, 8, 2e-3, 2, "fp32", 0.1, False, request=page)  # 14 steps per epoch
        job = session.job
        deadline = time.time() + 120
        while len(job.step_losses) < 10:
            assert time.time() < deadline and not job.done, job.error
            time.sleep(0.05)
        train_tab.stop(page)
        assert job.wait(120) and job.state == STOPPED
        stopped_at = len(job.step_losses)
        outputs = train_tab._job_outputs(session)
        assert outputs[-1]["visible"] is True  # the Resume button

        STORE._sessions.clear()  # a restart: nothing in memory
        STORE._pages.clear()
        again = _request("after-restart")
        assert STORE.attach(again, key) == key
        back = STORE.get(again)
        assert back is not session and back.job.state == STOPPED and len(back.job.step_losses) == stopped_at
        assert back.train_config.epochs == 2 and back.predictor is not None  # the stopped run's model
        train_tab.resume(request=again)
        assert back.job.wait(180), back.job.state
        assert back.job.state == FINISHED, back.job.error
        assert len(back.job.step_losses) == back.job.total_steps == 2 * 14
        assert back.job.step_losses[:stopped_at] == job.step_losses[:stopped_at]  # the curve continues
        assert not (back.workdir / store.CHECKPOINT_DIR).exists() and train_tab._job_outputs(back)[-1]["visible"] is False
        assert back.require_predictor().predict("the movie was great fun") in ("positive", "negative")
        with pytest.raises(Exception, match="Expected an interrupted or stopped training"):
            train_tab.resume(request=again)
    finally:
        STORE._sessions.clear()
        STORE._pages.clear()
        STORE.root, STORE.persistent = saved
