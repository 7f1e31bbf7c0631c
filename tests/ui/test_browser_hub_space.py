"""Issue 28 in a real headless Chromium (acceptance 3), against the local fake Hub: the Data tab loads a split of a
Parquet dataset repo (row limit and its note; an unknown id's message), the Train tab fine-tunes a tiny BERT on it,
and the Hub tab's one button pushes the model and publishes its demo Space, whose URL the page shows; the Space's
app.py then runs and answers as the session's predictor. Screenshots (git-ignored): ``screenshots/
space_1_hub_data.png``, ``space_2_unknown_dataset.png``, ``space_3_published.png``, ``space_4_demo_app.png``."""

from __future__ import annotations

import re

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, requires_chromium, serve_app
from huggingface_hub import ModelCard, SpaceCard
from hub_server import WRITE_TOKEN, running_hub
from test_hub_datasets import CARD, parquet, reviews

from kdemo.ui.session import STORE

pytestmark = requires_chromium


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    gen = running_hub(tmp_path, monkeypatch)
    hub = next(gen)
    hub.add_repo("alice/reviews", {"README.md": CARD.encode(),
                                   "reviews/train-00000-of-00002.parquet": parquet(reviews(150, 0)),
                                   "reviews/train-00001-of-00002.parquet": parquet(reviews(150, 1)),
                                   "reviews/test-00000-of-00001.parquet": parquet(reviews(30, 2))}, kind="dataset")
    yield hub
    next(gen, None)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-space")


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        browser.close()


def _fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def test_hub_dataset_to_trained_model_to_demo_space(fresh_sessions, app_url, page, local_hub, tiny_bert_dir,
                                                    tmp_path, monkeypatch):
    SHOTS.mkdir(exist_ok=True)
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    page.get_by_text("…or train on a dataset from the Hugging Face Hub").click()
    _fill(page, "hub-data-id", "alice/nope")
    page.locator("#hub-data-btn").click()
    page.locator(".toast-body").filter(has_text=re.compile("does not exist or is private")).first.wait_for(
        timeout=60_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "space_2_unknown_dataset.png"))
    page.locator(".toast-close").first.click()

    _fill(page, "hub-data-id", "alice/reviews")
    _fill(page, "hub-data-config", "reviews")
    _fill(page, "hub-data-rows", "200")
    page.locator("#hub-data-btn").click()
    page.locator("#hub-data-note").get_by_text("Read 200 rows").wait_for(timeout=60_000)
    note = page.locator("#hub-data-note").inner_text()
    assert "row limit: the first 200 of 300 rows" in note or "first 200 of more rows" in note
    page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
    assert page.locator("#data-text-column input").first.input_value() == "text"  # guessed as for an upload
    assert "single_label" in page.locator("#data-task").inner_text()
    page.screenshot(path=str(SHOTS / "space_1_hub_data.png"), full_page=True)
    assert not any("reviews/test" in e["path"] for e in local_hub.log)  # the split not asked for stays on the Hub

    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Model (Hub id or local folder)", exact=True).fill(str(tiny_bert_dir))
    page.locator("#lr input").fill("0.002")
    page.locator("#lr input").press("Tab")
    page.locator("#train-btn").click()
    page.locator("#train-status").get_by_text("Finished").wait_for(timeout=300_000)
    session = next(s for s in STORE._sessions.values() if s.predictor is not None and s.workdir.exists())

    page.get_by_role("tab", name="Hub").click()
    _fill(page, "hub-repo", "alice/reviews-tiny")
    page.locator("#hub-token input").fill(WRITE_TOKEN)
    page.locator("#hub-space-btn").click()
    page.locator("#hub-status").get_by_text("Demo Space published").wait_for(timeout=120_000)
    status = page.locator("#hub-status").inner_text()
    assert "Pushed to" in status and "/spaces/alice/reviews-tiny-demo" in status and "private" in status
    page.screenshot(path=str(SHOTS / "space_3_published.png"), full_page=True)
    assert WRITE_TOKEN not in page.content()
    space = local_hub.files("spaces/alice/reviews-tiny-demo")
    assert SpaceCard(space["README.md"].decode()).data.models == ["alice/reviews-tiny"]
    assert local_hub.repos["spaces/alice/reviews-tiny-demo"].private  # as the model
    assert ModelCard(local_hub.files("alice/reviews-tiny")["README.md"].decode()).data.datasets == ["alice/reviews"]

    # the published app.py, launched on the pushed model folder, in the same browser
    app_dir = tmp_path / "space"
    app_dir.mkdir()
    for name, content in space.items():
        (app_dir / name).write_bytes(content)
    from test_space import launch

    demo = launch(app_dir, local_hub.repo_dir("alice/reviews-tiny"), monkeypatch)
    try:
        page.goto(demo.local_url)
        page.get_by_role("button", name="Submit").click()
        page.locator(".output-class, [data-testid='label-output-value']").first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "space_4_demo_app.png"), full_page=True)
        shown = page.locator(".output-class, [data-testid='label-output-value']").first.inner_text().strip()
        example = session.predictor.meta.get("example") or ""
        assert shown == session.predictor.predict(example)
    finally:
        demo.close()
