"""Issue 26, acceptance 1, in real headless Chromium: three runs (two learning rates, one autofit run that early
stopping ends early), the Runs table, a two-run config diff with overlaid curves, two runs evaluated on a test file
with the paired test's p-value; after a server restart on the same ``--data-dir`` the runs, curves and evaluations
are back. Screenshots: ``tests/.screens/runs_*.png`` (git-ignored).
"""

from __future__ import annotations

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium
from conftest import sentiment_frame
from test_browser_restart import SCREENS, Server, _free_port, _open, _wait_for

pytestmark = [requires_chromium, pytest.mark.slow]


def _field(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.press("Tab")


def _train(page, name: str, lr: str, epochs: int, *, patience: int = 0) -> str:
    _field(page, "lr", lr)
    page.locator("#epochs input[type=number]").fill(str(epochs))
    page.locator("#epochs input[type=number]").press("Enter")
    page.locator("#train-schedule").get_by_text("autofit" if patience else "one-cycle").click()
    _field(page, "train-patience", str(patience))
    _field(page, "train-run-name", name)
    page.locator("#train-btn").click()
    page.locator("#train-status").get_by_text(f"Saved as run {name}").wait_for(timeout=240_000)
    return page.locator("#train-status").inner_text()


def _wait_text(page, selector: str, text: str, timeout: float = 60.0) -> str:
    """The element's text once it holds ``text`` (Gradio tables also render hidden copies of their cells)."""
    def holds() -> str | None:
        shown = page.locator(selector).inner_text()
        return shown if text in shown else None

    return _wait_for(holds, timeout, f"{text!r} in {selector}")


def _runs_tab(page) -> None:
    page.get_by_role("tab", name="Runs").click()
    page.locator("#runs-refresh").click()
    _wait_text(page, "#runs-table", "early-stop")


def test_three_runs_compared_evaluated_and_back_after_a_restart(tiny_bert_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(exist_ok=True)
    data_dir, csv, test_csv = tmp_path / "store", tmp_path / "movies.csv", tmp_path / "test.csv"
    sentiment_frame(240).to_csv(csv, index=False)
    sentiment_frame(150, seed=11).to_csv(test_csv, index=False)
    server = Server(data_dir, _free_port(), tmp_path)
    server.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            page.goto(server.url)
            page.locator("#train-file input[type=file]").set_input_files(str(csv))
            page.locator("#data-summary").get_by_text("classes").wait_for(timeout=60_000)
            page.get_by_role("tab", name="Train").click()
            page.locator("#train-model textarea, #train-model input").first.fill(str(tiny_bert_dir))
            _field(page, "batch-size", "16")
            page.get_by_text("fp32", exact=True).click()
            page.get_by_text("Schedule", exact=True).click()  # the accordion
            _train(page, "lr-2e-3", "0.002", 3)
            _train(page, "lr-1e-6", "0.000001", 1)
            status = _train(page, "early-stop", "0.2", 8, patience=1)
            assert "Kept the weights of epoch" in status and "early stopping ended the run after epoch" in status, status
            page.screenshot(path=str(SCREENS / "runs_1_early_stopping.png"), full_page=True)

            _runs_tab(page)
            table = page.locator("#runs-table").inner_text()
            assert all(n in table for n in ("lr-2e-3", "lr-1e-6", "early-stop")), table
            page.locator("#runs-picked").get_by_text("lr-1e-6").click()
            page.locator("#runs-picked").get_by_text("lr-2e-3").click()
            page.locator("#runs-compare").click()
            diff = _wait_text(page, "#runs-diff", "run_name")
            assert "lr" in diff and "epochs" in diff and "batch_size" not in diff, diff
            page.locator("#runs-curves img").first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENS / "runs_2_table_diff_curves.png"), full_page=True)
            page.locator("#runs-test-file input[type=file]").set_input_files(str(test_csv))
            page.locator("#runs-evaluate").click()
            evals = _wait_text(page, "#runs-evaluations", "p_value", 120)
            assert "lr-2e-3 is better than lr-1e-6" in evals and "mcnemar_exact" in evals, evals
            page.screenshot(path=str(SCREENS / "runs_3_evaluated_paired_test.png"), full_page=True)

            server.kill()
            server.start()
            _open(page, server.url)
            _runs_tab(page)
            assert all(n in page.locator("#runs-table").inner_text() for n in ("lr-2e-3", "lr-1e-6", "early-stop"))
            assert "lr-2e-3 is better than lr-1e-6" in _wait_text(page, "#runs-evaluations", "p_value")
            page.locator("#runs-picked").get_by_text("lr-1e-6").click()
            page.locator("#runs-picked").get_by_text("early-stop").click()
            page.locator("#runs-compare").click()
            _wait_text(page, "#runs-diff", "schedule")
            page.locator("#runs-curves img").first.wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENS / "runs_4_after_restart.png"), full_page=True)
            browser.close()
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
