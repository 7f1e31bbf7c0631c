"""The Attention tab's controls in a real headless Chromium (issue 29, item 10).

A model trained on single texts gets no sentence-pair inputs; a model trained on pairs gets them. The head view and
the heatmaps share one layer/head control: the head view has no layer or head buttons of its own, and moving the
sliders redraws both. Screenshots: ``screenshots/attention_controls_single.png`` and
``screenshots/attention_controls_pair.png`` (git-ignored).
"""

from __future__ import annotations

import pytest
from browser import SHOTS, open_page, requires_chromium, serve_app
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kdemo.inference.predictor import Predictor

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-attention-controls")


@pytest.fixture
def page():
    yield from open_page()


def _folder(tiny_bert_dir, path, pairs: bool):
    """A kdemo predictor folder whose ``kdemo.json`` records what it was trained on (as the Train tab writes it)."""
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    Predictor(model, AutoTokenizer.from_pretrained(tiny_bert_dir), ["negative", "positive"], 64,
              meta={"text_pairs": pairs}).save(path)
    return path


def _load(page, folder) -> None:
    page.locator("#attention-model textarea, #attention-model input").first.fill(str(folder))
    page.get_by_role("button", name="Load model").filter(visible=True).first.click()
    page.get_by_text(f"Loaded {folder}").filter(visible=True).first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # the pair inputs follow the load


def _set(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def test_one_layer_head_control_and_pair_inputs_only_for_pair_models(fresh_sessions, app_url, page, tiny_bert_dir, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    single = _folder(tiny_bert_dir, tmp_path / "single", pairs=False)
    pair = _folder(tiny_bert_dir, tmp_path / "pair", pairs=True)
    page.goto(app_url)
    page.get_by_role("tab", name="Attention").click()
    _load(page, single)
    assert not page.locator("#attention-text-pair").is_visible()
    assert not page.locator("#attention-pair-filter").is_visible()

    page.locator("#attention-text textarea").fill("the movie was a gorgeous and witty story")
    _set(page, "attention-layer", 1)
    _set(page, "attention-head-number", 2)
    page.locator("#attention-btn").click()
    host = page.locator("#attention-views [data-kd-ready]")
    host.wait_for(timeout=60_000)
    page.locator("#attention-grid img").wait_for(timeout=60_000)
    head_view = page.locator("#attention-views .kd-headview").first
    # one control: the head view has no layer menu or head buttons of its own
    assert head_view.locator("select.kd-layer").count() == 0 and head_view.locator(".kd-swatch").count() == 0
    assert "Layer 1, head 2" in head_view.locator(".kd-selection").inner_text()
    page.screenshot(path=str(SHOTS / "attention_controls_single.png"), full_page=True)

    before = page.locator("#attention-head img").get_attribute("src")
    _set(page, "attention-layer", 2)
    page.wait_for_function("() => document.querySelector('#attention-views .kd-selection').textContent.includes('Layer 2, head 2')",
                           timeout=30_000)
    page.wait_for_function(f"() => document.querySelector('#attention-head img').src !== {before!r}", timeout=60_000)

    _load(page, pair)
    page.locator("#attention-text-pair").wait_for(state="visible", timeout=30_000)
    assert page.locator("#attention-pair-filter").is_visible()
    page.locator("#attention-views").get_by_text("Press “Show attention”").wait_for(timeout=30_000)  # cleared
    assert page.locator("#attention-grid img").count() == 0
    page.screenshot(path=str(SHOTS / "attention_controls_pair.png"), full_page=True)
