"""The background checkpoint writer: writes in order off the calling thread, skips optional writes while busy,
waits for required ones, hands write errors back, and readers of a folder wait for its writes."""

from __future__ import annotations

import threading

import pytest

from kdemo.training.checkpoint_writer import CheckpointWriter, host_copy, wait_for_writes


def test_writes_run_on_another_thread_in_order_and_close_waits(tmp_path):
    writer = CheckpointWriter(tmp_path)
    release = threading.Event()
    done, threads = [], []

    def slow(i):
        def write():
            release.wait(5)
            threads.append(threading.current_thread().name)
            done.append(i)
        return write

    assert writer.submit(slow(1))
    assert writer.busy
    assert not writer.submit(slow(99), required=False)  # optional write while one is in flight: skipped
    assert writer.skipped == 1 and done == []  # the training thread did not wait for the write
    release.set()
    assert writer.submit(slow(2))  # required: queued behind the first
    writer.close()
    assert done == [1, 2] and writer.written == 2 and not writer.busy
    assert threads == ["kdemo-checkpoint-writer"] * 2


def test_a_write_error_is_raised_on_the_training_thread(tmp_path):
    writer = CheckpointWriter(tmp_path)

    def broken():
        raise OSError("disk full")

    writer.submit(broken)
    with pytest.raises(OSError, match="disk full"):
        writer.close()


def test_readers_wait_for_the_writes_into_their_folder(tmp_path):
    writer = CheckpointWriter(tmp_path)
    release, finished = threading.Event(), []
    writer.submit(lambda: (release.wait(5), finished.append(True)))
    threading.Timer(0.2, release.set).start()
    wait_for_writes(tmp_path)
    assert finished == [True]
    writer.close()


def test_blocking_mode_writes_on_the_calling_thread(tmp_path):
    writer = CheckpointWriter(tmp_path, blocking=True)
    names = []
    writer.submit(lambda: names.append(threading.current_thread().name))
    assert names == [threading.current_thread().name] and writer.written == 1


def test_host_copy_is_a_snapshot():
    import torch

    t = torch.ones(3)
    snap = host_copy({"w": t})
    t.add_(1)
    assert snap["w"].tolist() == [1.0, 1.0, 1.0]
