"""Signing in to the Hugging Face Hub: Spaces OAuth (``gr.LoginButton`` + ``gr.OAuthToken``) or a pasted token.

On a Space with ``hf_oauth: true`` in the README header, a "Sign in with Hugging Face" button appears and handlers
receive the visitor's own token through a ``gr.OAuthToken | None`` parameter (Gradio injects it from the signed
session cookie; it is None when nobody is signed in, and always None when not running on a Space). Locally, the
token comes from the Hub tab's password box, or from ``HF_TOKEN`` / ``hf auth login``.

On a Space the Space's own ``HF_TOKEN`` secret (if any) is never used for visitors: a push needs the visitor's
sign-in or pasted token, so models land under the visitor's identity. Tokens live only in the request.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import gradio as gr
from gradio import oauth as gradio_oauth
from gradio.utils import get_space

from kdemo.errors import HubAuthError
from kdemo.run.models import FolderPolicy

log = logging.getLogger("kdemo.ui")


def on_spaces() -> bool:
    """Whether the app runs on Hugging Face Spaces (``SYSTEM=spaces`` and ``SPACE_ID`` set)."""
    return get_space() is not None


def folder_policy(workdir: Path, sessions_root: Path | None = None) -> FolderPolicy:
    """Which local model folders a session may load: its own working folder always, another session's never
    (``sessions_root`` holds them all), and on a Space no other local folder (the server's disk is not the
    visitor's)."""
    return FolderPolicy(allow_local=not on_spaces(), own_folder=workdir, sessions_root=sessions_root)


def _oauth_extras_installed() -> bool:
    """Whether ``gradio[oauth]`` (authlib, itsdangerous), which Gradio's OAuth routes import, is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("authlib", "itsdangerous"))


def oauth_available() -> bool:
    """Whether "Sign in with Hugging Face" can work here: on a Space with ``hf_oauth: true`` and ``gradio[oauth]``."""
    if not on_spaces():
        return False
    configured = all([gradio_oauth.OAUTH_CLIENT_ID, gradio_oauth.OAUTH_CLIENT_SECRET, gradio_oauth.OAUTH_SCOPES,
                      gradio_oauth.OPENID_PROVIDER_URL])
    if configured and not _oauth_extras_installed():
        log.warning("hf_oauth is on but gradio[oauth] is not installed: add it to requirements.txt to show sign-in")
        return False
    return configured


def login_button() -> gr.LoginButton | None:
    """Render the sign-in button where OAuth works (on a configured Space); elsewhere render nothing.

    Gradio mocks OAuth off Spaces by calling the Hub with the machine's own login, which fails offline; so the
    button is only created where the real flow exists.
    """
    if not oauth_available():
        return None
    return gr.LoginButton(value="Sign in with Hugging Face to push models", logout_value="Sign out ({})", size="sm")


def token_for(pasted: str | None, oauth_token: gr.OAuthToken | None, *, write: bool) -> str | bool | None:
    """The token to send to the Hub for this request.

    Args:
        pasted: The Hub tab's password box (wins when filled).
        oauth_token: The signed-in visitor's token on a Space, else None.
        write: Whether the call writes (push) rather than reads (load a model).

    Returns:
        A token string; None to let huggingface_hub use ``HF_TOKEN`` or the cached login (local runs only); or
        False to send no token (anonymous reads on a Space).

    Raises:
        HubAuthError: On a Space, for a write without sign-in or pasted token (status None: no request made).
    """
    pasted = (pasted or "").strip()
    if pasted:
        return pasted
    if oauth_token is not None and getattr(oauth_token, "token", None):
        return oauth_token.token
    if not on_spaces():
        return None
    if write:
        raise HubAuthError(
            "Expected you to be signed in to push. Received: no sign-in and no token. Press 'Sign in with Hugging "
            "Face' at the top of the page (or paste a write token in the Hub tab), then push again."
        )
    return False
