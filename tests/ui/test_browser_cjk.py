"""Chinese data in a real headless Chromium: a GBK file as Excel on a Chinese Windows saves it.

1. A short GBK CSV: the detection is unsure, the Data tab says so and shows the Encoding menu; choosing
   "GB18030 / GBK" reads it again; the doctor names the language and warns that all-MiniLM-L6-v2 cannot read it.
2. A longer GBK CSV of hotel reviews: decoded right without help; the Train tab shows the coverage warning next to
   the model field; after a short training the Attention tab draws a heatmap whose labels are Chinese characters.

Screenshots go to ``screenshots/`` (git-ignored): ``cjk_1_data_unsure.png``, ``cjk_1b_data_mixed.png`` (an
English/Chinese table), ``cjk_2_data.png``,
``cjk_3_train.png``, ``cjk_4_attention.png``.
"""

from __future__ import annotations

import pytest
from browser import SHOTS, open_page, requires_chromium, serve_app

pytestmark = requires_chromium

SHORT = "text,label\n好酒店,positive\n很差,negative\n不错,positive\n"
REVIEWS = [
    ("这家酒店的房间很干净，服务也很好，下次还会再来。", "positive"), ("早餐太差了，房间隔音也不好，不推荐。", "negative"),
    ("位置方便，离地铁站很近，性价比高。", "positive"), ("前台态度冷淡，办理入住等了半个小时。", "negative"),
    ("床很舒服，窗外的风景非常漂亮。", "positive"), ("价格太贵了，设施也很旧。", "negative"),
    ("服务员热情周到，房间宽敞明亮。", "positive"), ("卫生间有异味，空调也坏了。", "negative"),
    ("交通便利，周边吃饭的地方很多。", "positive"), ("隔壁太吵了，一晚上没睡好。", "negative"),
    ("早餐种类丰富，味道也不错。", "positive"), ("网络很慢，电视也看不了。", "negative"),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    yield from serve_app(tmp_path_factory, "gradio-browser-cjk")


@pytest.fixture
def page():
    yield from open_page()


def test_gbk_chinese_data_encoding_menu_coverage_warning_and_cjk_heatmap(app_url, page, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    page.goto(app_url)
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)

    # 1. Too short to decide: unsure note, Encoding menu, re-read with GBK.
    short = tmp_path / "short_gbk.csv"
    short.write_bytes(SHORT.encode("gbk"))
    page.locator("#train-file input[type=file]").set_input_files(str(short))
    page.locator("#data-summary").get_by_text("unsure").wait_for(timeout=60_000)
    menu = page.locator("#data-encoding")
    menu.wait_for(state="visible", timeout=30_000)
    menu.locator("input").click()
    page.get_by_role("option", name="GB18030 / GBK (Chinese, simplified)").click()
    page.locator("#data-summary").get_by_text("GB18030").wait_for(timeout=60_000)
    page.wait_for_function("!document.querySelector('#data-summary').innerText.includes('unsure')", timeout=60_000)
    doctor = page.locator("#data-doctor")
    doctor.get_by_text("cannot read this text well").wait_for(timeout=60_000)
    text = doctor.inner_text()
    assert "Languages: Chinese 100 %" in text and "bert-base-chinese" in text and "[UNK]" in text
    assert "(as given)" in text  # the doctor names the encoding and how it was chosen
    page.screenshot(path=str(SHOTS / "cjk_1_data_unsure.png"), full_page=True)
    page.locator("text=好酒店 >> visible=true").first.wait_for(timeout=30_000)  # the preview shows the decoded text

    # 1b. A mixed English/Chinese table in UTF-8: both languages listed, only Chinese named as uncovered.
    mixed = tmp_path / "mixed_utf8.csv"
    english = [("a gorgeous, witty movie", "positive"), ("the plot is dull and slow", "negative"),
               ("I loved every minute of it", "positive"), ("a waste of two hours", "negative")]
    mixed.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in english + REVIEWS[:4]), encoding="utf-8")
    page.locator("#train-file button[aria-label='Clear']").click()
    page.locator("#train-file input[type=file]").set_input_files(str(mixed))
    page.locator("#data-summary").get_by_text("mixed_utf8.csv").wait_for(timeout=60_000)
    doctor.get_by_text("English 50 %, Chinese 50 %").first.wait_for(timeout=60_000)
    assert "covers Chinese:" in doctor.inner_text() and "covers English" not in doctor.inner_text()
    menu.wait_for(state="hidden", timeout=30_000)  # UTF-8 is certain: no menu
    page.screenshot(path=str(SHOTS / "cjk_1b_data_mixed.png"), full_page=True)

    # 2. Enough text: decoded right without help; the menu stays hidden.
    hotel = tmp_path / "hotel_reviews_gbk.csv"
    hotel.write_bytes(("text,label\n" + "".join(f"{t},{y}\n" for t, y in REVIEWS)).encode("gbk"))
    page.locator("#train-file button[aria-label='Clear']").click()
    page.locator("#train-file input[type=file]").set_input_files(str(hotel))
    page.locator("#data-summary").get_by_text("12 rows").wait_for(timeout=60_000)
    summary = page.locator("#data-summary").inner_text()
    assert "GB18030 (Chinese, simplified)" in summary and "unsure" not in summary
    menu.wait_for(state="hidden", timeout=30_000)
    assert "% sure" in page.locator("#data-doctor").inner_text()
    page.screenshot(path=str(SHOTS / "cjk_2_data.png"), full_page=True)
    page.locator(f"text={REVIEWS[0][0]} >> visible=true").first.wait_for(timeout=30_000)

    # 3. The Train tab shows the same warning next to the model field.
    page.get_by_role("tab", name="Train").click()
    coverage = page.locator("#model-coverage")
    coverage.get_by_text("cannot read this text well").wait_for(timeout=60_000)
    assert "paraphrase-multilingual-MiniLM-L12-v2" in coverage.inner_text()
    page.locator("#train-btn").click()
    try:
        page.locator("#train-status").get_by_text("Finished").wait_for(timeout=300_000)
    finally:
        page.screenshot(path=str(SHOTS / "cjk_3_train.png"), full_page=True)

    # 4. Attention heatmap of a Chinese sentence: token labels in Chinese, drawn with the CJK font.
    page.get_by_role("tab", name="Attention").click()
    # MiniLM's English vocabulary knows a few common characters (我 上 海 三 天 一 都 方), the rest are [UNK].
    page.locator("#attention-text textarea").fill("我们在上海住了三天，一切都很方便。")
    page.locator("#attention-btn").click()
    page.locator("#attention-tokens").get_by_text("[CLS]").wait_for(timeout=60_000)
    assert "上 海" in page.locator("#attention-tokens").inner_text()
    page.locator("#attention-head img").first.wait_for(timeout=60_000)  # the figure (its label icon is hidden)
    page.locator("#attention-head").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "cjk_4_attention.png"), full_page=True)
    assert "Traceback" not in page.content()
