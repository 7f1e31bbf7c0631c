"""Issue 27, acceptance 2, in real headless Chromium: upload a noisy file, train a tiny model (the highlighting
explains with the model in use), find the label issues by 3-fold cross-validation, relabel two rows (one with the
row controls, one by editing the table's action cell), drop one, download the corrected file and check it, retrain
on it (a new run in the Runs tab). Screenshots: ``tests/.screens/labels_*.png`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from browser import open_page, requires_chromium, serve_app, upload_and_train
from test_labels_tab import noisy_frame

pytestmark = [requires_chromium, pytest.mark.slow]
SCREENS = Path(__file__).resolve().parents[1] / ".screens"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-labels")


@pytest.fixture
def page():
    yield from open_page(1400, 1100)


def _labels_state():
    """The label-issue search of the one session that has one (the server runs in this process)."""
    from kdemo.ui.session import STORE

    found = [s.labels for s in list(STORE._sessions.values()) if s.labels is not None]
    assert len(found) == 1, found
    return found[0]


def _set(page, rows: str, action: str, label: str | None = None) -> None:
    box = page.locator("#labels-rows textarea, #labels-rows input").first
    box.fill(rows)
    page.locator("#labels-action").get_by_text(action, exact=True).click()
    if label is not None:
        choice = page.locator("#labels-new-label input").first
        choice.fill(label)
        choice.press("Enter")
    page.locator("#labels-set").click()


def test_find_relabel_drop_retrain_download_in_browser(app_url, page, tiny_bert_dir, tmp_path, fresh_sessions):
    SCREENS.mkdir(exist_ok=True)
    csv = tmp_path / "noisy_reviews.csv"
    original = noisy_frame(120)
    original.to_csv(csv, index=False)
    upload_and_train(page, app_url, csv, tiny_bert_dir)
    # the Train tab's settings for every training of the search: 4 epochs at batch 8
    page.locator("#epochs input[type=number]").fill("4")
    page.locator("#epochs input[type=number]").press("Enter")
    page.locator("#batch-size input").fill("8")
    page.locator("#batch-size input").press("Tab")

    page.get_by_role("tab", name="Labels").click()
    page.locator("#labels-folds input").fill("3")
    page.locator("#labels-folds input").press("Tab")
    page.locator("#labels-find").click()
    page.locator("#labels-status").get_by_text("Finished").wait_for(timeout=300_000)
    summary = page.locator("#labels-summary").inner_text()
    assert "3-fold cross-validation" in summary and "Highlighted" in summary, summary
    assert page.locator("#labels-table span[title]").count() > 0  # the highlighted words (score in the tooltip)
    assert "Found 4 likely label issue(s) among 120 rows" in summary, summary  # the 4 flipped rows
    page.screenshot(path=str(SCREENS / "labels_1_issues.png"), full_page=True)

    table = _labels_state().issues.table
    first, second, third = (int(r) for r in table["row"][:3])
    flip = {"positive": "negative", "negative": "positive"}
    new = {row: flip[str(table.set_index("row").loc[row, "given_label"])] for row in (first, second)}
    _set(page, str(first), "relabel", new[first])
    page.locator("#labels-decisions").get_by_text("1 to relabel").wait_for(timeout=30_000)
    # the second relabel by editing the table's action cell (the third row of the table is ``second``)
    cell = page.locator('#labels-table [data-testid="cell-1-6"]')  # row 1 (0-based), column "action"
    cell.dblclick()
    editor = cell.locator("textarea, input").first
    editor.fill(new[second])
    editor.press("Enter")
    page.locator("#labels-decisions").get_by_text("2 to relabel").wait_for(timeout=30_000)
    _set(page, str(third), "drop")
    page.locator("#labels-decisions").get_by_text("1 row(s) to drop").wait_for(timeout=30_000)
    decisions = page.locator("#labels-decisions").inner_text()
    assert "2 to relabel" in decisions and f"drop: {third}" in decisions, decisions
    page.screenshot(path=str(SCREENS / "labels_2_decisions.png"), full_page=True)

    page.locator("#labels-download").click()
    link = page.locator("#labels-corrected-file a").first
    link.wait_for(timeout=60_000)
    with page.expect_download() as download:
        link.click()
    corrected = pd.read_csv(download.value.path())
    expected = original.copy()
    for row, label in new.items():
        expected.loc[row, "label"] = label
    pd.testing.assert_frame_equal(corrected, expected.drop(index=third).reset_index(drop=True))

    page.locator("#labels-retrain").click()
    page.locator("#labels-retrain-status").get_by_text("Finished").wait_for(timeout=300_000)
    status = page.locator("#labels-retrain-status").inner_text()
    assert "Saved as run corrected labels (3 changes)" in status, status
    page.screenshot(path=str(SCREENS / "labels_3_retrained.png"), full_page=True)

    page.get_by_role("tab", name="Runs").click()
    page.locator("#runs-refresh").click()
    page.locator('#runs-table [role=gridcell]:has-text("corrected labels (3 changes)")').first.wait_for(timeout=60_000)
    from kdemo.ui.runs import list_runs
    from kdemo.ui.session import STORE

    session = next(s for s in list(STORE._sessions.values()) if s.labels is not None)
    assert list_runs(session.workdir)[-1]["data_name"] == "noisy_reviews.csv (corrected)"
    page.screenshot(path=str(SCREENS / "labels_4_runs.png"), full_page=True)
