"""The Hub tab's "publish a demo Space" step: after the model is pushed, :func:`kdemo.hub.space.publish_space` with
the visitor's token (signed-in or pasted, for this call only), and the Space's URL on the page."""

from __future__ import annotations

import gradio as gr

from kdemo.hub.push import hub_endpoint, validate_repo_id
from kdemo.hub.space import publish_space
from kdemo.ui.auth import token_for
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE


@user_errors
def publish_demo(repo_id: str, space_id: str, token: str, private: bool, example: str, pushed: str,
                 oauth_token: gr.OAuthToken | None, request: gr.Request) -> str:
    """Publish (create or update) the demo Space of the pushed model ``repo_id``.

    Args:
        repo_id: The model's repo id (just pushed).
        space_id: The Space's id; empty uses ``<repo_id>-demo``.
        token: A pasted write token, or empty for the signed-in visitor's (or ``HF_TOKEN`` locally).
        private: The model repo's visibility box: a private model gets a private Space.
        example: The widget example box (the demo's default input when filled).
        pushed: The status line of the push, kept above the Space's line.

    Returns:
        Markdown: the push's line, then the Space's URL.
    """
    session = STORE.get(request)
    repo_id = validate_repo_id(repo_id)
    result = publish_space(session.workdir / "model", repo_id, space_id=(space_id or "").strip() or None,
                           token=token_for(token, oauth_token, write=True), private=bool(private),
                           example=(example or "").strip() or None, endpoint=hub_endpoint())
    secret = (" It is private, as the model: add an `HF_TOKEN` secret (read access) in the Space's settings so that "
              "it can load the model." if result.private else "")
    return (f"{pushed}\n\n🚀 Demo Space published: [{result.url}]({result.url}) (app.py, requirements.txt, "
            f"README.md; it starts building on the Hub).{secret}")
