"""The Data tab as a newcomer meets it, in real headless Chromium (issue 29): a refused upload changes nothing but
shows one message (item 4), the Training-file box names the loaded file after a reload (item 5), and the upload
limit is said before an upload in the file box's units, as Gradio's own refusal says it (item 12).

Screenshots go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import re

import httpx
import pytest
from browser import SHOTS, open_page, requires_chromium
from conftest import sentiment_frame

from kdemo.data.limits import DEFAULT_LIMITS, format_upload_size

pytestmark = requires_chromium

#: Gradio's mark of an output whose event failed (its status tracker's "Error" badge).
ERROR_BADGE = "[data-testid='status-tracker'] span.error"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app launched with its upload limit, as ``python app.py`` launches it."""
    from kdemo.ui import MAX_FILE_SIZE, build_app

    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-data-tab"))
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size=MAX_FILE_SIZE)
    yield url
    demo.close()


@pytest.fixture
def page():
    yield from open_page()


def _wait_file_box(page, name: str) -> None:
    """Wait until the Training-file box lists ``name``."""
    page.wait_for_function("name => document.querySelector('#train-file').innerText.replace(/\\s+/g, '')"
                           ".includes(name)", arg=name, timeout=30_000)


def _file_box(page) -> str:
    """The Training-file box's text without white space (it breaks a name before its suffix)."""
    return re.sub(r"\s+", "", page.locator("#train-file").inner_text())


def test_refused_upload_keeps_the_data_the_outputs_and_the_file_box(app_url, page, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    page.goto(app_url)
    page.get_by_role("button", name=re.compile("Use example data")).click()
    page.locator("#data-summary").get_by_text("example_reviews.csv").wait_for(timeout=60_000)
    summary = page.locator("#data-summary").inner_text()
    page.wait_for_timeout(1500)  # the steps after the load have run

    bad = tmp_path / "one_column.csv"
    bad.write_text("text\nfine film\nawful film\n", encoding="utf-8")
    clear = page.locator("#train-file").get_by_role("button", name="Clear")
    if clear.count():  # the example's file is shown like an upload: a user clears it to choose another
        clear.click()
    page.locator("#train-file input[type=file]").set_input_files(str(bad))
    page.locator(".toast-body").filter(has_text="at least two columns").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the failure step has run
    page.screenshot(path=str(SHOTS / "issue29_refused_upload.png"), full_page=True)

    assert page.locator(".toast-body").count() == 1  # one message
    assert page.locator(ERROR_BADGE).count() == 0, "outputs marked 'Error'"
    assert page.locator("#data-summary").inner_text() == summary  # still the example data
    box = _file_box(page)
    assert "example_reviews.csv" in box and "one_column.csv" not in box
    assert page.locator("#data-text-column input").input_value() == "text"  # the example's columns, kept


def test_reload_shows_the_loaded_file_name(app_url, page, tmp_path):
    csv = tmp_path / "my_reviews.csv"
    sentiment_frame(60).to_csv(csv, index=False)
    page.goto(app_url)
    page.locator("#train-file input[type=file]").set_input_files(str(csv))
    try:
        page.locator("#data-summary").get_by_text("my_reviews.csv").wait_for(timeout=60_000)
    finally:
        page.screenshot(path=str(SHOTS / "issue29_upload.png"), full_page=True)

    page.reload()
    try:
        page.locator("#data-summary").get_by_text("my_reviews.csv").wait_for(timeout=60_000)  # the data is back
    finally:
        page.screenshot(path=str(SHOTS / "issue29_reload_file_name.png"), full_page=True)
    _wait_file_box(page, "my_reviews.csv")
    page.screenshot(path=str(SHOTS / "issue29_reload_file_name.png"), full_page=True)


def test_upload_limit_is_said_before_and_in_the_refusal_in_the_file_box_units(app_url, page, tmp_path):
    limit = DEFAULT_LIMITS.max_upload_bytes
    said = format_upload_size(limit)
    assert said == "50.0 MB"
    assert format_upload_size(50_000_304) == "47.7 MB"  # what the file box lists for such a file (issue 29)
    page.goto(app_url)
    intro = page.locator("#data-intro").inner_text()
    assert said in intro and f"{limit:,} bytes" in intro  # before any upload

    big = tmp_path / "big.csv"
    with big.open("wb") as fh:  # sparse: one byte over the limit
        fh.truncate(limit + 1)
    page.locator("#train-file input[type=file]").set_input_files(str(big))
    toast = page.locator(".toast-body").filter(has_text="maximum allowed size").first
    toast.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "issue29_upload_limit.png"), full_page=True)
    gradio_says = re.search(r"size of ([\d.]+) (\w+)", toast.inner_text())
    assert gradio_says and f"{gradio_says[1]} {gradio_says[2].upper()}" == said  # 50.0 Mb: the same number and unit

    # an API upload just over the limit is refused by the server with the limit in bytes, as the text says it
    response = httpx.post(f"{app_url.rstrip('/')}/gradio_api/upload", files={"files": ("big.csv", b"x" * (limit + 1))},
                          timeout=60)
    assert response.status_code >= 400 and str(limit) in response.text


def _varied_lengths(path) -> list[str]:
    """A table whose texts run from 1 to 80 words, so that every maxlen cuts a different number of them."""
    import pandas as pd

    words = ["good", "film", "bad", "plot", "great", "acting", "dull", "story"]
    texts = [" ".join(words[(i + j) % len(words)] for j in range(1 + i)) for i in range(80)]
    pd.DataFrame({"text": texts, "label": ["positive" if i % 2 else "negative" for i in range(80)]}).to_csv(
        path, index=False)
    return texts


def _number(page, elem_id: str) -> int:
    return int(float(page.locator(f"#{elem_id} input").input_value()))


def test_use_these_settings_and_the_truncation_count_follow_the_chosen_maxlen(app_url, page, tmp_path):
    from kdemo.data.lengths import count_longer
    from kdemo.ui.views.common import default_tokenizer

    csv = tmp_path / "long_and_short.csv"
    texts = _varied_lengths(csv)
    tokenizer = default_tokenizer()
    page.goto(app_url)
    page.locator("#train-file input[type=file]").set_input_files(str(csv))
    page.locator("#data-summary").get_by_text("long_and_short.csv").wait_for(timeout=60_000)
    doctor = page.locator("#data-doctor").inner_text()
    maxlen = int(re.search(r"suggested maxlen (\d+)", doctor)[1])
    batch = int(re.search(r"Suggested batch size: (\d+)", doctor)[1])

    page.locator("#use-settings").click()
    cut = count_longer(texts, tokenizer, maxlen)[0]
    assert cut > 0  # the suggestion covers 95 %: some texts are longer
    note = page.locator("#data-settings-note")
    note.get_by_text(f"{cut} of 80 training texts").wait_for(timeout=60_000)
    assert f"maxlen {maxlen}" in note.inner_text()
    page.screenshot(path=str(SHOTS / "issue29_use_settings_data.png"), full_page=True)

    page.get_by_role("tab", name="Train").click()
    page.locator("#maxlen-note").get_by_text(f"{cut} of 80 training texts").wait_for(timeout=60_000)
    assert _number(page, "train-maxlen") == maxlen and _number(page, "batch-size") == batch
    page.screenshot(path=str(SHOTS / "issue29_use_settings_train.png"), full_page=True)

    shorter = count_longer(texts, tokenizer, 16)[0]
    assert shorter > cut
    page.locator("#train-maxlen input").fill("16")
    page.locator("#train-maxlen input").press("Tab")
    page.locator("#maxlen-note").get_by_text(f"{shorter} of 80 training texts").wait_for(timeout=60_000)
    assert "maxlen 16" in page.locator("#maxlen-note").inner_text()
    page.screenshot(path=str(SHOTS / "issue29_maxlen_16_train.png"), full_page=True)
