"""Shared set-up of the headless-Chromium tests: Debian's browser, its launch flags, the screenshot folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "screenshots"  # git-ignored; people look at these PNGs

#: Flags for a root, display-less machine whose network is closed (no background connections to Google).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
#: As CHROMIUM_ARGS, and every host name but 127.0.0.1 fails to resolve: the page can reach nothing else.
NO_NETWORK_ARGS = [*CHROMIUM_ARGS, "--disable-domain-reliability", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]

requires_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")


def serve_app(tmp_path_factory, name: str):
    """Launch the app on a free local port with its own Gradio temp folder; yields the URL, closes it afterwards.

    Use as the body of a module-scoped fixture: ``yield from serve_app(tmp_path_factory, "gradio-browser")``.
    """
    import os

    from kdemo.ui import build_app

    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp(name))
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield url
    demo.close()


def open_page(width: int = 1400, height: int = 1000):
    """A fresh headless Chromium page in its own browser; yields it, closes the browser afterwards.

    Use as the body of a fixture: ``yield from open_page()``.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": width, "height": height})
        yield context.new_page()
        browser.close()


def upload_and_train(page, app_url: str, csv_path, model_dir, *, lr: str = "0.002", timeout_ms: int = 240_000) -> None:
    """Open the app, upload ``csv_path`` in the Data tab, train ``model_dir`` at learning rate ``lr`` in the Train
    tab and wait until the status says "Finished"."""
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    page.locator("#train-file input[type=file]").set_input_files(str(csv_path))
    page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Train").click()
    model_box = page.get_by_label("Model (Hub id or local folder)").filter(visible=True)
    model_box.fill(str(model_dir))
    model_box.press("Tab")
    page.locator("#lr input").fill(lr)
    page.locator("#lr input").press("Tab")
    page.locator("#train-btn").click()
    page.locator("#train-status").get_by_text("Finished").wait_for(timeout=timeout_ms)
