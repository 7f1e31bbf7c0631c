"""Pushing a predictor folder to the Hugging Face Hub, and saying clearly why it failed.

The Hub code works on folders, as ``huggingface_hub``'s ``ModelHubMixin`` does: a saved predictor folder goes in,
nothing here knows the :class:`~kdemo.Predictor`. Pushing uses ``huggingface_hub``:
``HfApi.create_repo(exist_ok=True)`` then ``HfApi.upload_folder`` (text files inline; weights and images through LFS
or Xet, as the Hub decides). Downloading a checkpoint is :mod:`kdemo.hub.download`'s job. A token is passed through
per call: it is never written to disk, logged, put in the card, or included in an error message.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

from huggingface_hub import HfApi, constants
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
)

from kdemo.atomic import atomic_file
from kdemo.errors import HubError, HubNetworkError, KdemoError, ModelError, hub_error_type
from kdemo.hub.card import check_card, write_model_card
from kdemo.hub.folder import META_FILE, card_settings
from kdemo.modeling.sources import hub_id_problem, shown

__all__ = [
    "NETWORK_ERRORS", "check_card", "export_zip", "hub_endpoint", "hub_error", "push_to_hub", "validate_repo_id",
    "write_model_card",
]


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exception types meaning "the Hub could not be reached", for the HTTP client this huggingface_hub uses."""
    errors: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):  # huggingface_hub 2.x uses httpx2, 1.x httpx
        try:
            errors.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


NETWORK_ERRORS = _transport_errors()
_HfUriError = getattr(importlib.import_module("huggingface_hub.errors"), "HfUriError", ())  # absent before 2.x

_KEEP_LOCAL = "Your model folder is unchanged: download the zip, or push again once this is fixed."


def hub_endpoint() -> str:
    """The Hub URL: ``HF_ENDPOINT`` as set now (huggingface_hub reads it only at import), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def export_zip(folder: str | os.PathLike, zip_path: str | os.PathLike | None = None) -> Path:
    """Zip exactly the folder that would be pushed (model, tokenizer, kdemo.json, card and its images).

    Args:
        folder: The predictor folder.
        zip_path: Destination ``.zip``; defaults to ``<folder>.zip`` next to the folder.

    Returns:
        The zip file's path. It is written beside that path and renamed into place, so an interrupted export
        leaves the previous zip (or none), never a truncated one.
    """
    folder = Path(folder)
    base = Path(zip_path).with_suffix("") if zip_path else folder
    dest = base.with_name(base.name + ".zip")
    with atomic_file(dest) as tmp:  # tmp ends in .zip: make_archive adds the suffix back
        shutil.make_archive(str(tmp.with_suffix("")), "zip", root_dir=folder)
    return dest


def validate_repo_id(repo_id: str) -> str:
    """Check a Hub repo id of the form ``user-or-org/name``.

    Returns:
        The id without surrounding spaces.

    Raises:
        HubError: If it is empty or malformed; the message says why (spaces, a URL, '..', a third part…).
    """
    repo_id = (repo_id or "").strip()
    problem = hub_id_problem(repo_id, namespace_required=True)
    if problem:
        raise HubError(
            "Expected a repo id like 'your-username/sst2-minilm' (letters, digits, '-', '_', '.'). "
            f"Received: {shown(repo_id)}: {problem}.", repo_id=repo_id or None,
        )
    return repo_id


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    token: str | bool | None = None,
    private: bool = True,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Create the repo if needed and upload the predictor folder, model card included.

    A folder saved by kdemo (it has ``kdemo.json``) whose card was written for another repo id, or that has no
    card, gets its card written for ``repo_id`` first (same dataset and example), so that the card's snippets name
    the repo it is pushed to; a card already written for ``repo_id`` is pushed as it is.

    Args:
        folder: A saved predictor folder (``Predictor.save`` or ``TrainResult.save``); see
            :meth:`kdemo.Predictor.push_to_hub` to push a predictor that is not saved yet.
        repo_id: ``user-or-org/name``.
        token: A Hugging Face token with write access; None uses ``HF_TOKEN`` or the cached login; False sends none.
        private: Create the repo as private (default). An existing repo keeps its visibility.
        commit_message: Commit message.
        endpoint: Hub URL (default: :func:`hub_endpoint`).

    Returns:
        The URL of the commit.

    Raises:
        HubError: On a malformed repo id, or an invalid name or card (400); its subclasses on no or bad token (401)
            or no write access (403): :class:`~kdemo.errors.HubAuthError`; a name conflict (409):
            :class:`~kdemo.errors.HubConflictError`; rate limiting (429): :class:`~kdemo.errors.HubRateLimitError`;
            a Hub outage (5xx): :class:`~kdemo.errors.HubServerError`; no network:
            :class:`~kdemo.errors.HubNetworkError`. Each carries ``status`` and ``repo_id``. The local folder is
            left intact in every case.
    """
    repo_id = validate_repo_id(repo_id)
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise HubError(f"Expected a saved predictor folder (with config.json). Received: {str(folder)!r}.",
                       repo_id=repo_id)
    try:
        settings = card_settings(folder)  # card.json: what the folder's card was written for
        if (folder / META_FILE).exists() and (settings.get("repo_id") != repo_id or not (folder / "README.md").exists()):
            write_model_card(folder, repo_id=repo_id, endpoint=endpoint, dataset_id=settings.get("dataset_id"),
                             example=settings.get("example"))
        api = HfApi(endpoint=endpoint, token=token, library_name="kdemo")
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
        except _HfUriError:
            pass  # huggingface_hub 2.x, custom HF_ENDPOINT: the repo exists but its URL fails to parse; upload decides

        info = api.upload_folder(
            repo_id=repo_id, folder_path=folder, commit_message=commit_message or "Upload kdemo fine-tuned classifier"
        )
        return info.commit_url
    except Exception as exc:  # noqa: BLE001 - mapped to a HubError below, or re-raised as it is
        raise hub_error(exc, repo_id, endpoint=endpoint, token=token, action="push") from None


def _root_cause(exc: BaseException) -> BaseException:
    """The HTTP or network error behind wrappers (huggingface_hub wraps LFS upload failures in RuntimeError)."""
    seen = exc
    while isinstance(seen, RuntimeError) and seen.__cause__ is not None:
        seen = seen.__cause__
    return seen


def _scrub(text: str, token) -> str:
    text = str(text).strip().splitlines()[0][:200] if str(text).strip() else ""
    return text.replace(token, "***") if isinstance(token, str) and token else text


def hub_error(exc: BaseException, repo_id: str, *, endpoint: str, token=None, action: str = "push") -> BaseException:
    """Translate an exception from huggingface_hub into a :class:`~kdemo.errors.HubError` that says what to do.

    The error is typed by the HTTP status (:func:`kdemo.errors.hub_error_type`: :class:`~kdemo.errors.HubAuthError`
    for 401/403, :class:`~kdemo.errors.HubNotFoundError` for 404, :class:`~kdemo.errors.HubConflictError` for 409,
    :class:`~kdemo.errors.HubRateLimitError` for 429, :class:`~kdemo.errors.HubServerError` for 5xx,
    :class:`~kdemo.errors.HubNetworkError` without an answer) and carries ``status`` and ``repo_id``.

    Args:
        exc: The exception raised by the client.
        repo_id: The repo involved.
        endpoint: The Hub URL (named in the offline message).
        token: The token used, scrubbed from any server text that is quoted.
        action: ``"push"`` or ``"load"``, for the wording.

    Returns:
        A :class:`~kdemo.errors.HubError` (or :class:`~kdemo.errors.ModelError` for loading); ``exc`` itself when it
        is already a kdemo error or not a Hub problem at all.
    """
    cause = _root_cause(exc)
    after = _KEEP_LOCAL if action == "push" else "Check the id, or load a local folder instead."
    if isinstance(cause, (HubError, ModelError)):
        return cause
    if isinstance(cause, ValueError) and "Invalid metadata in README.md" in str(cause):
        details = " ".join(str(cause).split())[:300]
        return HubError(f"The Hub rejected the model card's metadata ({details}). {after}", status=400, repo_id=repo_id)
    if isinstance(cause, HFValidationError):
        return HubError(f"Expected a valid repo id like 'your-username/my-model'. Received: {repo_id!r}.",
                        repo_id=repo_id)
    if isinstance(cause, HfHubHTTPError):
        return _http_error(cause, repo_id, token=token, action=action, after=after)
    if isinstance(cause, (LocalEntryNotFoundError, *NETWORK_ERRORS)):
        if action == "load":
            return ModelError(
                f"Could not download {repo_id!r}: the Hugging Face Hub at {endpoint} cannot be reached and the model "
                "is not in the local cache. Check the network, or load a local folder."
            )
        return HubNetworkError(
            f"Could not reach the Hugging Face Hub at {endpoint} ({type(cause).__name__}): this machine seems to be "
            f"offline, or the Hub is down. {_KEEP_LOCAL}", repo_id=repo_id,
        )
    return exc


def _http_error(cause: HfHubHTTPError, repo_id: str, *, token, action: str, after: str) -> KdemoError:
    """The kdemo error of an HTTP error answer (see :func:`hub_error`)."""
    response = getattr(cause, "response", None)
    status = getattr(response, "status_code", None)
    server = ""
    if response is not None:
        try:
            body = response.json()
            server = _scrub(body.get("error", "") if isinstance(body, dict) else "", token)
        except Exception:  # noqa: BLE001 - the body is optional detail
            server = ""
    detail = f": {server}" if server else ""
    if action == "load" and isinstance(cause, GatedRepoError):
        return ModelError(
            f"{repo_id!r} is a gated model ({status}). Accept its terms on its Hub page, then sign in (or paste "
            "a token) to load it."
        )
    if action == "load" and (status in (403, 404) or (status == 401 and not isinstance(token, str))):
        return ModelError(
            f"Expected a model id on the Hub. Received: {repo_id!r}, which does not exist or is private "
            f"({status}). Check the spelling; for a private model sign in or paste a token with read access."
        )
    messages = {
        400: f"The Hub refused the request for {repo_id!r} (400 Bad Request{detail}). If the name is the problem, "
        "use letters, digits, '-', '_' and '.' only, at most 96 characters.",
        401: "The Hub rejected the token (401 Unauthorized): it is missing, invalid, expired or revoked. "
        f"Expected a Hugging Face access token{' with write access' if action == 'push' else ''} "
        "(https://huggingface.co/settings/tokens): paste a new one, or sign in again.",
        403: f"The token has no write access to {repo_id!r} (403 Forbidden{detail}). Use a token with the write "
        "permission, and a namespace you own (your username or an organisation where you can write).",
        409: f"The repo name {repo_id!r} conflicts with an existing repo (409 Conflict{detail}). "
        "Choose another name.",
        429: "The Hub is rate-limiting requests (429 Too Many Requests). Wait a minute and try again.",
    }
    if status in messages:
        message = messages[status]
    elif isinstance(status, int) and status >= 500:
        message = f"The Hub had a server error ({status}). Try again in a few minutes."
    else:
        message = f"The Hub answered with an error ({status}){detail}."
    return hub_error_type(status if isinstance(status, int) else None)(f"{message} {after}", status=status,
                                                                         repo_id=repo_id)
