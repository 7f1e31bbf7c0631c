"""The Train tab's "all N GPUs" path, with torchrun replaced by a fake subprocess (there is no GPU here).

The fake is a real process started in its own process group: it prints the output torchrun's rank 0 would (noise
and ``--progress-jsonl`` lines), then copies a trained tiny model into ``--out``, or waits for the stop file, or
ignores it, or fails.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import sentiment_frame

from kdemo.cli import main
from kdemo.jobs import FAILED, FINISHED, STOPPED
from kdemo.run import TrainConfig, read_data
from kdemo.run.multi_gpu import write_table
from kdemo.ui import multi_gpu_job as mgj
from kdemo.ui.session import DEVICE_QUEUE, SessionStore
from kdemo.ui.train_job import make_config

FAKE_TORCHRUN = textwrap.dedent('''
    import json, os, shutil, sys, time
    out, stop, model, mode = sys.argv[1:5]
    print("W1201 torch/distributed/run.py: Setting OMP_NUM_THREADS environment variable", flush=True)
    print("device: cuda x 4 ranks (nccl)", flush=True)
    total = 6
    def event(step, phase="train", logs=None):
        e = {"epoch": 0, "epochs": 1, "step": step, "total_steps": total, "loss": 1.0 / step, "lr": 1e-4,
             "elapsed_s": 0.1 * step, "eta_s": 0.1 * (total - step), "phase": phase, "logs": logs}
        print(json.dumps({"kdemo_progress": e}), flush=True)
    if mode == "fail":
        event(1)
        print("Root Cause (first observed failure): rank : 2 (local_rank: 2) exitcode : -9", flush=True)
        sys.exit(1)
    for step in range(1, total + 1):
        if mode in ("wait_stop", "ignore_stop") and step == 3:
            while True:  # a long epoch: report and watch the stop file
                event(step)
                if os.path.exists(stop) and mode == "wait_stop":
                    print("stop file seen: stopping after this batch", flush=True)
                    break
                time.sleep(0.05)
            break
        event(step)
    event(step, "epoch_end", {"val_loss": 0.25, "val_accuracy": 1.0})
    shutil.copytree(model, out)
''')


@pytest.fixture(scope="module")
def trained_folder(tiny_bert_dir, tmp_path_factory, one_torch_thread):
    """A real predictor folder (what rank 0 would write), trained through the CLI on the toy table with the
    validation share of the jobs' config (the job's report is the folder's)."""
    root = tmp_path_factory.mktemp("mgpu")
    data = root / "reviews.csv"
    sentiment_frame(80).to_csv(data, index=False)
    assert main(["train", str(data), "--text-column", "text", "--label-column", "label", "--model", str(tiny_bert_dir),
                 "--batch-size", "16", "--precision", "fp32", "--val-pct", "0.2", "--out", str(root / "model")]) == 0
    (root / "fake_torchrun.py").write_text(FAKE_TORCHRUN)
    return root


class FakeLauncher:
    """Records the torchrun command and starts the fake in its place (with :func:`mgj.start_process`)."""

    def __init__(self, root: Path, mode: str):
        self.root, self.mode, self.commands = root, mode, []

    def __call__(self, cmd: list[str], cwd: Path) -> subprocess.Popen:
        self.commands.append(cmd)
        out, stop = cmd[cmd.index("--out") + 1], cmd[cmd.index("--stop-file") + 1]
        self.process = mgj.start_process(
            [sys.executable, str(self.root / "fake_torchrun.py"), out, stop, str(self.root / "model"), self.mode], cwd)
        return self.process


def _session(tmp_path, tiny_bert_dir, batch_size=16):
    session = SessionStore(root=tmp_path / "sessions")._new("multi-gpu")
    session.data = read_data(TrainConfig(data_name="reviews.csv", text_column="text", label_columns=("label",)),
                             sentiment_frame(80))  # as the Data tab holds an upload
    return session, make_config(session, str(tiny_bert_dir), 32, batch_size, 1e-3, 1, "fp32", 0.2)


def test_the_job_runs_torchrun_on_n_gpus_and_streams_progress_into_the_page(trained_folder, tiny_bert_dir, tmp_path):
    session, cfg = _session(tmp_path, tiny_bert_dir)
    launcher = FakeLauncher(trained_folder, "finish")
    job = DEVICE_QUEUE.submit(mgj.multi_gpu_job(session, cfg, 4, launcher=launcher))
    assert job.wait(120) and job.state == FINISHED, job.error
    cmd = launcher.commands[0]
    folder = session.workdir / "multi_gpu"
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--nproc_per_node=4", "--standalone"]
    assert cmd[5:] == ["-m", "kdemo", "train", "--config", str(folder / "run.json"), "--out",
                       str(session.workdir / "model"), "--progress-jsonl", "--stop-file", str(folder / "stop")]
    # The config fed to torchrun is the run's, with the session's table written beside it.
    sent = TrainConfig.from_json(folder / "run.json")
    assert sent == cfg.replace(train_file=str(folder / "train.parquet"), text_column="text", label_columns=["label"])
    # Progress lines became the job's steps, losses and validation point; noise lines were skipped.
    assert job.step_losses == pytest.approx([1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6])
    assert job.total_steps == 6 and job.val_points == [(6, 0.25)]
    # The finished folder is loaded into the session as after an in-process run.
    assert session.predictor is not None and session.predictor.predict(["the movie was great"])[0] in ("negative", "positive")
    assert job.result["report"].num_rows == 16 and session.report is job.result["report"]  # the folder's, not redone


def test_stop_reaches_the_subprocess_through_the_stop_file(trained_folder, tiny_bert_dir, tmp_path):
    session, cfg = _session(tmp_path, tiny_bert_dir)
    launcher = FakeLauncher(trained_folder, "wait_stop")
    job = DEVICE_QUEUE.submit(mgj.multi_gpu_job(session, cfg, 2, launcher=launcher))
    while len(job.step_losses) < 3:
        assert not job.wait(0.05)
    DEVICE_QUEUE.cancel(job)
    assert job.wait(60) and job.state == STOPPED, job.error
    assert (session.workdir / "multi_gpu" / "stop").exists() and launcher.process.returncode == 0
    assert session.predictor is not None  # stopped runs are still validated, saved and loaded


def test_stop_terminates_a_run_that_does_not_end_by_itself(trained_folder, tiny_bert_dir, tmp_path):
    session, cfg = _session(tmp_path, tiny_bert_dir)
    launcher = FakeLauncher(trained_folder, "ignore_stop")
    job = DEVICE_QUEUE.submit(mgj.multi_gpu_job(session, cfg, 2, launcher=launcher, grace_s=0.5))
    while len(job.step_losses) < 3:
        assert not job.wait(0.05)
    DEVICE_QUEUE.cancel(job)
    assert job.wait(30) and job.state == STOPPED and job.result is None, job.error
    assert launcher.process.returncode == -15  # SIGTERM to the process group
    assert not (session.workdir / "model").exists()


def test_a_failed_run_reports_the_end_of_its_output(trained_folder, tiny_bert_dir, tmp_path):
    session, cfg = _session(tmp_path, tiny_bert_dir)
    job = DEVICE_QUEUE.submit(mgj.multi_gpu_job(session, cfg, 4, launcher=FakeLauncher(trained_folder, "fail")))
    assert job.wait(60) and job.state == FAILED
    assert "exit code 1" in str(job.error) and "rank : 2" in str(job.error)


def test_a_batch_size_that_does_not_split_across_the_gpus_is_refused(trained_folder, tiny_bert_dir, tmp_path):
    session, cfg = _session(tmp_path, tiny_bert_dir, batch_size=18)
    launcher = FakeLauncher(trained_folder, "finish")
    job = DEVICE_QUEUE.submit(mgj.multi_gpu_job(session, cfg, 4, launcher=launcher))
    assert job.wait(30) and job.state == FAILED and not launcher.commands
    assert "divisible by the 4 GPUs" in str(job.error) and "batch size 18" in str(job.error)


def test_the_train_tab_sends_all_gpus_runs_to_torchrun_and_others_in_process(monkeypatch, tiny_bert_dir, tmp_path):
    from kdemo.jobs import Job
    from kdemo.ui import train_tab

    session, _ = _session(tmp_path, tiny_bert_dir)
    monkeypatch.setattr(train_tab.STORE, "get", lambda request: session)
    monkeypatch.setattr(train_tab, "gpu_count", lambda: 4)
    chosen = []
    monkeypatch.setattr(train_tab, "multi_gpu_job", lambda s, c, n: chosen.append(("torchrun", n)) or Job(lambda j: None))
    monkeypatch.setattr(train_tab, "training_job", lambda s, c: chosen.append(("in-process", 1)) or Job(lambda j: None))
    settings = (str(tiny_bert_dir), 32, 16, 1e-3, 1, "fp32", 0.2, False)
    for devices in (mgj.all_gpus_choice(4), mgj.ONE_DEVICE, None):
        train_tab.train(*settings, devices=devices, request=None)
        assert session.job.wait(10)
    assert chosen == [("torchrun", 4), ("in-process", 1), ("in-process", 1)]
    monkeypatch.setattr(mgj.torch.cuda, "is_available", lambda: False)
    assert mgj.gpu_count() == 0  # so a CPU host keeps the tab (and its API) without the device choice


def test_tables_pyarrow_cannot_type_go_to_the_subprocess_as_json_lines(tmp_path):
    import pandas as pd

    from kdemo.data.tables import read_table

    mixed = pd.DataFrame({"text": ["a b", "c d"], "label": [1, "x"]})  # one column, two types
    path = write_table(tmp_path, "train", mixed)
    assert path.suffix == ".jsonl" and read_table(path)["label"].astype(str).tolist() == ["1", "x"]
    assert write_table(tmp_path, "plain", mixed.astype(str)).suffix == ".parquet"


def test_with_several_gpus_the_train_tab_offers_all_of_them(monkeypatch):
    import gradio as gr

    from kdemo.ui import build_app, train_tab

    monkeypatch.setattr(train_tab, "gpu_count", lambda: 4)
    demo = build_app()
    radios = [b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.elem_id == "train-devices"]
    assert len(radios) == 1 and [c[0] for c in radios[0].choices] == ["one device", "all 4 GPUs"]
    assert radios[0].value == "all 4 GPUs"
    train_fn = next(f for f in demo.fns.values() if f.api_name == "train")
    assert radios[0] in train_fn.inputs and len(train_fn.inputs) == 17  # 8, the schedule's 6, devices, doc_stride, quick baseline
    # One GPU or a CPU: no choice, and /train keeps its 8 inputs (and doc_stride, which has a default).
    monkeypatch.setattr(train_tab, "gpu_count", lambda: 1)
    demo = build_app()
    assert not any(getattr(b, "elem_id", None) == "train-devices" for b in demo.blocks.values())
    inputs = next(f for f in demo.fns.values() if f.api_name == "train").inputs
    assert len([i for i in inputs if not isinstance(i, gr.State)]) == 16  # 8, the schedule's 6, doc_stride, quick baseline
