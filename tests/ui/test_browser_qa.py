"""Extractive question answering end to end in a real headless Chromium, with a tiny model so it runs in seconds.

The four bad files first (an answer not at its offset, a missing context, a v2.0 file without answers, a table
without a question column): each shows its message naming the row, and the page stays usable. Then upload SQuAD
JSON and see the QA doctor with the answers highlighted in their contexts; train a tiny BERT; see the answer
highlighted in the Predict tab; draw attention over question and context; zip the model in the Hub tab.
Screenshots go to ``screenshots/`` (git-ignored): ``qa_0_bad_<n>.png``, ``qa_1_data.png``, ``qa_2_train.png``,
``qa_3_predict.png``, ``qa_4_attention.png``, ``qa_5_hub.png``.
"""

from __future__ import annotations

import zipfile

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, requires_chromium, serve_app
from qa_fixtures import write_squad
from test_qa_app import CONTEXT, MAXLEN, QUESTION, STRIDE, WORDS, bad_files
from tiny_models import build_tiny_model

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, one_torch_thread):
    yield from serve_app(tmp_path_factory, "gradio-browser-qa")


@pytest.fixture(scope="module")
def tiny_qa_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qa-browser"), "bert", extra_words=WORDS)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        yield context.new_page()
        browser.close()


def _fill(page, selector: str, value: str) -> None:
    page.locator(selector).fill(value)
    page.locator(selector).press("Tab")


def _close_messages(page) -> None:
    for close in page.locator(".toast-close").all():
        close.click()
    clear = page.locator("#train-file button[aria-label='Clear']")
    if clear.count():
        clear.click()


def test_qa_bad_files_then_upload_doctor_train_predict_attention_hub_in_browser(app_url, page, tiny_qa_dir, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    upload = page.locator("#train-file input[type=file]")
    for n, (path, phrases) in enumerate(bad_files(tmp_path).values(), start=1):
        upload.set_input_files(str(path))
        toast = page.locator(".toast-body").filter(has_text=phrases[-1]).first
        toast.wait_for(timeout=60_000)
        text = toast.inner_text()
        assert all(p in text for p in phrases), text
        page.wait_for_timeout(800)  # the message box fades in
        page.screenshot(path=str(SHOTS / f"qa_0_bad_{n}.png"))
        _close_messages(page)

    upload.set_input_files(str(write_squad(tmp_path / "train.json", n_contexts=30, seed=0)))
    page.locator("#data-summary").get_by_text("questions on").wait_for(timeout=60_000)
    assert "60 questions on 30 contexts" in page.locator("#data-summary").inner_text()
    preview = page.locator("#data-entities")
    preview.get_by_text("who went there?").first.wait_for(timeout=30_000)
    assert "answer" in preview.inner_text()
    assert page.locator("#data-task input[value=question_answering]").is_checked()
    assert "windows" in page.locator("#data-doctor").inner_text()
    page.screenshot(path=str(SHOTS / "qa_1_data.png"), full_page=True)

    page.get_by_role("tab", name="Train").click()
    assert page.locator("#train-doc-stride").is_visible()
    _fill(page, "#train-model textarea, #train-model input", str(tiny_qa_dir))
    _fill(page, "#train-maxlen input", str(MAXLEN))
    _fill(page, "#train-doc-stride input", str(STRIDE))
    _fill(page, "#batch-size input", "8")
    _fill(page, "#lr input", "0.003")
    page.locator("#epochs input[type=number]").fill("2")
    page.locator("#epochs input[type=number]").press("Enter")
    page.locator("#train-btn").click()
    try:
        page.locator("#train-status").get_by_text("Finished").wait_for(timeout=240_000)
    finally:
        page.screenshot(path=str(SHOTS / "qa_2_train_last.png"), full_page=True)
    report = page.locator("#train-report").inner_text()
    assert "exact match" in report and "F1" in report, report
    page.locator("#train-report").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "qa_2_train.png"), full_page=True)

    page.get_by_role("tab", name="Predict").click()
    page.locator("#predict-text").get_by_text("Question", exact=True).wait_for(timeout=30_000)  # named for QA
    page.locator("#predict-text textarea").fill(QUESTION)
    page.locator("#predict-text-pair textarea, #predict-text-pair input").first.fill(CONTEXT)
    page.locator("#predict-btn").click()
    answer = page.locator("#predict-answer")
    answer.get_by_text("answer", exact=True).first.wait_for(timeout=60_000)  # the legend: a span is marked
    page.wait_for_timeout(500)  # the table comes with the same event
    table = page.locator("#predict-answer-table").inner_text()
    assert "score" in table and "start" in table, table
    assert not page.locator("#predict-label").is_visible()  # no class probabilities for a QA model
    page.screenshot(path=str(SHOTS / "qa_3_predict.png"), full_page=True)

    page.get_by_role("tab", name="Attention").click()
    page.locator("#attention-text-pair").wait_for(state="visible", timeout=30_000)
    page.locator("#attention-text textarea, #attention-text input").first.fill(QUESTION)
    page.locator("#attention-text-pair textarea, #attention-text-pair input").first.fill(CONTEXT)
    assert "question→context" in page.locator("#attention-pair-filter").inner_text()
    page.locator("#attention-btn").click()
    page.locator("#attention-tokens").get_by_text("[SEP]").first.wait_for(timeout=60_000)
    page.locator("#attention-head img").first.wait_for(timeout=60_000)
    assert "paris" in page.locator("#attention-tokens").inner_text()
    page.screenshot(path=str(SHOTS / "qa_4_attention.png"), full_page=True)

    page.get_by_role("tab", name="Hub").click()
    page.locator("#hub-repo textarea, #hub-repo input").first.fill("me/tiny-qa")
    page.locator("#hub-export-btn").click()
    page.locator("#hub-card").get_by_text("question-answering").first.wait_for(timeout=60_000)
    link = page.locator("#hub-zip a").first
    link.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "qa_5_hub.png"), full_page=True)
    with page.expect_download(timeout=60_000) as info:
        link.click()
    target = tmp_path / "qa.zip"
    info.value.save_as(target)
    with zipfile.ZipFile(target) as zf:
        assert {"config.json", "model.safetensors", "README.md"} <= set(zf.namelist())
    assert "Traceback" not in page.content()
