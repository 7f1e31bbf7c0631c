"""The Attention tab in a real headless Chromium with networking disabled: head view, model view, thumbnails.

Goes through the UI like a user: upload a table, train the tiny BERT in the Train tab, then draw the views for a
~30-token text. Checks that the numbers the browser decoded are the model's own ``output_attentions`` and that no
request left localhost. Screenshots go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from browser import CHROMIUM, NO_NETWORK_ARGS, SHOTS, requires_chromium, serve_app, upload_and_train
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kdemo.ui.session import STORE

TEXT = (
    "the movie was a gorgeous and witty story with a brilliant actor but the plot was dull and boring "
    "so it is not superbly fun film"
)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-attention")


@pytest.fixture
def browser_page():
    """A page in Chromium that cannot resolve any host but 127.0.0.1; yields ``(page, requests, errors)``."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=NO_NETWORK_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.on("request", lambda req: requests.append(req.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "kdemo" in msg.text else None)
        yield page, requests, errors
        browser.close()


def _trained_folder() -> Path:
    """The model folder the Train tab saved for the browser's session (the only session with a model)."""
    folders = [s.workdir / "model" for s in STORE._sessions.values() if s.predictor is not None]
    assert len(folders) == 1, folders
    return folders[0]


def _reference_attention(folder: Path, text: str) -> tuple[list[str], np.ndarray]:
    """The model's own attention probabilities, from a separate copy loaded with eager attention."""
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_attentions=True)
    return tok.convert_ids_to_tokens(enc["input_ids"][0].tolist()), np.stack([a[0].numpy() for a in out.attentions])


def _painted_pixels(page, selector: str) -> int:
    """Non-transparent pixels of the first canvas matching ``selector``."""
    return page.eval_on_selector(
        selector,
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++; return n; }",
    )


def test_head_view_and_model_view_offline(fresh_sessions, app_url, browser_page, tiny_bert_dir, sentiment_csv):
    page, requests, errors = browser_page
    SHOTS.mkdir(exist_ok=True)
    upload_and_train(page, app_url, sentiment_csv, tiny_bert_dir, timeout_ms=180_000)

    page.get_by_role("tab", name="Attention").click()
    page.locator("#attention-text textarea").fill(TEXT)
    page.locator("#attention-btn").click()
    host = page.locator("#attention-views [data-kd-ready]")
    host.wait_for(timeout=60_000)
    page.locator("#attention-tokens").get_by_text("[CLS]").wait_for(timeout=60_000)

    # The numbers the browser decoded are the model's own output_attentions for this text.
    tokens, reference = _reference_attention(_trained_folder(), TEXT)
    assert len(tokens) == 30, tokens  # a ~30-token text, special tokens included
    decoded = page.eval_on_selector("#attention-views [data-kd-ready]", "h => ({shape: h.kdPayload.shape, "
                                    "rows: h.kdPayload.rows, att: Array.from(h.kdPayload.att)})")
    assert decoded["shape"] == list(reference.shape) == [2, 2, 30, 30]
    assert decoded["rows"] == tokens
    assert np.abs(np.asarray(decoded["att"]).reshape(reference.shape) - reference).max() <= 1e-6

    # Head view: the token columns line up with the tokens, and the lines are drawn.
    left = page.locator("#attention-views .kd-headview .kd-col-row .kd-tok")
    assert left.all_inner_texts() == tokens
    assert _painted_pixels(page, "#attention-views .kd-headview canvas.kd-lines") > 1000
    all_lines = _painted_pixels(page, "#attention-views .kd-headview canvas.kd-lines")
    left.nth(5).hover()  # only that token's lines remain
    status = page.locator("#attention-views .kd-headview .kd-status")
    assert f"“{tokens[5]}” attends most to" in status.inner_text()
    assert 0 < _painted_pixels(page, "#attention-views .kd-headview canvas.kd-lines") < all_lines
    page.locator("#attention-views .kd-headview").screenshot(path=str(SHOTS / "attention_head_view.png"))

    # Model view: one thumbnail per layer x head; clicking one opens it large.
    thumbs = page.locator("#attention-views .kd-thumb")
    assert thumbs.count() == 4
    page.locator("#attention-views .kd-modelview").screenshot(path=str(SHOTS / "attention_model_view.png"))
    thumbs.nth(2).click()  # layer 2, head 1
    large = page.locator("#attention-views .kd-large")
    large.wait_for(state="visible")
    assert "Layer 2, head 1" in large.inner_text()
    assert large.locator("canvas.kd-heatmap").count() == 1 and large.locator(".kd-headview").count() == 1
    assert _painted_pixels(page, "#attention-views .kd-large canvas.kd-heatmap") > 1000
    large.screenshot(path=str(SHOTS / "attention_thumbnail_opened.png"))
    page.screenshot(path=str(SHOTS / "attention_tab.png"), full_page=True)

    assert not errors, errors
    outside = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).hostname not in LOCAL_HOSTS]
    assert not outside, outside
    assert requests, "the page made no requests at all: the request hook is not working"
