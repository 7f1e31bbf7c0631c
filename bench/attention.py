"""Attention tab speed: compute and render all heads of the default model for a 64-token text, next to a forward pass.

Usage:
    python -m bench.attention [--tokens 64] [--repeats 3] [--no-browser]

Model: the embedded all-MiniLM-L6-v2 (6 layers × 12 heads = 72 heads) with a 2-class head (random head: speed does
not depend on training), maxlen = ``--tokens``; the text is SST-2 sentences joined and cut to exactly that many tokens.
Each repeat times, in wall seconds:

* forward: one plain forward pass of the text (the model's default SDPA attention, inference mode);
* compute: ``predictor.attention`` (switch to eager attention, forward with ``output_attentions``, back);
* payload: ``view_html``, the browser views' data (all heads as float32 bytes);
* browser: drawing the head view (all 12 heads of a layer) and the model view (72 thumbnails) in headless
  Chromium from that payload (``kdMount`` in ``kdemo/ui/static/attention_views.js``), no network;
* model view PNG: ``plot_model_view`` (all 72 heads) rendered to PNG by matplotlib, the notebook figure;
* tab handlers: what the Attention tab's "Show attention" runs on the server (views, token strips, head heatmap,
  layer grid) including the PNG rendering Gradio does for ``gr.Plot``;
* explain: integrated gradients (50 steps) for the same text, for scale.

Totals: compute + payload + browser (the interactive views), and compute + model view PNG. Medians of the repeats are
printed (other jobs share this CPU; run it when the machine is quiet for stable numbers).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

from bench.common import SHARED_DATA, machine, print_table, write_json

JS = Path(__file__).resolve().parent.parent / "kdemo" / "ui" / "static" / "attention_views.js"


def _text(tokenizer, n: int) -> str:
    """SST-2 sentences joined until they exceed ``n`` tokens (the predictor truncates to ``n``)."""
    path = SHARED_DATA / "sst2" / "test.csv"
    sentences = pd.read_csv(path).text.tolist() if path.exists() else ["a gorgeous , witty , seductive movie ."] * 50
    text = ""
    for s in sentences:
        text = f"{text} {s}".strip()
        if len(tokenizer(text)["input_ids"]) > n:
            return text
    raise SystemExit(f"Could not build a {n}-token text.")


def _png(fig) -> None:
    fig.savefig(BytesIO(), format="png")


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _browser_draw(html: str, repeats: int) -> list[float]:
    """Seconds ``kdMount`` takes to draw the head view and the model view in headless Chromium, per repeat."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    args = ["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_content(f"<div id='root'>{html}</div>")
        page.add_script_tag(content=JS.read_text(encoding="utf-8"))
        times = []
        for _ in range(repeats):
            ms = page.evaluate(
                "() => { const root = document.getElementById('root');"
                " const t0 = performance.now(); kdMount(root, null);"
                " if (!root.querySelector('[data-kd-ready]') || root.querySelectorAll('.kd-thumb').length === 0)"
                "   throw new Error('views not drawn'); return performance.now() - t0; }"
            )
            times.append(ms / 1000)
        browser.close()
    return times


def _repeat(r: int, predictor, text: str, forward, request) -> dict:
    """One timed repeat; the last payload HTML is kept in ``row["_html"]`` for the browser."""
    from kdemo.explain.attention import plot_model_view
    from kdemo.explain.attention_html import view_html
    from kdemo.ui import attention_tab

    attention_tab._maps_cache.clear()
    row = {"repeat": r + 1}
    row["forward"], _ = _timed(forward)
    row["compute"], maps = _timed(lambda: predictor.attention(text))
    special = maps.info.special
    row["payload"], row["_html"] = _timed(
        lambda: view_html(maps.att, maps.tokens, maps.tokens, row_special=special, col_special=special, title="bench")
    )
    row["model view PNG"], _ = _timed(lambda: _png(plot_model_view(maps.att)))

    def handlers():
        attention_tab._maps_cache.clear()
        _, strips = attention_tab.show_views(text, "", False, "all", request)
        head, grid, _ = attention_tab.attention(text, maps.num_layers, 1, "", False, "all", request)
        for fig in (strips, head, grid):
            _png(fig)

    row["tab handlers"], _ = _timed(handlers)
    row["explain (IG)"], result = _timed(lambda: predictor.explain(text, steps=50))
    row["IG steps"] = result.steps
    row["_shape"] = maps.att.shape
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium drawing time")
    args = parser.parse_args()

    import kdemo
    from kdemo.ui.session import STORE

    torch.manual_seed(0)
    t = kdemo.Transformer(None, maxlen=args.tokens, class_names=["negative", "positive"])
    predictor = kdemo.get_predictor(t.get_classifier(), t)
    model, tokenizer = predictor.model.eval(), predictor.tokenizer
    text = _text(tokenizer, args.tokens)
    enc = tokenizer(text, truncation=True, max_length=args.tokens, return_tensors="pt")
    assert enc["input_ids"].shape[1] == args.tokens
    request = SimpleNamespace(session_hash="bench-attention")
    STORE.get(request).predictor = predictor

    def forward():
        with torch.inference_mode():
            return model(**enc).logits

    forward()
    predictor.attention(text)  # warm-up: first eager pass, allocator
    rows = [_repeat(r, predictor, text, forward, request) for r in range(args.repeats)]
    STORE.drop(request)
    if not args.no_browser and (shutil.which("chromium") or shutil.which("chromium-browser")):
        for row, seconds in zip(rows, _browser_draw(rows[-1]["_html"], args.repeats)):
            row["browser"] = seconds
    for row in rows:
        row["total (views)"] = row["compute"] + row["payload"] + row.get("browser", 0.0)
        row["total (PNG)"] = row["compute"] + row["model view PNG"]
    columns = ["repeat", "forward", "compute", "payload", "browser", "model view PNG", "total (views)", "total (PNG)",
               "tab handlers", "explain (IG)", "IG steps"]
    median = {c: statistics.median(r[c] for r in rows) for c in columns[1:] if all(c in r for r in rows)}
    num_layers, num_heads = rows[0]["_shape"][:2]
    for row in rows:
        del row["_html"], row["_shape"]
    print(f"all-MiniLM-L6-v2, {num_layers} layers × {num_heads} heads, {args.tokens} tokens; seconds")
    print_table(rows + [{"repeat": "median", **median}], [c for c in columns if c == "repeat" or c in median])
    path = write_json("attention", {"machine": machine(), "tokens": args.tokens, "rows": rows, "median": median})
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
