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
