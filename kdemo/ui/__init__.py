"""The Gradio app: five tabs (Data, Train, Predict, Attention, Hub), every action a named API endpoint."""

from __future__ import annotations

import argparse
import logging

import gradio as gr

from kdemo.ui import attention_tab, data_tab, hub_tab, predict_tab, train_tab
from kdemo.ui.session import STORE

TITLE = "kdemo: fine-tune a transformer text classifier"
MAX_FILE_SIZE = "50mb"


def _cleanup(request: gr.Request) -> None:
    """Forget the closing browser session: stop its training and delete its files."""
    STORE.drop(request)


def build_app() -> gr.Blocks:
    """Build the Blocks app.

    Returns:
        The app, with its queue configured so that one training (or LR finder) runs at a time and others wait
        with their position shown.
    """
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(
            f"# {TITLE}\nUpload labelled texts, fine-tune a Hugging Face model with ktrain's recipe "
            "(LR finder, one-cycle), predict, look at per-head attention, and push to the Hub."
        )
        with gr.Tab("Data"):
            data = data_tab.build()
        with gr.Tab("Train") as train_tab_block:
            pass
        with gr.Tab("Predict"):
            predict_tab.build()
        with gr.Tab("Attention"):
            attention = attention_tab.build()
        with gr.Tab("Hub"):
            hub_tab.build()
        with train_tab_block:
            train_tab.build(data, attention)
        demo.unload(_cleanup)
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def main(argv: list[str] | None = None) -> None:
    """Start the app: ``python app.py [--host 127.0.0.1] [--port 7860] [--share]``."""
    parser = argparse.ArgumentParser(description="Run the kdemo web app.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link (needs a network)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_app().launch(
        server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE,
        theme=gr.themes.Soft(), footer_links=["api", "gradio"],
    )
