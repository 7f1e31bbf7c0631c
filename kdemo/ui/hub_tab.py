"""Hub tab: model card (with its images), downloadable zip, push to the Hugging Face Hub, and a demo Space."""

from __future__ import annotations

import re

import gradio as gr

from kdemo.data.limits import check_text
from kdemo.errors import HubError, KdemoError
from kdemo.hub.card import write_model_card
from kdemo.hub.push import export_zip, hub_endpoint, push_to_hub, validate_repo_id
from kdemo.record import CONFUSION_FILE, CURVE_FILE
from kdemo.run.models import shown
from kdemo.tasks import spec_for
from kdemo.ui.auth import on_spaces, token_for
from kdemo.ui.errors import user_errors
from kdemo.ui.hub_data import hub_source
from kdemo.ui.hub_space import publish_demo
from kdemo.ui.session import STORE

#: The last push error of each session (its message only), shown in the status line after the error box closes.
_LAST_ERROR: dict[str, str] = {}
_DATASET_ID = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")


def _preview(content: str) -> str:
    """Markdown for the card preview: the YAML header as a code block, then the body (images: in the gallery)."""
    header, body = "", content
    if content.startswith("---\n"):
        _, header, body = content.split("---\n", 2)
    body = _IMAGE_LINK.sub(r"*[image in the repo: `\2` (shown above)]*", body)
    return f"**Metadata (YAML header of README.md)**\n\n```yaml\n{header.strip()}\n```\n\n{body}"


@user_errors
def export(repo_id: str, dataset_id: str, example: str, request: gr.Request):
    """Write the model card, its images and ``training_params.json`` into the model folder, and zip it.

    Args:
        repo_id: ``user/name`` the card is written for; empty uses the folder name.
        dataset_id: Optional Hub dataset id for the card's ``datasets`` metadata.
        example: Optional widget example; empty uses the one the model folder records (the first training text,
            :meth:`kdemo.run.data.RunData.example`), else the task's ``default_example``
            (:func:`kdemo.hub.card.write_model_card` decides).

    Returns:
        The zip's path (exactly what a push uploads), the card preview (markdown) and the card's images.
    """
    session = STORE.get(request)
    session.require_disk_room(STORE.limits.max_disk_bytes)  # models and exports go to its folder
    predictor = session.require_predictor()
    folder = session.workdir / "model"
    card_repo = validate_repo_id(repo_id) if repo_id and repo_id.strip() else None
    dataset_id = (dataset_id or "").strip() or hub_source(request) or ""  # the Data tab's Hub dataset
    if dataset_id and not _DATASET_ID.match(dataset_id):
        raise HubError(
            "Expected a Hub dataset id like 'stanfordnlp/sst2', or nothing for your own data. "
            f"Received: {shown(dataset_id)}."
        )
    example = check_text((example or "").strip(), what="the widget example",
                         hint="Use one short sentence: the Hub runs it in the model page's widget.")
    if not (folder / "config.json").exists():  # the train job and the Predict tab's loader both save it there
        predictor.save(folder)
    card = write_model_card(folder, repo_id=card_repo, example=example or None,
                            dataset_id=dataset_id or None, endpoint=hub_endpoint())
    zip_path = export_zip(folder, session.workdir / "model.zip")
    images = [(str(folder / name), name) for name in (CONFUSION_FILE, CURVE_FILE) if (folder / name).exists()]
    return str(zip_path), _preview(card.content), images


@user_errors
def push(repo_id: str, token: str, private: bool, oauth_token: gr.OAuthToken | None, request: gr.Request) -> str:
    """Push the model folder (with its card) to the Hub under the caller's identity.

    The token (pasted, or the signed-in visitor's on a Space) is used for this call only: it is not stored, logged
    or returned.

    Returns:
        Markdown with the repo and commit links.
    """
    session = STORE.get(request)
    spec = spec_for(session.require_predictor().task)
    try:
        repo_id = validate_repo_id(repo_id)
        endpoint = hub_endpoint()
        url = push_to_hub(session.workdir / "model", repo_id, token=token_for(token, oauth_token, write=True),
                          private=bool(private), endpoint=endpoint)
    except KdemoError as exc:
        _LAST_ERROR[getattr(request, "session_hash", None) or ""] = str(exc)
        raise
    visibility = "private: only you (and your organisation) can see it" if private else "public"
    grouping = ', aggregation_strategy="simple"' if spec.entity_types else ""  # one result per entity, not per word
    use = f'pipeline("{spec.pipeline_tag}", model="{repo_id}"{grouping})'
    return (
        f"✅ Pushed to [{repo_id}]({endpoint}/{repo_id}) ({visibility}); "
        f"commit [{url.rsplit('/', 1)[-1][:8]}]({url}).\n\n"
        f"Use it: `{use}`."
    )


def push_failed(request: gr.Request) -> str:
    """Status line after a failed push: the error's message, and where the model still is."""
    message = _LAST_ERROR.pop(getattr(request, "session_hash", None) or "", "")
    return f"❌ **Not pushed.** {message}\n\nThe zip below holds the model folder, ready to download."


def card_written() -> str:
    """Status line after "Write card and zip" succeeded: it replaces any earlier push's line."""
    return "✅ **Card and zip written** (nothing uploaded): the card is below, the zip is ready to download."


def build() -> None:
    """Lay out the Hub tab and wire its events."""
    sign_in = ("sign in with the button at the top, or paste a token" if on_spaces()
               else "paste a token, or leave the box empty to use `HF_TOKEN` / `hf auth login`")
    gr.Markdown(
        f"Push the model with a model card (metrics, label map, hyperparameters, per-epoch results, confusion matrix, "
        f"training curve). To push, {sign_in}. The token is used for this push only: it is never stored, logged or "
        "written to the card. Repos are private unless you untick the box. Without a network, download the zip "
        "(exactly the folder that would be pushed) and upload it later."
    )
    with gr.Row():
        repo_id = gr.Textbox(label="Repo id", placeholder="your-username/my-classifier", elem_id="hub-repo")
        token = gr.Textbox(label="Hugging Face token (write access)", type="password", elem_id="hub-token",
                           placeholder="hf_… (optional where signed in or HF_TOKEN is set)")
        private = gr.Checkbox(value=True, label="Private repo", elem_id="hub-private")
    with gr.Row():
        dataset_id = gr.Textbox("", label="Training dataset on the Hub (optional)",
                                placeholder="e.g. stanfordnlp/sst2 (one loaded from the Hub in the Data tab is named)")
        example = gr.Textbox("", label="Widget example (optional)", placeholder="defaults to the first training text")
        space_id = gr.Textbox("", label="Demo Space id (optional)", placeholder="default: <repo id>-demo",
                              elem_id="hub-space-id")
    with gr.Row():
        card_btn = gr.Button("Write card and zip (no upload)", elem_id="hub-export-btn")
        push_btn = gr.Button("Push to Hub", variant="primary", elem_id="hub-push-btn")
        space_btn = gr.Button("Push and publish a demo Space", variant="primary", elem_id="hub-space-btn")
    status = gr.Markdown(elem_id="hub-status")
    zip_file = gr.File(label="Download (zip of the model folder)", elem_id="hub-zip")
    images = gr.Gallery(label="Images in the repo", columns=2, height="auto", object_fit="contain", elem_id="hub-images")
    card = gr.Markdown(label="Model card", container=True, elem_id="hub-card")
    outputs = [zip_file, card, images]
    event = push_btn.click(export, [repo_id, dataset_id, example], outputs, api_name="export")
    pushed = event.success(push, [repo_id, token, private], [status], api_name="push")
    pushed.failure(push_failed, None, [status], api_visibility="private")
    # one status line for both actions: each click clears the last action's line, its outcome writes the new one
    push_btn.click(lambda: "", None, [status], queue=False, api_visibility="private")
    card_btn.click(lambda: "", None, [status], queue=False, api_visibility="private")
    space_btn.click(lambda: "", None, [status], queue=False, api_visibility="private")
    to_space = space_btn.click(export, [repo_id, dataset_id, example], outputs, api_visibility="private").success(
        push, [repo_id, token, private], [status], api_visibility="private")
    to_space.failure(push_failed, None, [status], api_visibility="private")
    to_space.success(publish_demo, [repo_id, space_id, token, private, example, status], [status],
                     api_name="publish_space")
    written = card_btn.click(export, [repo_id, dataset_id, example], outputs, api_visibility="private")
    written.success(card_written, None, [status], api_visibility="private")
