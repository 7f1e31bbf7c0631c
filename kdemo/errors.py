"""User-facing error types.

Every error kdemo raises on bad input is a :class:`KdemoError`. Its message is written for the person who
made the mistake: what was expected, what was received, and what to do. The UI shows the message as it is
(``kdemo.ui.errors`` converts it to ``gr.Error`` in exactly one place), so messages never contain tracebacks.

Hub failures are typed, as ``huggingface_hub.errors`` types them: a :class:`HubError` carries the HTTP ``status``
and the ``repo_id`` involved, and its subclasses name the common cases (:class:`HubAuthError` for 401/403,
:class:`HubNotFoundError` for 404, :class:`HubConflictError` for 409, :class:`HubRateLimitError` for 429,
:class:`HubServerError` for 5xx, :class:`HubNetworkError` when the Hub cannot be reached), so that a caller tells
them apart by type or attribute, never by the message's text. Each is still a :class:`HubError`.
"""

from __future__ import annotations


class KdemoError(ValueError):
    """Base class of every error kdemo raises on user input or environment problems."""


class DataError(KdemoError):
    """The data file or table cannot be used as given (format, columns, labels, size)."""


class ModelError(KdemoError):
    """A model cannot be loaded, built or used (unknown id, no network, incompatible folder)."""


class TrainingError(KdemoError):
    """Training cannot start or continue (no data, wrong state, invalid hyperparameters)."""


class HubError(KdemoError):
    """Pushing to or talking with the Hugging Face Hub failed (token, permissions, network).

    Args:
        message: What went wrong and what to do (never a token).
        status: The HTTP status the Hub answered with, or None (no answer, or a check made before any request).
        repo_id: The repo involved, or None.

    Attributes:
        status: As given.
        repo_id: As given.

    Example:
        >>> try:
        ...     push_to_hub(folder, "me/model", token=token)
        ... except HubAuthError as exc:
        ...     print("sign in again", exc.status)  # 401 or 403
    """

    def __init__(self, message: str, *, status: int | None = None, repo_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.repo_id = repo_id


class HubAuthError(HubError):
    """The Hub refused the token (401: missing, invalid or expired) or its rights (403: no write access)."""


class HubNotFoundError(HubError):
    """The repo does not exist, or is private and the token cannot see it (404)."""


class HubConflictError(HubError):
    """The repo name conflicts with an existing repo, or a concurrent commit (409)."""


class HubRateLimitError(HubError):
    """The Hub is rate-limiting this client (429)."""


class HubServerError(HubError):
    """The Hub had a server error (5xx)."""


class HubNetworkError(HubError):
    """The Hub could not be reached (no network, DNS, refused connection, timeout): no HTTP status."""


#: The :class:`HubError` subclass of each HTTP status (5xx: :class:`HubServerError`; others: :class:`HubError`).
HUB_ERROR_TYPES: dict[int, type[HubError]] = {
    401: HubAuthError, 403: HubAuthError, 404: HubNotFoundError, 409: HubConflictError, 429: HubRateLimitError,
}


def hub_error_type(status: int | None) -> type[HubError]:
    """The :class:`HubError` subclass for an HTTP status.

    Args:
        status: The HTTP status code, or None when the Hub gave no answer.

    Returns:
        :data:`HUB_ERROR_TYPES`' entry; :class:`HubServerError` for 5xx; :class:`HubError` otherwise (None
        included: a failure without an answer is :class:`HubNetworkError` only where the caller knows it was the
        network).
    """
    if status is None:
        return HubError
    if status >= 500:
        return HubServerError
    return HUB_ERROR_TYPES.get(status, HubError)
