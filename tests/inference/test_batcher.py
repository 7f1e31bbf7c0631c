"""The micro-batcher (kdemo.inference.batcher) and shared models (kdemo.inference.shared_models), on tiny models."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest

from kdemo.errors import DataError
from kdemo.inference.batcher import BatcherClosed, MicroBatcher, batch_key
from kdemo.inference.predictor import load_predictor
from kdemo.inference.shared_models import folder_digest, load_shared

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    "good", "the movie was awful and boring", "a witty , gorgeous film with a superb plot", "bad",
    "it was not very fun", "the actor was brilliant but the story was weak", "dull", "great great great",
] * 3


@pytest.fixture(scope="module")
def predictors(tiny_bert_dir, tiny_distilbert_dir):
    return load_predictor(tiny_bert_dir), load_predictor(tiny_distilbert_dir)


def _fire(batcher, jobs):
    """Submit every ``(predictor, item)`` at once from its own thread; returns results (or exceptions) in order."""
    out: list = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def one(i, predictor, item):
        start.wait()
        try:
            out[i] = batcher.predict_proba(predictor, item, timeout=60)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i, p, x)) for i, (p, x) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_concurrent_requests_are_batched_and_equal_one_at_a_time(predictors):
    bert, _ = predictors
    expected = [bert.predict_proba(t) for t in TEXTS]
    batcher = MicroBatcher(max_batch_size=64, max_wait_s=0.2)
    try:
        got = _fire(batcher, [(bert, t) for t in TEXTS])
    finally:
        batcher.close()
    for g, e in zip(got, expected):
        assert isinstance(g, np.ndarray) and g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-5)
    assert sum(batcher.batch_sizes.values()) < len(TEXTS)  # grouped, not one forward pass per request
    assert max(batcher.batch_sizes) > 1


def test_sentence_pairs_batch_too_but_apart_from_single_texts(predictors):
    bert, _ = predictors
    items = [("good movie", "a great plot"), "good movie", ("bad", "the story was dull and weak"), "bad", ("fun", "fun")]
    batcher = MicroBatcher(max_wait_s=0.2)
    seen = []
    real_run = MicroBatcher._run
    batcher._run = lambda batch: (seen.append({isinstance(r.item, tuple) for r in batch}), real_run(batch))
    try:
        got = _fire(batcher, [(bert, p) for p in items])
    finally:
        batcher.close()
    for g, p in zip(got, items):
        np.testing.assert_allclose(g, bert.predict_proba(p), atol=1e-5)
    assert all(len(kinds) == 1 for kinds in seen)  # never a mixed batch (which would fail and be retried)


def test_requests_for_different_models_never_share_a_batch(predictors):
    bert, distil = predictors
    jobs = [(bert if i % 2 else distil, t) for i, t in enumerate(TEXTS)]
    batcher = MicroBatcher(max_wait_s=0.2)
    seen = []
    real_run = MicroBatcher._run

    def spy(batch):
        seen.append({r.key[:-1] for r in batch})
        real_run(batch)

    batcher._run = spy  # instance attribute: called as a plain function
    try:
        got = _fire(batcher, jobs)
    finally:
        batcher.close()
    assert all(len(keys) == 1 for keys in seen)  # one model per forward pass
    assert {k for keys in seen for k in keys} == {batch_key(bert), batch_key(distil)}
    for g, (p, t) in zip(got, jobs):
        np.testing.assert_allclose(g, p.predict_proba(t), atol=1e-5)  # each caller got its own model's answer


def test_max_batch_size_is_respected(predictors):
    bert, _ = predictors
    batcher = MicroBatcher(max_batch_size=4, max_wait_s=0.2)
    try:
        _fire(batcher, [(bert, t) for t in TEXTS[:12]])
    finally:
        batcher.close()
    assert max(batcher.batch_sizes) <= 4
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == 12


def test_an_error_reaches_only_its_own_caller(predictors):
    bert, _ = predictors

    class Flaky:
        """Wraps the predictor; fails on texts containing 'boom' (as a damaged input would)."""

        def __init__(self, inner):
            self.model, self.tokenizer, self.maxlen = inner.model, inner.tokenizer, inner.maxlen
            self.precision, self.task, self.inner = inner.precision, inner.task, inner

        def predict_proba(self, texts):
            items = [texts] if isinstance(texts, str) else texts
            if any("boom" in t for t in items):
                raise DataError("Expected no boom. Received: boom.")
            return self.inner.predict_proba(texts)

    flaky = Flaky(bert)
    texts = ["good", "boom here", "bad movie", "fun"]
    batcher = MicroBatcher(max_wait_s=0.2)
    try:
        got = _fire(batcher, [(flaky, t) for t in texts])
    finally:
        batcher.close()
    assert isinstance(got[1], DataError)
    for i in (0, 2, 3):
        np.testing.assert_allclose(got[i], bert.predict_proba(texts[i]), atol=1e-5)


def test_bad_items_are_refused_before_queueing(predictors):
    batcher = MicroBatcher()
    try:
        with pytest.raises(DataError, match="Expected one text"):
            batcher.submit(predictors[0], 42)
        with pytest.raises(DataError, match="Expected one text"):
            batcher.submit(predictors[0], ("a", "b", "c"))
    finally:
        batcher.close()


def test_close_fails_waiting_requests_and_does_not_deadlock(predictors):
    bert, _ = predictors
    gate = threading.Event()

    class Slow:
        """Holds the worker until the gate opens, so that other requests queue behind it."""

        def __init__(self):
            self.model, self.tokenizer, self.maxlen, self.precision, self.task = object(), None, 8, "fp32", "single_label"

        def predict_proba(self, texts):
            gate.wait(10)
            return np.zeros(2, dtype=np.float32)

    batcher = MicroBatcher(max_wait_s=0.0)
    first = batcher.submit(Slow(), "x")
    time.sleep(0.1)  # the worker is now inside Slow.predict_proba
    waiting = [batcher.submit(bert, t) for t in TEXTS[:3]]
    closer = threading.Thread(target=batcher.close, kwargs={"timeout": 10})
    closer.start()
    time.sleep(0.1)
    gate.set()
    closer.join(15)
    assert not closer.is_alive()
    assert first.result(5).shape == (2,)  # the running batch finished
    for fut in waiting:
        with pytest.raises(BatcherClosed):
            fut.result(5)
    with pytest.raises(BatcherClosed):
        batcher.submit(bert, "good")
    assert batcher._worker is None or not batcher._worker.is_alive()


def test_worker_uses_the_requested_thread_count(predictors):
    import torch

    seen = []
    batcher = MicroBatcher(threads=lambda: 1)
    real_run = MicroBatcher._run
    batcher._run = lambda batch: (seen.append(torch.get_num_threads()), real_run(batch))
    try:
        batcher.predict_proba(predictors[0], "good", timeout=30)
    finally:
        batcher.close()
    assert seen == [1]


def test_shared_models_one_module_per_content(tiny_bert_dir, tmp_path):
    copy_dir = tmp_path / "copy"
    shutil.copytree(tiny_bert_dir, copy_dir)
    assert folder_digest(copy_dir) == folder_digest(tiny_bert_dir)
    a, b = load_shared(tiny_bert_dir), load_shared(copy_dir)
    assert a is not b and a.model is b.model and a.tokenizer is b.tokenizer and batch_key(a) == batch_key(b)
    b.thresholds[0] = 0.9  # per-session settings stay apart
    assert a.thresholds[0] == 0.5
    np.testing.assert_allclose(a.predict_proba("good"), load_predictor(tiny_bert_dir).predict_proba("good"), atol=1e-6)
    (copy_dir / "kdemo.json").write_text('{"maxlen": 16}', encoding="utf-8")  # other content: its own module
    c = load_shared(copy_dir)
    assert c.model is not a.model


def test_shared_model_is_freed_with_its_last_predictor(tiny_bert_dir):
    import gc
    import weakref

    a = load_shared(tiny_bert_dir)
    ref = weakref.ref(a.model)
    b = load_shared(tiny_bert_dir)
    del a
    gc.collect()
    assert ref() is not None  # b still holds it
    del b
    gc.collect()
    assert ref() is None


def test_folders_of_symlinks_are_hashed_by_what_they_point_to(tiny_bert_dir, tmp_path):
    """A Hub download is a snapshot folder of symlinks into the cache's blobs: two different models must not share
    a digest (and so a module) because their folders hold only symlinks."""
    other = tmp_path / "other-model"
    shutil.copytree(tiny_bert_dir, other)
    (other / "kdemo.json").write_text('{"maxlen": 16}', encoding="utf-8")
    snapshots = []
    for source in (tiny_bert_dir, other):
        snapshot = tmp_path / "snapshots" / source.name
        snapshot.mkdir(parents=True)
        for path in source.iterdir():
            if path.is_file():
                (snapshot / path.name).symlink_to(path.resolve())
        snapshots.append(snapshot)
    assert folder_digest(snapshots[0]) == folder_digest(tiny_bert_dir)
    assert folder_digest(snapshots[0]) != folder_digest(snapshots[1])
    assert load_shared(snapshots[0]).model is not load_shared(snapshots[1]).model
