"""The device job queue (order, positions, Stop, failures, structured logs) and the session store (reconnect,
expiry, disk cap)."""

from __future__ import annotations

import json
import logging
import threading
import time
from types import SimpleNamespace

import pytest

from kdemo.errors import KdemoError
from kdemo.jobs import CANCELLED, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, Job, JobQueue, owner_digest
from kdemo.run.table_pipeline import TableRunData
from kdemo.tasks import SINGLE_LABEL, SPECS
from kdemo.ui.session import SessionLimits, SessionStore


def _blocking_job(release: threading.Event, started: list, name: str) -> Job:
    def run(job: Job):
        started.append(name)
        while not release.is_set() and not job.stop_event.is_set():
            time.sleep(0.01)
        return name

    return Job(run, owner=owner_digest(name))


def test_one_job_at_a_time_in_order_with_positions():
    queue, release, started = JobQueue("t"), threading.Event(), []
    a, b, c = (_blocking_job(release, started, n) for n in "abc")
    for job in (a, b, c):
        queue.submit(job)
    deadline = time.time() + 5
    while a.state != RUNNING:
        assert time.time() < deadline
        time.sleep(0.01)
    assert (queue.position(a), queue.position(b), queue.position(c)) == (0, 1, 2)
    assert (b.state, c.state, len(queue)) == (QUEUED, QUEUED, 3)
    release.set()
    assert c.wait(5) and started == ["a", "b", "c"]
    assert [j.state for j in (a, b, c)] == [FINISHED] * 3 and c.result == "c"
    assert a.ended_at <= b.started_at and b.ended_at <= c.started_at  # never two at once


def test_stop_cancels_a_queued_job_and_stops_a_running_one():
    queue, release, started = JobQueue("t"), threading.Event(), []
    a, b = _blocking_job(release, started, "a"), _blocking_job(release, started, "b")
    queue.submit(a)
    queue.submit(b)
    while a.state != RUNNING:
        time.sleep(0.01)
    assert queue.cancel(b) and b.state == CANCELLED and b.done_event.is_set()
    assert queue.cancel(a) and a.wait(5) and a.state == STOPPED
    assert started == ["a"] and not queue.cancel(a)  # b never ran; an ended job cannot be stopped


def test_a_job_asked_to_stop_while_queued_never_starts():
    queue, release, started = JobQueue("t"), threading.Event(), []
    a, b = _blocking_job(release, started, "a"), _blocking_job(release, started, "b")
    queue.submit(a)
    queue.submit(b)
    b.request_stop()  # e.g. its session expired while it waited
    release.set()
    assert b.wait(5) and b.state == CANCELLED and started == ["a"]


def test_a_failing_job_keeps_its_error_and_the_queue_goes_on():
    queue = JobQueue("t")

    def boom(job):
        raise KdemoError("Expected a label column. Received: none.")

    bad, good = Job(boom), Job(lambda job: 42)
    queue.submit(bad)
    queue.submit(good)
    assert good.wait(5)
    assert bad.state == FAILED and "label column" in str(bad.error)
    assert good.state == FINISHED and good.result == 42


def test_job_events_are_one_json_line_each_without_secrets(caplog):
    secret_key = "s3cr3t-session-key-" + "x" * 24
    caplog.set_level(logging.INFO, logger="kdemo.jobs")
    queue = JobQueue("t")
    job = queue.submit(Job(lambda job: job.step_losses.extend([0.7, 0.5]), owner=owner_digest(secret_key)))
    assert job.wait(5)
    time.sleep(0.05)  # the "finished" line is written just after the job is marked done
    lines = [r.getMessage() for r in caplog.records if r.name == "kdemo.jobs"]
    events = [json.loads(line) for line in lines]  # every line parses as one JSON object
    assert [e["event"] for e in events] == ["queued", "started", "finished"]
    assert all(e["job"] == job.id and e["owner"] == owner_digest(secret_key) and "ts" in e for e in events)
    assert events[0]["ahead"] == 0 and events[-1]["steps"] == 2 and events[-1]["elapsed_s"] >= 0
    assert secret_key not in "\n".join(lines) and len(events[0]["owner"]) == 8


def _request(page: str):
    return SimpleNamespace(session_hash=page)


def test_a_reloaded_page_finds_its_session_and_unknown_keys_are_not_adopted(tmp_path):
    store = SessionStore(root=tmp_path)
    key = store.attach(_request("page-1"), None)
    session = store.get(_request("page-1"))
    session.data = TableRunData(spec=SPECS[SINGLE_LABEL], data_name="mine.csv")
    store.detach(_request("page-1"))  # reload: the old page closes ...
    assert store.attach(_request("page-2"), key) == key  # ... and the new one presents the key
    assert store.get(_request("page-2")) is session and session.pages == {"page-2"}
    forged = "A" * 43  # well-formed but never issued
    other = store.attach(_request("page-3"), forged)
    assert other != forged and store.get(_request("page-3")) is not session
    assert store.attach(_request("page-4"), "../../etc") not in ("../../etc", key)
    assert store.get(_request("page-3")).workdir != session.workdir


def test_sessions_expire_after_the_grace_period_unless_a_job_runs(tmp_path):
    limits = SessionLimits(reconnect_grace_s=10, idle_timeout_s=100, sweep_every_s=1)
    store = SessionStore(limits, root=tmp_path)
    store.attach(_request("closed"), None)
    closed = store.get(_request("closed"))
    store.attach(_request("busy"), None)
    busy = store.get(_request("busy"))
    busy.job = Job(lambda job: None)  # queued: counts as busy
    store.attach(_request("open"), None)
    open_ = store.get(_request("open"))
    store.detach(_request("closed"))
    store.detach(_request("busy"))
    now = time.time()
    assert store.sweep(now + 5, force=True) == 0  # within the grace period a reload would find them
    assert store.sweep(now + 20, force=True) == 1 and not closed.workdir.exists()
    assert busy.workdir.exists() and open_.workdir.exists()  # a queued job and an open page keep theirs
    assert store.sweep(now + 200, force=True) == 1 and not open_.workdir.exists()  # idle too long, page or not
    assert busy.workdir.exists()
    busy.job.state = FINISHED
    busy.job.ended_at = now
    assert store.sweep(now + 200, force=True) == 1 and not busy.workdir.exists()
    assert len(store) == 0


def test_disk_cap_refuses_more_files_with_a_clear_message(tmp_path):
    store = SessionStore(SessionLimits(max_disk_bytes=1000), root=tmp_path)
    session = store.get(_request("p"))
    session.require_disk_room(store.limits.max_disk_bytes)  # empty: fine
    (session.workdir / "model.bin").write_bytes(b"x" * 1500)
    with pytest.raises(KdemoError, match=r"stay under 1,000 bytes\. Received: 1.5 KiB already .*Reload the page"):
        session.require_disk_room(store.limits.max_disk_bytes)


def test_session_limits_are_validated():
    with pytest.raises(ValueError, match="reconnect_grace_s > 0"):
        SessionLimits(reconnect_grace_s=0)
    with pytest.raises(ValueError, match="reconnect_grace_s <= idle_timeout_s"):
        SessionLimits(reconnect_grace_s=100, idle_timeout_s=10)


def test_status_line_of_a_queued_job_says_where_it_stands():
    from kdemo.ui.train_job import status_line

    job = Job(lambda job: None)
    assert status_line(job, 0) == "⏳ Starting…"  # next in line, before the worker has picked it up
    assert "1 job ahead of yours (queue position 2)" in status_line(job, 1)
    assert "3 jobs ahead of yours (queue position 4)" in status_line(job, 3)
