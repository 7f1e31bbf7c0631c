"""The Train tab's report in a real headless Chromium (issue 29): a run that learned nothing is said so, with the
constant-guess baseline beside the score (item 2); the top-losses table shows row, true label, prediction and loss
first and a shortened text whose whole appears on a click (item 8); a report says which model and data it belongs
to, and is marked as the earlier data's after a new upload (item 7). A tiny model, so it runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from browser import SHOTS, open_page, requires_chromium, serve_app
from conftest import sentiment_frame

pytestmark = requires_chromium

FILLER = " and the rest of this review goes on about the plot, the actors, the music and the long evening at the cinema"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, one_torch_thread):
    yield from serve_app(tmp_path_factory, "gradio-browser-report")


@pytest.fixture
def page():
    yield from open_page()


def _fill(page, selector: str, value: str) -> None:
    page.locator(selector).fill(value)
    page.locator(selector).press("Tab")


def _upload(page, path) -> None:
    page.get_by_role("tab", name="Data").click()
    clear = page.locator("#train-file button[aria-label='Clear']")
    if clear.count():  # a file is shown: clear the box first, as a user does
        clear.click()
    page.locator("#train-file input[type=file]").set_input_files(str(path))
    page.locator("#data-summary").get_by_text(path.name).first.wait_for(timeout=60_000)


def test_collapsed_run_warning_top_losses_and_stale_report_in_browser(app_url, page, tiny_bert_dir, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    df = sentiment_frame(200)
    df["label"] = np.random.default_rng(1).permutation(df["label"].to_numpy())  # nothing to learn
    df["text"] = df["text"] + FILLER  # long reviews, as a newcomer's
    shuffled = tmp_path / "shuffled_reviews.csv"
    df.to_csv(shuffled, index=False)
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    _upload(page, shuffled)

    page.get_by_role("tab", name="Train").click()
    _fill(page, "#train-model textarea, #train-model input", str(tiny_bert_dir))
    _fill(page, "#batch-size input", "8")
    _fill(page, "#lr input", "0.5")  # a learning rate that wrecks the model: it predicts one class
    page.locator("#epochs input[type=number]").fill("2")
    page.locator("#epochs input[type=number]").press("Enter")
    page.locator("#train-btn").click()
    try:
        page.locator("#train-status").get_by_text("Finished").wait_for(timeout=240_000)
    finally:
        page.screenshot(path=str(SHOTS / "issue29_2_train_last.png"), full_page=True)

    # item 2: the warning, and the baseline beside the score
    report = page.locator("#train-report")
    report.get_by_text("learned nothing").wait_for(timeout=30_000)
    text = report.inner_text()
    assert "Baseline, always" in text and "majority class" in text, text
    assert "for 100% of the validation rows" in text, text
    # the report says what it belongs to (item 7)
    assert f"Validation of {tiny_bert_dir}" in text and shuffled.name in text, text
    report.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "issue29_2_learned_nothing.png"), full_page=False)

    # item 8: row, true, predicted, loss first; a shortened text; the whole text on a click
    table = page.locator("#top-losses")
    table.scroll_into_view_if_needed()
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts() if h.strip()]
    assert headers[:5] == ["row", "true", "predicted", "loss", "text"], headers
    # Gradio 6 draws the rows as a virtual list beside a hidden sizing table: find the visible shortened text
    first_text = table.locator("text=/…\\s*$/ >> visible=true").first
    shown = first_text.inner_text().strip()
    assert shown.endswith("…") and len(shown) <= 120, shown
    first_text.click()
    box = page.locator("#top-loss-text textarea")
    page.wait_for_function("() => document.querySelector('#top-loss-text textarea').value.length > 150", timeout=30_000)
    whole = box.input_value()
    assert shown[:-1] in whole and FILLER.strip() in whole, whole
    page.screenshot(path=str(SHOTS / "issue29_8_top_losses.png"), full_page=False)

    # item 7: a new upload marks the old report as the earlier data's
    other = tmp_path / "other_reviews.csv"
    sentiment_frame(60, seed=3).to_csv(other, index=False)
    _upload(page, other)
    page.get_by_role("tab", name="Train").click()
    report.get_by_text("belongs to earlier data").wait_for(timeout=30_000)
    text = report.inner_text()
    assert shuffled.name in text and other.name in text, text
    report.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "issue29_7_stale_report.png"), full_page=False)
    assert "Traceback" not in page.content()
