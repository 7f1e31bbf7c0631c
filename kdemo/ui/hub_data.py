"""The Data tab's "From the Hugging Face Hub" box: a dataset id, config, split, revision and row limit, read with the
visitor's token (signed-in or pasted, never stored) through :func:`kdemo.data.hub_datasets.fetch_hub_dataset`, then
loaded exactly as an uploaded file (columns, doctor, preview, task)."""

from __future__ import annotations

import gradio as gr

from kdemo.data.hub_datasets import fetch_hub_dataset
from kdemo.ui.auth import token_for
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE

#: The Hub dataset each session's data came from (``{session id: dataset id}``): the Hub tab's card default.
SOURCES: dict[int, str] = {}


def hub_source(request: gr.Request) -> str | None:
    """The Hub dataset id the session's current data was read from, or None (an upload)."""
    return SOURCES.get(id(STORE.get(request)))


def build() -> dict:
    """Lay out the box (in an accordion); returns its components (wired by :func:`wire`)."""
    with gr.Accordion("…or train on a dataset from the Hugging Face Hub", open=False, elem_id="hub-data"):
        with gr.Row():
            dataset = gr.Textbox(label="Dataset id", placeholder="e.g. stanfordnlp/sst2", elem_id="hub-data-id")
            config = gr.Textbox(label="Config (optional: the first)", elem_id="hub-data-config")
            split = gr.Textbox("train", label="Split", elem_id="hub-data-split")
            revision = gr.Textbox(label="Revision (optional)", placeholder="main", elem_id="hub-data-revision")
        with gr.Row():
            max_rows = gr.Number(20000, label="Row limit (the first rows of the split)", precision=0, minimum=1,
                                 elem_id="hub-data-rows")
            token = gr.Textbox(label="Token for private or gated datasets (optional)", type="password",
                               elem_id="hub-data-token", placeholder="hf_… (used for this load only)")
            button = gr.Button("Load from the Hub", variant="primary", elem_id="hub-data-btn")
        note = gr.Markdown(elem_id="hub-data-note")
    return {"dataset": dataset, "config": config, "split": split, "revision": revision, "max_rows": max_rows,
            "token": token, "button": button, "note": note}


def wire(box: dict, val_pct, outputs: list, load):
    """Wire the button: fetch the split, then ``load(path, None, val_pct, request, progress=...)`` (the Data tab's
    upload path). Returns the click event (``.success``/``.failure`` chain on it)."""

    def load_hub(dataset_id: str, config: str, split: str, revision: str, max_rows: float | None, token: str,
                 val_pct: float, oauth_token: gr.OAuthToken | None, request: gr.Request,
                 progress=gr.Progress()):  # noqa: B008 - Gradio's way: a Progress default, never an API input
        """Read a split of a Hub dataset (Parquet files) and load it as an upload; returns the Data tab's outputs
        and a note (what was read, the row limit)."""
        progress(None, desc=f"Downloading {dataset_id} from the Hub")
        got = fetch_hub_dataset((dataset_id or "").strip(), config=(config or "").strip() or None,
                                split=(split or "").strip() or "train", revision=(revision or "").strip() or None,
                                token=token_for(token, oauth_token, write=False),
                                max_rows=int(max_rows) if max_rows else None)
        result = load(str(got.path), None, val_pct, request, progress=progress)
        SOURCES[id(STORE.get(request))] = got.dataset_id
        where = f"[{got.dataset_id}](https://huggingface.co/datasets/{got.dataset_id}) · {got.config} · {got.split}"
        note = f"✅ Read {got.rows:,} rows of {where}." + (f" ⚠️ {got.note}." if got.note else "")
        return (*result, note)

    inputs = [box[k] for k in ("dataset", "config", "split", "revision", "max_rows", "token")] + [val_pct]
    return box["button"].click(user_errors(load_hub), inputs, [*outputs, box["note"]], api_name="load_hub_data")
