"""Crash safety: ``kill -9`` during a save leaves the old artifact or the new one, never a broken one.

A helper process (the "zygote") imports kdemo once and loads predictor B; for each trial it forks a child that saves
B over the destination (which holds A) in a loop, and the test kills that child with SIGKILL after a random delay.
The child slows its own save down with test-only monkeypatches (sleeps after the model is written, before the swap,
after the swap), and appends a mark at each phase to a status file, so the test knows where each kill landed.
After each kill the destination must load with :func:`kdemo.load_predictor` and with ``transformers.pipeline`` and be
exactly A or exactly B (class names, meta, probabilities). The same runs with the rename exchange disabled (the
three-rename fallback), including a kill between its two renames of the destination, which loading repairs.
"""

from __future__ import annotations

import errno
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import transformers
from tiny_models import build_tiny_model

from kdemo import ModelError, Predictor, atomic, load_predictor
from kdemo.modeling.classifier import load_sequence_classifier, load_tokenizer

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill test forks (POSIX only)"),
]

REPO = Path(__file__).resolve().parent.parent
TEXTS = ["the movie was great superb fun", "awful boring dull plot", "sports news market price"]
PAUSE = 0.02  # seconds the child sleeps at each phase of its save (widens the phases the kills land in)

CHILD = textwrap.dedent('''
    """Zygote for tests/test_crash_safety.py: load predictor B once, fork one saving child per trial."""
    import os, signal, sys, threading, time
    os.environ["KERAS_BACKEND"] = "torch"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    import errno, torch, tqdm
    torch.set_num_threads(1)
    # no threads at fork time: tqdm's monitor thread (started by the first progress bar, e.g. "Loading weights")
    # may hold tqdm's lock when the zygote forks, and the child's next bar ("Writing model shards") would wait on
    # it forever (a rare hang of this test's helper)
    tqdm.tqdm.monitor_interval = 0
    import transformers
    transformers.utils.logging.disable_progress_bar()
    from kdemo import atomic
    from kdemo.inference.predictor import load_predictor

    predictor = load_predictor(sys.argv[2])
    PAUSE = float(sys.argv[3])

    def run(mode, dest, status):
        fd = os.open(status, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        mark = lambda text: os.write(fd, text.encode() + b"\\n")  # one syscall: a kill never splits it

        def unsupported(a, b):
            raise OSError(errno.EINVAL, "exchange disabled by the test")

        real_exchange, real_rename, real_fsync = atomic.exchange, atomic._rename, atomic.fsync_tree
        real_save = predictor.model.save_pretrained

        def exchange(a, b):
            real_exchange(a, b)
            mark("swapped")
            time.sleep(PAUSE)

        def rename(src, dst):
            real_rename(src, dst)
            if ".old-" in Path(dst).name:  # the destination is missing now, until the next rename
                mark("gap")
                if mode == "fallback-gap":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(PAUSE)
            elif not Path(dst).name.startswith("."):
                mark("swapped")
                time.sleep(PAUSE)

        def fsync_tree(folder):
            mark("written")
            time.sleep(PAUSE)
            real_fsync(folder)

        def save_pretrained(*args, **kwargs):
            real_save(*args, **kwargs)
            mark("model")  # weights written, tokenizer and kdemo.json not yet
            time.sleep(PAUSE)

        atomic.exchange = exchange if mode == "exchange" else unsupported
        atomic._rename, atomic.fsync_tree = rename, fsync_tree
        predictor.model.save_pretrained = save_pretrained
        while True:
            mark("start")
            predictor.save(dest)
            mark("done")

    print("ready", flush=True)
    for line in iter(sys.stdin.readline, ""):
        mode, dest, status = line.split()
        assert threading.active_count() == 1, threading.enumerate()  # forking a threaded process can deadlock
        pid = os.fork()
        if pid == 0:
            try:
                run(mode, dest, status)
            finally:
                os._exit(3)
        print(pid, flush=True)
        os.waitpid(pid, 0)  # reaped: a zombie would still count as a running writer
        print("reaped", flush=True)
''')


def _readline(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """One line from the zygote's stdout, or fail after ``timeout`` seconds."""
    out = b""
    deadline = time.monotonic() + timeout
    while not out.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            pytest.fail(f"the crash-test helper did not answer within {timeout:.0f} s (got {out!r})")
        byte = proc.stdout.read(1)
        if not byte:
            pytest.fail(f"the crash-test helper exited (code {proc.poll()}) after {out!r}")
        out += byte
    return out.decode().strip()


def _tiny_predictor(folder: Path, names: list[str], version: str) -> Predictor:
    return Predictor(load_sequence_classifier(str(folder)), load_tokenizer(str(folder)), names, 32,
                     meta={"version": version})


@pytest.fixture(scope="module")
def versions(tiny_bert_dir, tmp_path_factory):
    """Predictors A and B (other weights, other class names), B saved as the zygote's source, expected outputs."""
    root = tmp_path_factory.mktemp("versions")
    a = _tiny_predictor(tiny_bert_dir, ["negative", "positive"], "A")
    b = _tiny_predictor(build_tiny_model(root / "b-init", seed=1), ["alpha", "beta"], "B")
    b.save(root / "b")
    expected = {p.meta["version"]: SimpleNamespace(names=p.get_classes(), probs=p.predict_proba(TEXTS)) for p in (a, b)}
    assert not np.allclose(expected["A"].probs, expected["B"].probs, atol=1e-3)
    return SimpleNamespace(a=a, b_folder=root / "b", expected=expected)


@pytest.fixture(scope="module")
def zygote(versions, tmp_path_factory):
    root = tmp_path_factory.mktemp("zygote")
    script = root / "crash_child.py"
    script.write_text(CHILD)
    log = (root / "stderr.txt").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(REPO), str(versions.b_folder), str(PAUSE)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0,
    )
    try:
        assert _readline(proc, timeout=120) == "ready", (root / "stderr.txt").read_text()
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _kill_during_saves(zygote, dest: Path, status: Path, mode: str, delay: float | None) -> list[str]:
    """Start a child saving B over ``dest`` in a loop, SIGKILL it ``delay`` s after its first save began.

    With ``delay`` None the child is left to kill itself (mode ``fallback-gap``).

    Returns:
        The phase marks the child wrote, in order (the last one says where the kill landed).
    """
    status.unlink(missing_ok=True)
    zygote.stdin.write(f"{mode} {dest} {status}\n".encode())
    pid = int(_readline(zygote))
    deadline = time.monotonic() + 30
    while not (status.exists() and status.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.002)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    assert _readline(zygote) == "reaped"
    return status.read_text().split()


def _check_is_a_or_b(dest: Path, versions) -> str:
    """``dest`` loads with kdemo and with transformers.pipeline as exactly A or exactly B; returns which."""
    loaded = load_predictor(dest)
    version = loaded.meta.get("version")
    assert version in ("A", "B"), loaded.meta
    want = versions.expected[version]
    assert loaded.get_classes() == want.names
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), want.probs, atol=1e-5)
    pipe = transformers.pipeline("text-classification", model=str(dest), top_k=None)
    for out, row in zip(pipe(TEXTS), want.probs):
        scores = {d["label"]: d["score"] for d in out}
        assert set(scores) == set(want.names)
        np.testing.assert_allclose([scores[n] for n in want.names], row, atol=1e-5)
    return version


def test_kill_9_during_save_leaves_the_old_or_the_new_predictor(versions, zygote, tmp_path):
    dest = (tmp_path / "out" / "model").resolve()
    status = tmp_path / "status.txt"
    rng = random.Random(7)
    trials = [("exchange", d) for d in [0.0, 0.01, 0.03] + [rng.uniform(0.0, 0.4) for _ in range(9)]]
    trials += [("fallback", d) for d in [0.0, 0.03] + [rng.uniform(0.0, 0.4) for _ in range(6)]]
    landed = {"mid_save": 0, "in_gap": 0}
    outcomes = []
    for mode, delay in trials:
        versions.a.save(dest)  # back to A; also deletes the siblings the last killed child left
        assert sorted(p.name for p in dest.parent.iterdir()) == ["model"]
        marks = _kill_during_saves(zygote, dest, status, mode, delay)
        landed["mid_save"] += marks[-1] != "done"
        landed["in_gap"] += not dest.exists()  # killed between the fallback's renames: loading repairs it
        version = _check_is_a_or_b(dest, versions)
        outcomes.append(f"{mode}:{marks[-1]}->{version}")
        if "swapped" in marks:
            assert version == "B", (mode, marks)  # a swap that completed is never undone
        elif marks[-1] in ("start", "model"):
            assert version == "A", (mode, marks)  # nothing was swapped yet
    print(f"\n{len(trials)} kills, {landed['mid_save']} mid-save, {landed['in_gap']} between the fallback's renames:",
          ", ".join(outcomes))
    assert landed["mid_save"] >= 10, outcomes
    versions.a.save(dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model"]


def test_kill_between_the_fallback_renames_is_repaired_on_load(versions, zygote, tmp_path):
    dest = (tmp_path / "model").resolve()
    for keep in ("new", "old"):
        versions.a.save(dest)
        marks = _kill_during_saves(zygote, dest, tmp_path / "status.txt", "fallback-gap", None)
        assert marks[-1] == "gap"
        assert not dest.exists()
        left = sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p.name.startswith(".model."))
        assert left == [".model.new", ".model.old"]
        if keep == "old":  # only the previous folder left: it comes back
            shutil.rmtree(next(tmp_path.glob(".model.new-*")))
        assert _check_is_a_or_b(dest, versions) == ("B" if keep == "new" else "A")
        assert dest.is_dir()
    versions.a.save(dest)  # the next save cleans up what the killed one left
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "status.txt") == ["model"]


# ------------------------------------------------------------------------------------------ in-process failures
def test_failed_save_keeps_the_previous_folder(versions, tmp_path, monkeypatch):
    dest = versions.a.save(tmp_path / "model")
    b = load_predictor(versions.b_folder)

    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(b.tokenizer, "save_pretrained", broken)
    with pytest.raises(OSError, match="No space"):
        b.save(dest)
    assert _check_is_a_or_b(dest, versions) == "A"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_fallback_swap_and_an_error_between_its_renames(versions, tmp_path, monkeypatch):
    def unsupported(a, b):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(atomic, "exchange", unsupported)
    dest = versions.a.save(tmp_path / "model")
    b = load_predictor(versions.b_folder)
    assert b.save(dest) == dest and _check_is_a_or_b(dest, versions) == "B"
    versions.a.save(dest)
    real_rename = atomic._rename

    def interrupted(src, dst):
        real_rename(src, dst)
        if ".old-" in Path(dst).name:
            raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "_rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        b.save(dest)
    assert _check_is_a_or_b(dest, versions) == "A"  # the interrupted save put the previous folder back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_stale_siblings_of_dead_writers_are_removed_and_live_ones_kept(versions, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [tmp_path / f".model.tmp-{dead.pid}-0badc0de", tmp_path / f".model.old-{dead.pid}"]
    live = tmp_path / f".model.tmp-{os.getppid()}-12345678"
    unrelated = tmp_path / ".model.backup"
    for folder in [*stale, live, unrelated]:
        folder.mkdir()
        (folder / "config.json").write_text("{")
    versions.a.save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".model.backup", live.name, "model"])


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:500])),
        ("model.safetensors", lambda p: p.unlink()),
        ("kdemo.json", lambda p: p.write_text('{"class_names": ["neg')),
        ("config.json", lambda p: p.write_text('{"architectures": [')),
        ("tokenizer.json", lambda p: p.write_text(p.read_text()[:300])),
    ],
    ids=["truncated-weights", "no-weights", "truncated-kdemo-json", "truncated-config", "truncated-tokenizer"],
)
def test_damaged_folder_raises_model_error(versions, tmp_path, name, damage):
    dest = versions.a.save(tmp_path / "model")
    damage(dest / name)
    with pytest.raises(ModelError, match="model"):
        load_predictor(dest)


def test_single_file_writers_are_atomic(versions, tmp_path, monkeypatch):
    from kdemo.hub.push import export_zip
    from kdemo.inference.predictions_csv import write_csv

    path = write_csv(pd.DataFrame({"text": ["=1+1", "ok"]}), tmp_path / "out.csv")
    before = path.read_bytes()

    def half_then_fail(self, target, **kwargs):
        Path(target).write_text("text\nhalf")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_csv(pd.DataFrame({"text": ["new"]}), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and "'=1+1" in before.decode()
    folder = versions.a.save(tmp_path / "model")
    zipped = export_zip(folder, tmp_path / "model.zip")
    assert zipped == tmp_path / "model.zip" and zipped.stat().st_size > 0
    atomic.write_text(folder / "kdemo.json", json.dumps({**json.loads((folder / "kdemo.json").read_text()), "x": 1}))
    assert load_predictor(folder).meta["x"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.zip", "out.csv"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_checkpoint_callback_writes_complete_folders(versions, tmp_path):
    from kdemo.training.callbacks.checkpoint import PretrainedCheckpoint

    callback = PretrainedCheckpoint(tmp_path / "ckpt")
    callback.set_model(SimpleNamespace(hf_model=versions.a.model))
    callback.on_epoch_end(0)
    callback.on_epoch_end(0)  # replaced as a whole
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch-1"]
    assert {"config.json", "model.safetensors"} <= {p.name for p in (tmp_path / "ckpt" / "epoch-1").iterdir()}
