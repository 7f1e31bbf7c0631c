"""The Hub tab's status line in a real headless Chromium: each action's status replaces the last (issue 29, item 6).

A tiny BERT is loaded through the Attention tab's loader (no training), a push fails (the Hub cannot be reached),
then "Write card and zip" succeeds: only its status shows, not the old "Not pushed" line. Screenshot:
``screenshots/hub_status_after_card.png`` (git-ignored).
"""

from __future__ import annotations

import re

import pytest
from browser import SHOTS, open_page, requires_chromium, serve_app
from hub_server import CLOSED_PORT, isolate_hf_client

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-hub-status")


@pytest.fixture
def page():
    yield from open_page()


def test_write_card_replaces_the_failed_push_status(fresh_sessions, app_url, page, tiny_bert_dir, tmp_path, monkeypatch):
    SHOTS.mkdir(exist_ok=True)
    isolate_hf_client(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)  # nothing listens: every push fails at once
    page.goto(app_url)
    page.get_by_role("tab", name="Attention").click()
    page.locator("#attention-model textarea, #attention-model input").first.fill(str(tiny_bert_dir))
    page.get_by_role("button", name="Load model").filter(visible=True).first.click()
    page.get_by_text("✅ Loaded").filter(visible=True).first.wait_for(timeout=60_000)

    page.get_by_role("tab", name="Hub").click()
    status = page.locator("#hub-status")
    page.locator("#hub-repo textarea, #hub-repo input").first.fill("alice/status-test")
    page.locator("#hub-token input").fill("hf_this_token_is_wrong_000")
    page.locator("#hub-push-btn").click()
    status.filter(has_text="Not pushed").wait_for(timeout=60_000)

    page.locator("#hub-export-btn").click()
    status.filter(has_text=re.compile("Card and zip written")).wait_for(timeout=30_000)
    page.locator("#hub-zip a").first.wait_for(timeout=30_000)
    text = status.inner_text()
    page.screenshot(path=str(SHOTS / "hub_status_after_card.png"), full_page=True)
    assert "Not pushed" not in text, text
    assert text.count("✅") == 1, text  # one status: the last action's
