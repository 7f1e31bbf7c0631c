"""The persistent session store (kdemo.ui.store): what a session builds comes back after a restart, and only to
the browser holding its key; expiry and the disk cap work on it; the token is never written."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from kdemo.data.tables import read_table
from kdemo.errors import KdemoError
from kdemo.evaluation.report import classification_metrics
from kdemo.jobs import FINISHED, INTERRUPTED, RUNNING, Job
from kdemo.run import read_data
from kdemo.run.config import TrainConfig
from kdemo.run.table_pipeline import TableRunData
from kdemo.tasks import SINGLE_LABEL, SPECS
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
    session.data = read_data(TrainConfig(data_name="reviews.csv", task="single_label", text_column="text",
                                         label_columns=("label",)),
                             pd.DataFrame({"text": ["good", "bad"], "label": ["pos", "neg"]}))
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
    report = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], ["negative", "positive"])
    job.result = {"report": report, "top_losses": pd.DataFrame({"row": [1]}), "num_layers": 2, "num_heads": 2}
    first.persist(session)
    first.persist_job(session, job, FINISHED)

    back = _persistent(tmp_path)
    back.attach(_request("q"), key)
    restored = back.get(_request("q"))
    assert restored.job.state == FINISHED and restored.job.result["num_layers"] == 2
    assert restored.report.to_dict() == report.to_dict()
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
    session.data = read_data(TrainConfig(text_column="text", label_columns=("label",)),
                             pd.DataFrame({"text": ["a"], "label": ["b"]}))
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
        session.data = read_data(TrainConfig(data_name="reviews.csv", task="single_label", text_column="text",
                                             label_columns=("label",)), sentiment_frame(120))
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


# ---------------------------------------------------------------- no pickles: Parquet / JSON files

def _frames():
    """Tables of every dtype an upload gives, and ones Parquet would change (written as JSON instead)."""
    plain = pd.DataFrame({
        "text": ["good film", "bad", None, "ok"], "label": ["pos", "neg", "neg", "pos"], "stars": [5, 1, 2, 3],
        "score": [0.1, float("nan"), 1 / 3, 2.5e-17], "flag": [True, False, True, True],
        "label_id": pd.array([1, None, 0, 1], dtype="Int64"), "kind": pd.Categorical(["a", "b", "a", "b"], ["b", "a"]),
    })
    plain.attrs["kdemo_read"] = {"file": "reviews.csv", "encoding": "utf-8"}
    uploaded = read_table(_csv("text,label,stars\nthe movie was great,positive,5\n,negative,1\nok,,3\n"))
    # read_table's columns: object columns of strings, NaN when empty
    assert uploaded.dtypes.map(pd.api.types.is_object_dtype).all()
    mixed = plain.assign(label=pd.Series([1, "pos", 2.5, None], dtype=object),  # JSONL with mixed label types
                         labels=[["joy"], ["anger", "joy"], [], ["fear"]])  # multi-label lists
    mixed.index = pd.Index([7, 3, 9, 1], name="row")
    return {"parquet": plain, "split": plain.iloc[[3, 1]], "uploaded": uploaded, "json": mixed,
            "int names": pd.DataFrame({0: ["a", "b"], 1: [1, 2]})}


def _as_given(train_df=None, val_df=None, data_name=None):
    """A session's single-label table data as given, unchecked (tables of every dtype, which a reader would refuse)."""
    return TableRunData(spec=SPECS[SINGLE_LABEL], data_name=data_name, train_df=train_df, val_df=val_df)


def _csv(text: str):
    import tempfile

    path = Path(tempfile.mkdtemp()) / "upload.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["parquet", "split", "uploaded", "json", "int names"])
def test_tables_of_every_dtype_come_back_equal(tmp_path, name):
    table = _frames()[name]
    first = _persistent(tmp_path)
    key = first.attach(_request("p"), None)
    session = first.get(_request("p"))
    session.data = _as_given(table, table.iloc[:1])
    first.persist(session)
    suffix = ".parquet" if name in ("parquet", "split", "uploaded") else ".json"
    assert sorted(p.name for p in session.workdir.iterdir()) == sorted(["session.json", f"train{suffix}", f"val{suffix}"])

    back = _persistent(tmp_path)
    back.attach(_request("q"), key)
    restored = back.get(_request("q"))
    pd.testing.assert_frame_equal(restored.train_df, table, check_exact=True)
    pd.testing.assert_frame_equal(restored.val_df, table.iloc[:1], check_exact=True)
    assert restored.train_df.attrs == table.attrs
    if name == "json":
        assert restored.train_df["labels"].iloc[1] == ["anger", "joy"] and restored.train_df["label"].iloc[0] == 1

    session.data = dataclasses.replace(session.data, val_df=None)  # a removed table is removed from the store too
    first.persist(session)
    assert not any(p.name.startswith("val.") for p in session.workdir.iterdir())


def _reports():
    import numpy as np

    from kdemo.evaluation.ner import ner_metrics
    from kdemo.evaluation.report import multilabel_metrics, regression_metrics

    return {
        "single_label": classification_metrics([0, 1, 2, 1, 0], [0, 2, 2, 1, 1], ["neg", "neu", "pos"]),
        "multi_label": multilabel_metrics(np.array([[1, 0], [0, 1], [1, 1]]), np.array([[0.9, 0.2], [0.3, 0.7], [0.6, 0.4]]),
                                          ["joy", "fear"], [0.5, 0.35]),
        "regression": regression_metrics(np.array([1.0, 2.0, 3.3]), np.array([1.1, 2.2, 2.9])),
        "ner": ner_metrics([["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]], [["B-PER", "I-PER", "O", "O"], ["B-LOC"]]),
    }


@pytest.mark.parametrize("task", ["single_label", "multi_label", "regression", "ner"])
def test_a_job_result_is_json_and_comes_back_equal(tmp_path, task):
    import numpy as np

    report = _reports()[task]
    top = pd.DataFrame({"row": [3, 1], "text": ["awful, just awful", "fine"], "true": ["neg", "pos"],
                        "predicted": ["pos", "neg"], "loss": [2.0000000000000004, 1 / 3]})
    first = _persistent(tmp_path)
    key = first.attach(_request("p"), None)
    session = first.get(_request("p"))
    job = Job(lambda job: None, epochs=1, total_steps=4, step_losses=[0.9, 0.7, 0.6, 0.5])
    job.result = {"report": report, "top_losses": top, "num_layers": 2, "num_heads": 4}
    first.persist(session)
    first.persist_job(session, job, FINISHED)
    saved = json.loads((session.workdir / store.RESULT_FILE).read_text())
    assert saved["report_type"] == type(report).__name__ and saved["num_heads"] == 4

    back = _persistent(tmp_path)
    back.attach(_request("q"), key)
    result = back.get(_request("q")).job.result
    assert type(result["report"]) is type(report)
    for name, value in vars(report).items():
        got = getattr(result["report"], name)
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got, value, check_exact=True)
        elif isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and np.array_equal(got, value)
        else:
            assert got == value or (np.isnan(value) and np.isnan(got)), name
    pd.testing.assert_frame_equal(result["top_losses"], top, check_exact=True)
    assert (result["num_layers"], result["num_heads"]) == (2, 4)


def test_nothing_is_pickled(tmp_path):
    first = _persistent(tmp_path)
    first.attach(_request("p"), None)
    session = first.get(_request("p"))
    session.data = _as_given(_frames()["parquet"], _frames()["json"])
    first.persist(session)
    job = Job(lambda job: None, epochs=1, total_steps=1, step_losses=[0.5])
    job.result = {"report": _reports()["single_label"], "top_losses": pd.DataFrame({"row": [1], "loss": [0.5]}),
                  "num_layers": 2, "num_heads": 2}
    first.persist_job(session, job, FINISHED)
    assert sorted(p.name for p in session.workdir.iterdir()) == \
        ["job.json", "job_result.json", "session.json", "train.parquet", "val.json"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), path  # a pickle's protocol marker
    assert not hasattr(store, "pickle")


_UNPICKLED = []


class _Trap:
    """Unpickling this calls :func:`_sprung`: proof that an old pickle was opened."""

    def __reduce__(self):
        return (_sprung, ())


def _sprung():
    _UNPICKLED.append(True)
    return pd.DataFrame({"text": ["from a pickle"], "label": ["x"]})


def test_old_pickles_are_ignored_never_unpickled(tmp_path):
    import pickle

    first = _persistent(tmp_path)
    key = first.attach(_request("p"), None)
    session = first.get(_request("p"))
    session.data = _as_given(data_name="reviews.csv")
    first.persist(session)
    finished = Job(lambda job: None, epochs=1, total_steps=1, step_losses=[0.5])
    first.persist_job(session, finished, FINISHED)
    for name in store.LEGACY_FILES:  # what an earlier version left
        (session.workdir / name).write_bytes(pickle.dumps(_Trap()))

    back = _persistent(tmp_path)
    back.attach(_request("q"), key)
    restored = back.get(_request("q"))
    assert not _UNPICKLED
    assert restored.data_name == "reviews.csv" and restored.train_df is None and restored.val_df is None
    assert restored.job.state == FINISHED and restored.job.result is None and restored.report is None
    back.persist(restored)  # the next save deletes them
    assert not list(restored.workdir.glob("*.pkl")) and not _UNPICKLED


# ---------------------------------------------------------------- a model loaded in the Predict tab

def _saved_predictor(folder, class_names):
    from kdemo.inference.predictor import get_predictor
    from kdemo.text.preprocessor import Transformer

    preproc = Transformer(str(folder), maxlen=16, class_names=class_names)
    predictor = get_predictor(preproc.get_classifier(), preproc)
    return predictor


def test_a_model_loaded_in_the_predict_tab_comes_back_after_a_restart(tmp_path, tiny_bert_dir):
    """A trained model, then a model loaded by folder: after a restart the session predicts with the loaded one."""
    from kdemo.ui import predict_tab
    from kdemo.ui.session import STORE

    loaded_dir = tmp_path / "elsewhere" / "sentiment-model"
    _saved_predictor(tiny_bert_dir, ["bad", "good"]).save(loaded_dir)
    saved = STORE.root, STORE.persistent
    STORE.open(tmp_path / "data")
    try:
        page = _request("load-page")
        key = STORE.attach(page, None)
        session = STORE.get(page)
        _saved_predictor(tiny_bert_dir, ["negative", "positive"]).save(session.workdir / store.MODEL_DIR)
        trained = Job(lambda job: None, epochs=1, total_steps=1, step_losses=[0.5])
        trained.result = {"report": _reports()["single_label"], "top_losses": pd.DataFrame({"row": [1]}),
                          "num_layers": 2, "num_heads": 2}
        STORE.persist(session)
        STORE.persist_job(session, trained, FINISHED)
        (session.workdir / store.CHECKPOINT_DIR).mkdir()

        status, _, _ = predict_tab.load_model(str(loaded_dir), None, page)
        assert "Loaded" in status and session.predictor.get_classes() == ["bad", "good"]
        assert json.loads((session.workdir / store.SESSION_FILE).read_text())["loaded_model"] == str(loaded_dir)
        assert not (session.workdir / store.JOB_FILE).exists() and not (session.workdir / store.RESULT_FILE).exists()
        assert not (session.workdir / store.CHECKPOINT_DIR).exists()
        texts = ["the movie was great fun", "awful boring"]
        expected = session.predictor.predict_proba(texts).tolist()

        STORE._sessions.clear()  # a restart: nothing in memory
        STORE._pages.clear()
        again = _request("after-restart")
        assert STORE.attach(again, key) == key
        back = STORE.get(again)
        assert back is not session and back.job is None and back.report is None
        assert back.loaded_model == str(loaded_dir)
        assert back.require_predictor().get_classes() == ["bad", "good"]
        assert back.predictor.predict_proba(texts).tolist() == expected
    finally:
        STORE._sessions.clear()
        STORE._pages.clear()
        STORE.root, STORE.persistent = saved


def test_a_new_training_replaces_the_loaded_model_in_the_store(tmp_path):
    from kdemo.ui.session import STORE
    from kdemo.ui.train_job import make_config, training_job

    saved = STORE.root, STORE.persistent
    STORE.open(tmp_path)
    try:
        STORE.attach(_request("p"), None)
        session = STORE.get(_request("p"))
        STORE.record_loaded_model(session, " org/model ")
        assert json.loads((session.workdir / store.SESSION_FILE).read_text())["loaded_model"] == "org/model"
        session.data = read_data(TrainConfig(task="single_label", text_column="text", label_columns=("label",)),
                                 pd.DataFrame({"text": ["good", "bad"] * 4, "label": ["pos", "neg"] * 4}))
        session.set_columns("text", ["label"])
        training_job(session, make_config(session, "", 16, 2, 1e-3, 1, "fp32", 0.25))  # built, never run
        assert session.loaded_model is None
        assert json.loads((session.workdir / store.SESSION_FILE).read_text())["loaded_model"] is None
    finally:
        STORE._sessions.clear()
        STORE._pages.clear()
        STORE.root, STORE.persistent = saved


# ---------------------------------------------------------------- reconnecting never waits for a model

def test_reconnecting_loads_the_model_lazily_outside_the_stores_lock(tmp_path, tiny_bert_dir, monkeypatch):
    import threading

    from kdemo.inference.predictor import load_predictor
    from kdemo.ui import session as session_module

    first = _persistent(tmp_path)
    key = first.attach(_request("a"), None)
    session = first.get(_request("a"))
    _saved_predictor(tiny_bert_dir, ["negative", "positive"]).save(session.workdir / store.MODEL_DIR)
    job = Job(lambda job: None, epochs=1, total_steps=1, step_losses=[0.5])
    job.result = {"report": _reports()["single_label"], "top_losses": pd.DataFrame({"row": [1]}), "num_layers": 2,
                  "num_heads": 2}
    first.persist(session)
    first.persist_job(session, job, FINISHED)
    texts = ["the movie was great fun"]
    expected = load_predictor(session.workdir / store.MODEL_DIR).predict_proba(texts).tolist()

    restarted = _persistent(tmp_path)
    calls, release, loading = [], threading.Event(), threading.Event()

    def slow_load(folder):
        calls.append(restarted._lock.locked())  # is the store's global lock held while the model loads?
        loading.set()
        assert release.wait(30)
        return load_predictor(folder)

    monkeypatch.setattr(session_module, "load_predictor", slow_load)
    restoring = []  # is the store's lock held while the session's files are read back?
    real_restore = store.restore_session
    monkeypatch.setattr(store, "restore_session", lambda s: restoring.append(restarted._lock.locked()) or real_restore(s))
    assert restarted.attach(_request("a2"), key) == key  # reconnect: nothing loaded yet
    back = restarted.get(_request("a2"))
    assert calls == [] and restoring == [False] and back.job.state == FINISHED
    assert restarted.attach(_request("a3"), key) == key and restarted.get(_request("a3")) is back  # a second page

    got = []
    readers = [threading.Thread(target=lambda: got.append(back.require_predictor())) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        assert loading.wait(30)
        other = []  # another session reconnects while A's model is loading: it must not wait for it
        meanwhile = threading.Thread(target=lambda: other.append(restarted.attach(_request("b"), None)))
        meanwhile.start()
        meanwhile.join(10)
        assert not meanwhile.is_alive() and other and other[0] != key
    finally:
        release.set()
        for t in readers:
            t.join(60)
    assert calls == [False]  # loaded once, without the store's lock
    assert len(got) == 2 and got[0] is got[1]
    assert got[0].predict_proba(texts).tolist() == expected


def test_a_token_file_comes_back_after_a_restart(tmp_path):
    from kdemo.ui import data_tab
    from kdemo.ui.views import tokens as token_views

    fixture = Path(__file__).parents[1] / "fixtures" / "ner_news.conll"
    first = _persistent(tmp_path)
    key = first.attach(_request("page-1"), None)
    session = first.get(_request("page-1"))
    token_views.load_token_data(session, str(fixture), None, 0.1)
    session.data = dataclasses.replace(session.data, data_name="my news.conll")
    first.persist(session)
    sentences = len(session.data.train.words)

    restarted = _persistent(tmp_path)
    assert restarted.attach(_request("page-2"), key) == key
    back = restarted.get(_request("page-2"))
    assert back.spec.data_kind == "tokens" and back.task == "token_classification"
    assert back.token_file == session.token_file and back.token_file.is_file() and back.token_val_file is None
    assert back.data.train.words == session.data.train.words and back.data.train.tags == session.data.train.tags
    outputs = data_tab.restore(back, 0.1)  # the reloaded page's Data tab
    assert len(outputs) == 11 and back.data_name == "my news.conll" and back.doctor_report is not None
    assert f"{sentences} sentences" in outputs[3]  # the summary
    assert back.token_file.parent == back.workdir / "data"  # the copy was read in place, not copied onto itself
