"""Many sessions at once through the real server: concurrent /predict calls, each answered by its own model."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from kdemo.inference.hub_models import load_from_hub
from kdemo.ui import build_app
from kdemo.ui.predict_tab import BATCHER

TEXTS = ["good", "the movie was awful", "a witty , gorgeous film", "bad plot", "not very fun", "dull story"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, tiny_bert_dir, tiny_distilbert_dir):
    """Two saved predictors with different class names, so an answer shows which model gave it."""
    out = {}
    for name, src, classes in (("bert", tiny_bert_dir, ["neg", "pos"]), ("distil", tiny_distilbert_dir, ["bad", "good"])):
        predictor = load_from_hub(str(src))
        predictor.class_names = classes
        out[name] = predictor.save(tmp_path_factory.mktemp(name) / "model")
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory, one_torch_thread):
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-tmp"))
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield url
    finally:
        demo.close()


def _probs(label_output: dict) -> dict[str, float]:
    return {c["label"]: float(c["confidence"]) for c in label_output["confidences"]}


def test_eight_concurrent_sessions_get_their_own_models_answers(server, model_dirs):
    expected = {name: load_from_hub(str(folder)) for name, folder in model_dirs.items()}
    plan = [("bert" if i % 2 else "distil") for i in range(8)]
    clients = [Client(server, verbose=False) for _ in plan]
    try:
        for c, name in zip(clients, plan):
            assert "Loaded" in c.predict(str(model_dirs[name]), api_name="/load_model")[0]
        before = sum(BATCHER.batch_sizes.values())
        errors: list[BaseException] = []
        answers: dict[int, list] = {i: [] for i in range(len(clients))}
        start = threading.Barrier(len(clients))

        def loop(i: int) -> None:
            start.wait()
            for text in TEXTS:
                try:
                    answers[i].append((text, _probs(clients[i].predict(text, "", api_name="/predict"))))
                except BaseException as exc:  # noqa: BLE001 - counted and reported below
                    errors.append(exc)

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        for i, name in enumerate(plan):
            predictor = expected[name]
            assert len(answers[i]) == len(TEXTS)
            for text, probs in answers[i]:
                assert set(probs) == set(predictor.get_classes())  # this session's model, not another's
                want = dict(zip(predictor.get_classes(), predictor.predict_proba(text)))
                for label, p in probs.items():
                    assert abs(p - float(want[label])) <= 1e-5
        assert sum(BATCHER.batch_sizes.values()) - before <= len(clients) * len(TEXTS)
    finally:
        for c in clients:
            c.close()


def test_a_session_without_a_model_is_refused_while_others_predict(server, model_dirs):
    with_model, without = Client(server, verbose=False), Client(server, verbose=False)
    try:
        with_model.predict(str(model_dirs["bert"]), api_name="/load_model")
        assert set(_probs(with_model.predict("good", "", api_name="/predict"))) == {"neg", "pos"}
        with pytest.raises(AppError, match="Train one in the Train tab"):
            without.predict("good", "", api_name="/predict")
        with pytest.raises(AppError, match="Expected a text"):
            with_model.predict("   ", "", api_name="/predict")
    finally:
        with_model.close()
        without.close()


def test_sessions_loading_the_same_folder_share_one_model(server, model_dirs):
    from kdemo.ui.session import STORE

    a, b = Client(server, verbose=False), Client(server, verbose=False)
    try:
        for c in (a, b):
            c.predict(str(model_dirs["distil"]), api_name="/load_model")
        def get(c):
            return STORE.get(type("Request", (), {"session_hash": c.session_hash})()).predictor

        pa, pb = get(a), get(b)
        assert pa is not pb and pa.model is pb.model
        np.testing.assert_allclose(list(_probs(a.predict("fun", "", api_name="/predict")).values()),
                                   list(_probs(b.predict("fun", "", api_name="/predict")).values()), atol=1e-6)
    finally:
        a.close()
        b.close()


def test_training_jobs_run_at_a_lower_cpu_priority():
    import threading as th

    from kdemo.jobs import Job, JobQueue
    from kdemo.ui.session import DEVICE_QUEUE

    assert DEVICE_QUEUE.nice > 0  # the app's training yields the cores to predictions
    base = os.getpriority(os.PRIO_PROCESS, 0)
    job = JobQueue(name="test-nice", nice=5).submit(Job(lambda job: os.getpriority(os.PRIO_PROCESS, th.get_native_id())))
    assert job.wait(30) and job.result == min(base + 5, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the rest of the process keeps its priority
    with pytest.raises(ValueError, match="nice"):
        JobQueue(nice=25)


def test_training_keeps_its_threads_and_predictions_make_way_for_it():
    """A new thread starts with the intra-op thread count last set by any thread: after the prediction worker set 1,
    a training thread would train on one core. The device queue sets its own count; the predictions use one
    thread only while a job runs or waits."""
    import threading as th

    import torch

    from kdemo.jobs import Job, JobQueue
    from kdemo.ui import predict_tab
    from kdemo.ui.session import DEVICE_QUEUE

    assert DEVICE_QUEUE.threads == predict_tab.IDLE_PREDICT_THREADS  # torch's default, read at import
    seen = []
    setter = th.Thread(target=torch.set_num_threads, args=(1,))  # what the prediction worker does
    setter.start()
    setter.join()
    try:
        inherited = JobQueue(name="test-inherit").submit(Job(lambda job: torch.get_num_threads()))
        assert inherited.wait(30)  # one after the other: a thread reads the global count when it first needs it
        own = JobQueue(name="test-threads", threads=3).submit(Job(lambda job: torch.get_num_threads()))
        assert own.wait(30)
        assert (inherited.result, own.result) == (1, 3)
    finally:
        torch.set_num_threads(predict_tab.IDLE_PREDICT_THREADS)  # the global count that new threads inherit
    with pytest.raises(ValueError, match="threads"):
        JobQueue(threads=0)

    assert len(DEVICE_QUEUE) == 0 and predict_tab.predict_threads() == predict_tab.IDLE_PREDICT_THREADS
    release = th.Event()
    job = DEVICE_QUEUE.submit(Job(lambda job: (seen.append(predict_tab.predict_threads()), release.wait(30))))
    try:
        deadline = time.time() + 30
        while not seen:
            assert time.time() < deadline
            time.sleep(0.01)
        assert seen == [1] and predict_tab.predict_threads() == 1
    finally:
        release.set()
        assert job.wait(30)
    assert predict_tab.predict_threads() == predict_tab.IDLE_PREDICT_THREADS


def test_concurrency_settings_of_the_events():
    demo = build_app()
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    assert fns["predict"].concurrency_limit is None  # waits in the micro-batcher, holding no thread
    assert fns["predict"].queue is False  # the page posts to /gradio_api/run/predict: no queue event, no SSE stream
    assert demo.analytics_enabled is False
    heavy = [fns[name] for name in ("attention_views", "attention", "attention_compare", "explain")]
    assert {fn.concurrency_id for fn in heavy} == {"attention-explain"}  # one shared slot for all sessions
    assert {fn.concurrency_limit for fn in heavy} == {1}


def test_raw_http_predict_keeps_each_sessions_model(server, model_dirs):
    """The browser's request for the queue=False /predict (POST /gradio_api/run/predict with the page's
    session_hash) is answered by that session's model; a session without a model gets the error, not a guess."""
    import httpx

    a, b, empty = Client(server, verbose=False), Client(server, verbose=False), Client(server, verbose=False)
    try:
        a.predict(str(model_dirs["bert"]), api_name="/load_model")
        b.predict(str(model_dirs["distil"]), api_name="/load_model")
        config = httpx.get(server + "config", timeout=30).json()
        dep = next(d for d in config["dependencies"] if d.get("api_name") == "predict")
        assert dep["queue"] is False

        def post(client, text):
            body = {"data": [text, ""], "event_data": None, "fn_index": dep["id"], "trigger_id": dep["targets"][0][0],
                    "session_hash": client.session_hash}
            return httpx.post(server + "gradio_api/run/predict", json=body, timeout=60)

        for client, classes, ref in ((a, {"neg", "pos"}, "bert"), (b, {"bad", "good"}, "distil")):
            r = post(client, "a witty , gorgeous film")
            assert r.status_code == 200, r.text
            got = _probs(r.json()["data"][0])
            assert set(got) == classes
            expected = load_from_hub(str(model_dirs[ref])).predict_proba("a witty , gorgeous film")
            np.testing.assert_allclose([got[c] for c in sorted(classes)], expected, atol=1e-5)
        r = post(empty, "good")
        assert r.status_code == 500 and "model" in r.text.lower()
    finally:
        for c in (a, b, empty):
            c.close()
