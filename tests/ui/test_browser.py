"""End to end in a real headless Chromium: upload real data, train the default model, predict, show attention.

Screenshots are written to ``screenshots/`` at the repo root (git-ignored) for people to look at.
Needs Debian's ``chromium`` (``apt-get install -y chromium``); ``.ci/run`` installs it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from browser import REPO, SHOTS, open_page, requires_chromium, serve_app

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser")


@pytest.fixture
def page():
    yield from open_page()


def _training_csv(tmp_path: Path) -> Path:
    """600 rows of SST-2 when ../shared/data is beside the repo, else the example CSV from assets/."""
    sst2 = REPO.parent / "shared" / "data" / "sst2" / "train.csv"
    if not sst2.exists():
        return REPO / "assets" / "example_reviews.csv"
    df = pd.read_csv(sst2).sample(n=600, random_state=0)
    path = tmp_path / "sst2_slice.csv"
    df.to_csv(path, index=False)
    return path


def test_upload_train_predict_attention_in_browser(app_url, page, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)

    page.locator("#train-file input[type=file]").set_input_files(str(_training_csv(tmp_path)))
    page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
    summary = page.locator("#data-summary").inner_text()
    assert "text column" in summary and "2 classes" in summary
    page.screenshot(path=str(SHOTS / "1_data.png"), full_page=True)

    page.get_by_role("tab", name="Train").click()
    page.locator("#epochs input[type=number]").fill("3")
    page.locator("#epochs input[type=number]").press("Enter")
    page.locator("#lr input").fill("0.0002")
    page.locator("#lr input").press("Tab")
    page.locator("#train-btn").click()
    try:
        page.locator("#train-status").get_by_text("Finished").wait_for(timeout=300_000)
    finally:
        page.screenshot(path=str(SHOTS / "2_train_last.png"), full_page=True)
    report = page.locator("#train-report").inner_text()
    accuracy = float(report.split("accuracy")[1].split()[0].rstrip(","))
    assert accuracy >= 0.7, report  # 540 SST-2 rows x 3 epochs learns the task (chance is 0.5)
    page.locator("#train-report").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "2_train.png"), full_page=True)

    page.get_by_role("tab", name="Predict").click()
    page.locator("#predict-text textarea").fill("a gorgeous, witty, moving film")
    page.locator("#predict-btn").click()
    label = page.locator("#predict-label")
    label.get_by_text("positive").first.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "3_predict.png"), full_page=True)

    page.get_by_role("tab", name="Attention").click()
    page.locator("#attention-btn").click()
    page.locator("#attention-tokens").get_by_text("[CLS]").wait_for(timeout=60_000)
    page.locator("#attention-head img").first.wait_for(timeout=60_000)  # the figure (its label icon is hidden)
    assert page.locator("#attention-grid img, #attention-grid svg, #attention-grid canvas").count() >= 1
    page.screenshot(path=str(SHOTS / "4_attention.png"), full_page=True)
    assert "Traceback" not in page.content()
