"""Hub tab: model card, downloadable zip, and push to the Hugging Face Hub."""

from __future__ import annotations

import os

import gradio as gr

from kdemo.hub import export_zip, push_to_hub, validate_repo_id, write_model_card
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE


@user_errors
def export(repo_id: str, request: gr.Request):
    """Write the model card into the trained model's folder and zip exactly what would be pushed.

    Returns:
        The zip's path and the card's markdown.
    """
    session = STORE.get(request)
    predictor = session.require_predictor()
    folder = session.workdir / "model"
    if not (folder / "config.json").exists():
        predictor.save(folder)
    card_repo = validate_repo_id(repo_id) if repo_id and repo_id.strip() else None
    card = write_model_card(folder, repo_id=card_repo)
    zip_path = export_zip(folder, session.workdir / "model.zip")
    return str(zip_path), card.content


@user_errors
def push(repo_id: str, token: str, private: bool, request: gr.Request) -> str:
    """Push the trained model folder (with its card) to the Hub; the token is used for this call only.

    Returns:
        Markdown with the commit link.
    """
    session = STORE.get(request)
    session.require_predictor()
    url = push_to_hub(
        session.workdir / "model", repo_id, token=(token or "").strip() or os.environ.get("HF_TOKEN"), private=bool(private)
    )
    return f"✅ Pushed: [{url}]({url})"


def build() -> None:
    """Lay out the Hub tab and wire its events."""
    gr.Markdown(
        "Push the trained model with a model card. The token is used for this push only: it is never stored, "
        "logged or written to the card. Without a network, download the zip (the exact folder that would be pushed)."
    )
    with gr.Row():
        repo_id = gr.Textbox(label="Repo id", placeholder="your-username/my-classifier")
        token = gr.Textbox(label="Hugging Face token (write access)", type="password")
        private = gr.Checkbox(value=True, label="Private repo")
    push_btn = gr.Button("Push to Hub", variant="primary")
    status = gr.Markdown()
    zip_file = gr.File(label="Download (zip of the model folder)")
    card = gr.Markdown(label="Model card", container=True)
    event = push_btn.click(export, [repo_id], [zip_file, card], api_name="export")
    event.success(push, [repo_id, token, private], [status], api_name="push")
