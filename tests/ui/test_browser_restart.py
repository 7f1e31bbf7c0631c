"""Nothing lost when the server is killed (issue 15, acceptance 1), in real headless Chromium.

A server subprocess (``python app.py --data-dir DIR``) trains a tiny model for 3 epochs for one browser session and
is killed with SIGKILL during epoch 2; started again on the same folder, the reloaded page shows the data, a status
saying "interrupted" and a Resume button, which continues the run to its planned end. Killed and started once
more, the page predicts with the trained model, the same probabilities, without training again.
Screenshots: ``tests/.screens/restart_*.png`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from conftest import sentiment_frame

from kdemo.ui import store

pytestmark = [requires_chromium, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCREENS = Path(__file__).resolve().parents[1] / ".screens"
EPOCHS = 3
# 28,800 training rows (10 % held out): 1,800 steps per epoch at batch 16, 4-6 s on one CPU thread with the tiny
# model (with 4,000 rows an epoch took under a second and the kill meant for epoch 2 landed after epoch 3)
ROWS = 32000
NOISE = 0.2  # share of rows whose label is flipped: a clear text then gets about 80 %, not 100 %
STEPS = 1800
TOTAL = EPOCHS * STEPS
#: A clear text and ones without sentiment words (probabilities away from 0 % and 100 %, so a change would show).
TEXTS = ["the movie was great superb fun", "the movie was", "the plot of the story"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py --data-dir DIR`` as a subprocess on a fixed port (one torch thread); killed with SIGKILL."""

    def __init__(self, data_dir: Path, port: int, log_dir: Path):
        self.data_dir, self.port, self.log_dir = data_dir, port, log_dir
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 180.0) -> None:
        self.starts += 1
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
               "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_TEMP_DIR": str(self.log_dir / f"gradio-{self.starts}")}
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "app.py", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                                     cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, (self.log_dir / f"server-{self.starts}.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"the server did not start within {timeout} s")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def _session_folder(data_dir: Path) -> Path:
    folders = [f for f in (data_dir / "sessions").iterdir() if (f / store.SESSION_FILE).is_file()]
    assert len(folders) == 1, folders
    return folders[0]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _checkpoint_epoch(folder: Path) -> int:
    path = folder / store.CHECKPOINT_DIR / "resume" / "state.json"
    try:
        return json.loads(path.read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def _open(page, url: str, tries: int = 3) -> None:
    """Load the app's page again (a reload; the browser keeps its session key), retrying an aborted navigation."""
    for attempt in range(tries):
        try:
            page.goto(url, wait_until="load")
            return
        except Exception:  # noqa: BLE001 - net::ERR_ABORTED while a previous navigation is cancelled
            if attempt == tries - 1:
                raise
            time.sleep(1)


def _predict(page, url: str, text: str) -> str:
    """The Predict tab's probabilities for ``text`` (a fresh page each time, so an earlier result cannot be read)."""
    _open(page, url)
    page.get_by_role("tab", name="Predict").click()
    page.locator("#predict-text textarea").fill(text)
    page.locator("#predict-btn").click()
    label = page.locator("#predict-label")
    label.get_by_text(re.compile("negative|positive")).first.wait_for(timeout=60_000)
    _wait_for(lambda: "%" in label.inner_text(), 30, "the probabilities")
    return label.inner_text()


def _predict_file(page, url: str, texts_csv: Path, folder: Path) -> str:
    """Predict a file of texts in the Predict tab; returns the predictions CSV the server wrote (probabilities with
    6 decimals, so "the same probabilities" is checked closer than the 0-100 % the label shows)."""
    out = folder / "predictions.csv"
    out.unlink(missing_ok=True)
    _open(page, url)
    page.get_by_role("tab", name="Predict").click()
    page.get_by_role("button", name="Predict file").wait_for(timeout=30_000)
    page.locator("input[type=file]").last.set_input_files(str(texts_csv))
    time.sleep(1)  # the upload finishes
    page.get_by_role("button", name="Predict file").click()
    _wait_for(out.is_file, 60, "the predictions file")
    time.sleep(0.5)
    return out.read_text()


def test_sigkill_restart_resume_and_predict(tiny_bert_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(exist_ok=True)
    data_dir, csv = tmp_path / "store", tmp_path / "movies.csv"
    frame = sentiment_frame(ROWS)
    noisy = np.random.default_rng(1).random(ROWS) < NOISE  # flipped labels keep the probabilities off 0 % and 100 %
    frame.loc[noisy, "label"] = frame.loc[noisy, "label"].map({"positive": "negative", "negative": "positive"})
    frame.to_csv(csv, index=False)
    server = Server(data_dir, _free_port(), tmp_path)
    server.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(server.url)
            page.locator("#train-file input[type=file]").set_input_files(str(csv))
            page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
            page.get_by_role("tab", name="Train").click()
            page.locator("#train-model textarea, #train-model input").first.fill(str(tiny_bert_dir))
            page.locator("#batch-size input").fill("16")
            page.locator("#batch-size input").press("Tab")
            page.locator("#epochs input[type=number]").fill(str(EPOCHS))
            page.locator("#epochs input[type=number]").press("Enter")
            page.locator("#lr input").fill("0.0005")
            page.locator("#lr input").press("Tab")
            page.get_by_text("fp32", exact=True).click()
            page.locator("#train-btn").click()

            # SIGKILL during epoch 2: right after the checkpoint of epoch 1 is on disk, once steps of epoch 2 ran
            folder = _wait_for(lambda: (data_dir / "sessions").is_dir() and _session_folder(data_dir), 60, "the session")
            _wait_for(lambda: _checkpoint_epoch(folder) >= 1, 300, "the end of epoch 1")
            time.sleep(1.5)  # some steps of epoch 2
            server.kill()
            killed_at = json.loads((folder / store.JOB_FILE).read_text())
            assert killed_at["state"] == "running", killed_at  # the store's record of a job cut off mid-run
            assert _checkpoint_epoch(folder) == 1  # killed before epoch 2 ended
            page.screenshot(path=str(SCREENS / "restart_1_training_epoch2.png"), full_page=True)  # its last poll

            # restart on the same folder; the reloaded page shows the data and the interrupted run
            server.start()
            _open(page, server.url)
            page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
            assert "movies.csv" in page.locator("#data-summary").inner_text()
            assert "the movie was" in page.locator("body").inner_text()  # the preview table
            page.screenshot(path=str(SCREENS / "restart_2a_data_after_restart.png"), full_page=True)
            page.get_by_role("tab", name="Train").click()
            status = page.locator("#train-status")
            status.get_by_text("interrupted").wait_for(timeout=30_000)
            assert f"step {STEPS}/{TOTAL}" in status.inner_text(), status.inner_text()  # back to the epoch-1 checkpoint
            # the fields show the run that Resume continues, not the defaults
            assert page.locator("#batch-size input").input_value() == "16"
            assert page.locator("#epochs input[type=number]").input_value() == str(EPOCHS)
            assert str(tiny_bert_dir) in page.locator("#train-model textarea, #train-model input").first.input_value()
            resume = page.locator("#resume-btn")
            resume.wait_for(state="visible", timeout=10_000)
            page.screenshot(path=str(SCREENS / "restart_2_interrupted_after_restart.png"), full_page=True)

            # Resume: from the epoch-1 checkpoint to the planned end, the curve continuing
            resume.click()
            status.get_by_text(re.compile(r"Epoch [23]/3, step")).wait_for(timeout=60_000)
            first_step = int(re.search(rf"step (\d+)/{TOTAL}", status.inner_text()).group(1))
            assert first_step > STEPS, status.inner_text()
            status.get_by_text("Finished").wait_for(timeout=600_000)
            assert f"{TOTAL}/{TOTAL}" in status.inner_text(), status.inner_text()
            assert "accuracy" in page.locator("#train-report").inner_text()
            assert not resume.is_visible()
            page.screenshot(path=str(SCREENS / "restart_3_resumed_and_finished.png"), full_page=True)
            before = [_predict(page, server.url, text) for text in TEXTS]
            texts_csv = tmp_path / "texts.csv"
            texts_csv.write_text("text\n" + "\n".join(TEXTS + ["awful boring dull plot", "the"]) + "\n")
            before_file = _predict_file(page, server.url, texts_csv, folder)
            assert "prob_positive" in before_file and len(before_file.splitlines()) == 6, before_file
            job = json.loads((folder / store.JOB_FILE).read_text())
            assert job["state"] == "finished" and len(job["step_losses"]) == TOTAL
            assert not (folder / store.CHECKPOINT_DIR).exists()  # removed once the run completed
            model_mtime = (folder / store.MODEL_DIR / "model.safetensors").stat().st_mtime

            # SIGKILL and restart again: the model predicts the same, nothing is trained again
            server.kill()
            server.start()
            _open(page, server.url)
            page.get_by_role("tab", name="Train").click()
            status.get_by_text("Finished").wait_for(timeout=30_000)
            assert not resume.is_visible()
            after = [_predict(page, server.url, text) for text in TEXTS]
            page.screenshot(path=str(SCREENS / "restart_4a_label_after_second_restart.png"), full_page=True)
            after_file = _predict_file(page, server.url, texts_csv, folder)
            page.screenshot(path=str(SCREENS / "restart_4_predicts_after_second_restart.png"), full_page=True)
            browser.close()
        assert after == before, (before, after)
        assert after_file == before_file, (before_file, after_file)
        assert (folder / store.MODEL_DIR / "model.safetensors").stat().st_mtime == model_mtime
        assert (folder / "train.parquet").is_file() and (folder / store.RESULT_FILE).is_file()
        assert not list(data_dir.rglob("*.pkl"))  # no pickles: tables Parquet, records JSON, models safetensors
        log = (tmp_path / "server-3.log").read_text()
        assert '"event": "started"' not in log  # no job ran in the third server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
