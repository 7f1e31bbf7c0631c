"""Two strangers at once, in real headless Chromium (separate browser contexts): each trains on its own data, the
second waits in the queue (its position shown) while the first trains, a reload mid-training shows the job's
progress again, and neither sees the other's data, model, predictions or files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, requires_chromium, serve_app
from conftest import sentiment_frame

from kdemo.ui.session import STORE

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-sessions")


def _spam_frame(n: int) -> pd.DataFrame:
    """A second, unrelated task: ham vs spam with its own words."""
    ham = ["call me when the game ends", "the team and the story", "news of the world market"]
    spam = ["win a free prize now", "free call now win", "prize prize free now"]
    return pd.DataFrame({"message": [(spam if i % 2 else ham)[i % 3] for i in range(n)],
                         "category": ["spam" if i % 2 else "ham" for i in range(n)]})


def _start(page, url: str, csv: Path, model_dir: Path, epochs: int, batch: int) -> None:
    page.goto(url)
    page.locator("#train-file input[type=file]").set_input_files(str(csv))
    page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-model textarea, #train-model input").first.fill(str(model_dir))
    page.locator("#batch-size input").fill(str(batch))
    page.locator("#batch-size input").press("Tab")
    page.locator("#epochs input[type=number]").fill(str(epochs))
    page.locator("#epochs input[type=number]").press("Enter")
    page.locator("#lr input").fill("0.002")
    page.locator("#lr input").press("Tab")
    page.get_by_text("fp32", exact=True).click()  # a tiny model runs faster without bf16 autocast
    page.locator("#train-btn").click()


def _status(page) -> str:
    return page.locator("#train-status").inner_text()


def test_two_sessions_queue_reload_and_isolation(fresh_sessions, app_url, tiny_bert_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    movies, messages = tmp_path / "movies.csv", tmp_path / "messages.csv"
    sentiment_frame(3200).to_csv(movies, index=False)
    _spam_frame(300).to_csv(messages, index=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        a = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        b = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()

        # A starts a long run (4 epochs of 180 batches); B asks while it runs and is told to wait
        _start(a, app_url, movies, tiny_bert_dir, epochs=4, batch=16)
        a.locator("#train-status").get_by_text(re.compile(r"Epoch \d+/4, step")).wait_for(timeout=120_000)
        _start(b, app_url, messages, tiny_bert_dir, epochs=2, batch=8)
        b.locator("#train-status").get_by_text("Waiting for the device").wait_for(timeout=30_000)
        waiting = _status(b)
        assert "1 job ahead of yours (queue position 2)" in waiting, waiting
        b.screenshot(path=str(SHOTS / "sessions_1_second_user_waits.png"), full_page=True)

        # A reloads mid-training: the same job's progress comes back, further along
        step_before = int(re.search(r"step (\d+)/", _status(a)).group(1))
        a.reload()
        a.get_by_role("tab", name="Train").click()
        a.locator("#train-status").get_by_text(re.compile(r"Epoch \d+/4, step")).wait_for(timeout=30_000)
        step_after = int(re.search(r"step (\d+)/", _status(a)).group(1))
        assert step_after >= step_before and "/720" in _status(a), _status(a)
        a.screenshot(path=str(SHOTS / "sessions_2_reloaded_mid_training.png"), full_page=True)
        assert "Waiting for the device" in _status(b)  # B still waits while A trains

        # A finishes (the reloaded page shows the result); then B runs by itself and finishes
        a.locator("#train-status").get_by_text("Finished").wait_for(timeout=300_000)
        assert "accuracy" in a.locator("#train-report").inner_text()
        b.locator("#train-status").get_by_text("Finished").wait_for(timeout=300_000)
        b.screenshot(path=str(SHOTS / "sessions_3_second_user_done.png"), full_page=True)

        # each predicts with its own model and labels
        for page, text, labels in [(a, "the movie was great superb fun", {"negative", "positive"}),
                                   (b, "win a free prize now", {"ham", "spam"})]:
            page.get_by_role("tab", name="Predict").click()
            page.locator("#predict-text textarea").fill(text)
            page.locator("#predict-btn").click()
            page.locator("#predict-label").get_by_text(re.compile("|".join(labels))).first.wait_for(timeout=30_000)
        text_a, text_b = a.locator("body").inner_text(), b.locator("body").inner_text()
        browser.close()

    # neither page ever showed the other's data, labels or predictions
    assert "spam" not in text_a and "prize" not in text_a
    assert "positive" not in text_b and "movie" not in text_b
    # server side: two sessions with their own folders and models
    sessions = [s for s in STORE._sessions.values() if s.predictor is not None and s.data_name in ("movies.csv", "messages.csv")]
    assert sorted(s.data_name for s in sessions) == ["messages.csv", "movies.csv"]
    folders = {s.data_name: s.workdir for s in sessions}
    assert folders["movies.csv"] != folders["messages.csv"]
    assert not folders["movies.csv"].is_relative_to(folders["messages.csv"]) and not folders["messages.csv"].is_relative_to(folders["movies.csv"])
    classes = {name: json.loads((folder / "model" / "kdemo.json").read_text())["class_names"] for name, folder in folders.items()}
    assert classes == {"movies.csv": ["negative", "positive"], "messages.csv": ["ham", "spam"]}
