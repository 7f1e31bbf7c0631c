"""No Gradio block label covers a figure's title or legend, in a real headless Chromium (issue 29, item 9).

A tiny BERT is trained through the Train tab (loss curve, confusion matrix), then the Attention tab draws its
heatmaps (selected head, all heads of the layer, [CLS] strips). For every plot on screen, a visible block label
must not overlap the figure's image: the figures carry their titles, so the label badge is hidden. Screenshots:
``screenshots/plot_labels_train.png`` and ``screenshots/plot_labels_attention.png`` (git-ignored).
"""

from __future__ import annotations

import pytest
from browser import SHOTS, open_page, requires_chromium, serve_app, upload_and_train

pytestmark = requires_chromium

#: For each visible plot image: the texts of the visible block labels of its block that overlap the image.
OVERLAPS_JS = """() => {
  const shown = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden'; };
  const out = [];
  for (const img of document.querySelectorAll('.block img')) {
    if (!shown(img) || img.getBoundingClientRect().width < 150) continue;  // figures, not icons
    const block = img.closest('.block');
    const i = img.getBoundingClientRect();
    for (const label of block.querySelectorAll('[data-testid="block-label"]')) {
      if (!shown(label)) continue;
      const l = label.getBoundingClientRect();
      const overlap = l.left < i.right && i.left < l.right && l.top < i.bottom && i.top < l.bottom;
      out.push({label: label.innerText.trim(), overlap, labelBottom: l.bottom, imageTop: i.top});
    }
    out.push({image: true, top: i.top});
  }
  return out;
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-plot-labels")


@pytest.fixture
def page():
    yield from open_page()


def _labels_over_images(page) -> tuple[int, list[dict]]:
    found = page.evaluate(OVERLAPS_JS)
    images = sum(1 for f in found if f.get("image"))
    return images, [f for f in found if f.get("overlap")]


def test_no_block_label_covers_a_figure(fresh_sessions, app_url, page, tiny_bert_dir, sentiment_csv):
    SHOTS.mkdir(exist_ok=True)
    upload_and_train(page, app_url, sentiment_csv, tiny_bert_dir)
    page.wait_for_timeout(1_000)  # the last poll's figures settle
    images, covered = _labels_over_images(page)
    page.screenshot(path=str(SHOTS / "plot_labels_train.png"), full_page=True)
    assert images >= 2, "expected the loss curve and the confusion matrix on screen"
    assert not covered, covered

    page.get_by_role("tab", name="Attention").click()
    page.locator("#attention-text textarea").fill("the movie was a gorgeous and witty story")
    page.locator("#attention-btn").click()
    page.locator("#attention-grid img").wait_for(timeout=60_000)
    page.locator("#attention-head img").wait_for(timeout=60_000)
    images, covered = _labels_over_images(page)
    page.screenshot(path=str(SHOTS / "plot_labels_attention.png"), full_page=True)
    assert images >= 2, "expected the head heatmap and the grid of all heads on screen"
    assert not covered, covered
    page.get_by_role("tab", name="[CLS] and rollout").click()
    page.locator("#attention-strips img").wait_for(timeout=30_000)
    images, covered = _labels_over_images(page)
    assert images >= 1 and not covered, covered
