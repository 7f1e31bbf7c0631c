"""The Gradio app: its tabs (Data, Train, Predict, Attention, Hub, Runs, Labels), every action a named API endpoint."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import gradio as gr

from kdemo.data.limits import DEFAULT_LIMITS
from kdemo.run.tracking import set_tracking_dir
from kdemo.ui import attention_tab, auth, data_tab, hub_tab, labels_tab, predict_tab, runs_tab, train_tab
from kdemo.ui.session import STORE
from kdemo.ui.store import browser_secret, default_data_dir

TITLE = "kdemo: fine-tune a transformer for text classification, named entities or question answering"
#: Bytes of one uploaded file (Gradio's ``max_file_size``): 50 MB as the file box counts them (1 MB = 1,048,576
#: bytes); the Data tab says it before an upload (:func:`kdemo.data.limits.upload_limit_note`).
MAX_FILE_SIZE = DEFAULT_LIMITS.max_upload_bytes
#: Events running at once per event of the other tabs (data, export, push); training is limited separately,
#: /predict has no limit (its requests wait in the micro-batcher, kdemo.ui.predict_tab.BATCHER) and attention /
#: explain share one slot (kdemo.ui.attention_tab.EXPLAIN_CONCURRENCY).
DEFAULT_CONCURRENCY = 4
#: Requests that may wait in the queue before new ones are turned away.
QUEUE_SIZE = 256
#: Events Gradio processes at once over all sessions (its ``max_threads``: also the worker threads of plain
#: handlers). Above the 64 concurrent API clients the app is measured with (bench/serve_load.py).
MAX_EVENTS = 96
#: Gradio's copies of uploaded and downloaded files: every hour, those older than 2 hours are deleted.
DELETE_CACHE = (3600, 7200)


def _page_closed(request: gr.Request) -> None:
    """A page closed or reloaded: detach it; its session stays for a while so that a reload finds it again."""
    STORE.detach(request)


def _restore(train: dict, data: dict):
    """The page-load handler: attach the page to the browser's session and show that session's data and training
    job (also after a server restart, with a data folder)."""

    def reconnect(key: str | None, val_pct: float, request: gr.Request):
        key = STORE.attach(request, key)
        session = STORE.get(request)
        return key, *train["restore"](session), *data["restore"](session, val_pct)

    return reconnect


def build_app(data_dir: str | Path | None = None) -> gr.Blocks:
    """Build the Blocks app.

    Args:
        data_dir: Folder that keeps the sessions across restarts (:mod:`kdemo.ui.store`); None keeps them in
            temporary folders, gone with the process.

    Returns:
        The app. Training and the LR finder run as jobs on the device queue, one at a time
        (:data:`kdemo.ui.session.DEVICE_QUEUE`); other requests go through Gradio's queue.
    """
    secret = None
    if data_dir is not None:
        STORE.open(data_dir)
        secret = browser_secret(Path(data_dir))  # the same after a restart: browsers can still read their key
        try:  # trackio's runs live with the sessions (its dashboard: trackio show, with TRACKIO_DIR set to it)
            set_tracking_dir(Path(data_dir) / "trackio")
        except RuntimeError as exc:  # trackio already imported in this process with another folder
            logging.getLogger("kdemo").warning("%s", exc)
    # analytics off: no per-event telemetry thread and request to Gradio's servers (a cost on every /predict)
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE, analytics_enabled=False) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(
                f"# {TITLE}\nUpload labelled texts (a CoNLL/BIO file of tagged words, or SQuAD questions), fine-tune a "
                "Hugging Face model with ktrain's recipe (LR finder, one-cycle), predict, look at per-head attention, "
                "and push to the Hub.",
            )
            auth.login_button()  # only on a Space with hf_oauth: true; elsewhere the Hub tab takes a token
        with gr.Tab("Data"):
            data = data_tab.build()
        with gr.Tab("Train") as train_tab_block:
            pass
        with gr.Tab("Predict") as predict_tab_block:
            pass
        in_use = {}  # the model in use, named at the top of Predict, Attention and Hub
        with gr.Tab("Attention") as attention_tab_block:
            in_use[attention_tab_block] = gr.Markdown(elem_id="attention-in-use")
            attention = attention_tab.build(attention_tab_block)
        with gr.Tab("Hub") as hub_tab_block:
            in_use[hub_tab_block] = gr.Markdown(elem_id="hub-in-use")
            hub_tab.build()
        with gr.Tab("Runs", elem_id="runs-tab") as runs_tab_block:
            runs_view = runs_tab.build()
        runs_tab_block.select(runs_view["refresh"], None, runs_view["outputs"], api_visibility="private")
        with gr.Tab("Labels", elem_id="labels-tab") as labels_tab_block:
            pass
        with train_tab_block:
            train = train_tab.build(data, attention)
        with labels_tab_block:  # uses the Train tab's settings
            labels_view = labels_tab.build(train)
        labels_tab_block.select(labels_view["refresh"], None, labels_view["outputs"], api_name="label_issues")
        data_tab.wire_suggestions(data, train["model_name"], train["maxlen"], train["batch_size"])
        with predict_tab_block:
            in_use[predict_tab_block] = gr.Markdown(elem_id="predict-in-use")
            predict_tab.build(attention, predict_tab_block)
        for block, line in in_use.items():
            block.select(runs_tab.in_use, None, [line], api_visibility="private")
        # the browser's session key: random, issued by the server, kept encrypted in localStorage across reloads
        session_key = gr.BrowserState(None, storage_key="kdemo-session", secret=secret)
        demo.load(_restore(train, data), [session_key, data["val_pct"]],
                  [session_key, *train["outputs"], *data["restore_outputs"]], api_visibility="private")
        demo.unload(_page_closed)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def main(argv: list[str] | None = None) -> None:
    """Start the app: ``python app.py [--host 127.0.0.1] [--port 7860] [--share] [--data-dir DIR]``.

    On Hugging Face Spaces the host and port come from ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
    (0.0.0.0:7860), which Spaces sets.
    """
    parser = argparse.ArgumentParser(description="Run the kdemo web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (0.0.0.0 for all; default GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (default GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true",
                        help="also create a public *.gradio.live link for 72 hours (needs a network; not on Spaces)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder that keeps every session's data, models and jobs across restarts (default: "
                             "/data/kdemo when /data is writable, as on a Space with persistent storage, else "
                             "$XDG_CACHE_HOME/kdemo/app or ~/.cache/kdemo/app); delete it to wipe them")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        logging.getLogger("kdemo").info("sessions are kept in %s", data_dir)
        build_app(data_dir).launch(
            server_name=args.host, server_port=args.port, share=args.share and not auth.on_spaces(),
            max_file_size=MAX_FILE_SIZE, theme=gr.themes.Soft(), footer_links=["api", "gradio"], max_threads=MAX_EVENTS,
        )
    except OSError as exc:
        if "port" not in str(exc).lower():
            raise
        raise SystemExit(
            f"error: port {args.port} on {args.host} is already in use (another kdemo or Gradio app?). "
            f"Stop that app, or start this one on another port: python app.py --port {args.port + 1}"
        ) from None
