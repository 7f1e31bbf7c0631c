"""The Hub tab in a real headless Chromium, against the local Hub server: push, error messages, zip, rendered card.

A tiny random-init BERT is fine-tuned on a slice of SST-2 (``../shared/data/sst2``, else the example CSV) through
the Train tab, pushed through the Hub tab, and the files that arrive are loaded with ``transformers.pipeline`` and
compared with the session's predictor. Then a bad token (401), a read-only token (403) and no network each show
their message while the zip still downloads. Screenshots go to ``screenshots/`` (git-ignored): ``hub_1_pushed.png``,
``hub_2_error_401.png``, ``hub_3_error_403.png``, ``hub_4_offline.png`` and ``hub_5_card.png`` (the pushed README
rendered to HTML with its images).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, REPO, SHOTS, requires_chromium, serve_app
from hub_server import CLOSED_PORT, READ_TOKEN, WRITE_TOKEN, running_hub
from markdown_it import MarkdownIt
from transformers import pipeline

from kdemo.ui.session import STORE

CARD_CSS = """
body { font: 15px/1.5 -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 900px; margin: 24px auto;
       color: #1f2328; }
table { border-collapse: collapse; margin: 8px 0 16px; } th, td { border: 1px solid #d0d7de; padding: 4px 10px; }
th { background: #f6f8fa; } pre { background: #f6f8fa; padding: 12px; overflow: auto; } img { max-width: 100%; }
.meta { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 16px; background: #fbfbfc; font-size: 13px; }
"""

pytestmark = requires_chromium


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    yield from running_hub(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-hub")


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        yield context.new_page()
        browser.close()


def _sst2_slice(tmp_path: Path, n: int = 300) -> tuple[Path, list[str]]:
    sst2 = REPO.parent / "shared" / "data" / "sst2" / "train.csv"
    if sst2.exists():
        df = pd.read_csv(sst2).sample(n=n, random_state=0)
    else:
        df = pd.read_csv(REPO / "assets" / "example_reviews.csv")
    path = tmp_path / "sst2_slice.csv"
    df.to_csv(path, index=False)
    return path, df.iloc[:3, 0].astype(str).tolist()


def _expect_error(page, pattern: str, shot: str) -> str:
    """Wait for the error box holding ``pattern`` and for the status line repeating it; screenshot; close the box.

    Returns:
        The error box's text.
    """
    box = page.locator(".toast-body").filter(has_text=re.compile(pattern)).first
    box.wait_for(timeout=60_000)
    text = box.inner_text()
    page.locator("#hub-status").filter(has_text=re.compile(pattern)).wait_for(timeout=30_000)
    assert "Not pushed" in page.locator("#hub-status").inner_text()
    page.screenshot(path=str(SHOTS / shot))  # the viewport, where the error box sits (top right)
    close = box.locator(".toast-close")
    if close.count():
        close.first.click()
    return text


def _download_zip(page, tmp_path: Path, name: str) -> set[str]:
    link = page.locator("#hub-zip a").first
    link.wait_for(timeout=60_000)
    with page.expect_download() as info:
        link.click()
    target = tmp_path / name
    info.value.save_as(target)
    with zipfile.ZipFile(target) as zf:
        assert zf.testzip() is None
        return set(zf.namelist())


def _render_card(folder: Path, out: Path) -> Path:
    """The README as the Hub shows it: metadata box, then the markdown body with its images."""
    shutil.copytree(folder, out)
    _, header, body = (out / "README.md").read_text(encoding="utf-8").split("---\n", 2)
    html = MarkdownIt("commonmark").enable("table").render(body)
    meta = f"<pre class='meta'>{header}</pre>"
    (out / "card.html").write_text(f"<html><head><style>{CARD_CSS}</style></head><body>{meta}{html}</body></html>")
    return out / "card.html"


def test_push_through_the_hub_tab_errors_and_card(fresh_sessions, app_url, page, local_hub, tiny_bert_dir, tmp_path, monkeypatch):
    SHOTS.mkdir(exist_ok=True)
    csv, texts = _sst2_slice(tmp_path)
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    page.locator("#train-file input[type=file]").set_input_files(str(csv))
    page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)

    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Model (Hub id or local folder)", exact=True).fill(str(tiny_bert_dir))
    page.locator("#lr input").fill("0.002")
    page.locator("#lr input").press("Tab")
    page.locator("#train-btn").click()
    page.locator("#train-status").get_by_text("Finished").wait_for(timeout=300_000)
    session = next(s for s in STORE._sessions.values() if s.predictor is not None and s.workdir.exists())
    expected = session.predictor.predict_proba(texts)

    # push to the local Hub through the Hub tab
    page.get_by_role("tab", name="Hub").click()
    page.locator("#hub-repo textarea, #hub-repo input").first.fill("alice/sst2-tiny")
    page.locator("#hub-token input").fill(WRITE_TOKEN)
    page.locator("#hub-push-btn").click()
    page.locator("#hub-status").get_by_text("Pushed to").wait_for(timeout=120_000)
    assert page.locator("#hub-images img").count() == 2
    page.locator("#hub-card").get_by_text("Training hyperparameters").wait_for()
    page.screenshot(path=str(SHOTS / "hub_1_pushed.png"), full_page=True)
    assert WRITE_TOKEN not in page.content()  # the password box holds it, it is never shown back
    arrived = local_hub.repo_dir("alice/sst2-tiny")
    clf = pipeline("text-classification", model=str(arrived), truncation=True)
    names = session.predictor.get_classes()
    for probs, row in zip(expected, clf(texts, top_k=None)):
        scores = {d["label"]: d["score"] for d in row}
        assert [scores[n] for n in names] == pytest.approx(probs.tolist(), abs=1e-5)
    pushed = set(local_hub.files("alice/sst2-tiny"))
    assert _download_zip(page, tmp_path, "pushed.zip") == pushed

    # 401, 403, network down: a message each, and the zip still downloads
    page.locator("#hub-token input").fill("hf_this_token_is_wrong_000")
    page.locator("#hub-push-btn").click()
    message = _expect_error(page, r"rejected the token \(401", "hub_2_error_401.png")
    assert "Expected a Hugging Face access token" in message
    assert _download_zip(page, tmp_path, "after-401.zip") == pushed
    page.locator("#hub-token input").fill(READ_TOKEN)
    page.locator("#hub-push-btn").click()
    _expect_error(page, r"no write access to 'alice/sst2-tiny' \(403", "hub_3_error_403.png")
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)
    page.locator("#hub-token input").fill(WRITE_TOKEN)
    page.locator("#hub-push-btn").click()
    assert "download the zip" in _expect_error(page, "Could not reach the Hugging Face Hub", "hub_4_offline.png")
    assert _download_zip(page, tmp_path, "offline.zip") == pushed
    assert len(local_hub.repos["alice/sst2-tiny"].commits) == 1  # the failed pushes committed nothing

    # the pushed card, rendered as a page with its images
    card = _render_card(arrived, tmp_path / "rendered")
    page.goto(card.as_uri())
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 2 and min(widths) > 300  # confusion matrix and training curve load from the repo
    assert page.locator("table").count() >= 6
    page.screenshot(path=str(SHOTS / "hub_5_card.png"), full_page=True)
