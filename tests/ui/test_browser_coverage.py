"""The coverage warning in a real headless Chromium says which suggested models are on this machine (issue 29, item 3).

A Chinese review table is uploaded with the default (English) model: the doctor warns and marks each suggested
model as available now (a fake Hugging Face cache holds ``bert-base-chinese``) or not on this machine. Screenshot:
``screenshots/coverage_availability.png`` (git-ignored).
"""

from __future__ import annotations

import pandas as pd
import pytest
from browser import SHOTS, open_page, requires_chromium, serve_app

pytestmark = requires_chromium

ZH = ["这家酒店的房间很干净，服务也很好，下次还会再来。", "早餐太差了，房间隔音也不好，不推荐。",
      "电影的故事非常感人，演员表演得很好。", "剧情太无聊了，浪费了两个小时。"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-coverage")


@pytest.fixture
def page():
    yield from open_page()


def test_coverage_warning_marks_available_models(fresh_sessions, app_url, page, tmp_path, monkeypatch):
    from huggingface_hub import constants

    SHOTS.mkdir(exist_ok=True)
    repo = tmp_path / "cache" / "models--bert-base-chinese"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))  # the app runs in this process
    csv = tmp_path / "zh_reviews.csv"
    pd.DataFrame({"text": ZH * 10, "label": ["pos", "neg", "pos", "neg"] * 10}).to_csv(csv, index=False)

    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    page.locator("#train-file input[type=file]").set_input_files(str(csv))
    doctor = page.locator("#data-doctor")
    doctor.get_by_text("cannot read this text well").wait_for(timeout=60_000)
    text = doctor.inner_text()
    doctor.screenshot(path=str(SHOTS / "coverage_availability.png"))
    assert "bert-base-chinese (Chinese; available now: in the local Hugging Face cache)" in text, text
    assert "xlm-roberta-base (multilingual; not on this machine)" in text, text
    assert "None of them" not in text
