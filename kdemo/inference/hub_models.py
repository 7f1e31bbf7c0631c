"""Loading a fine-tuned classifier or token classifier from the Hugging Face Hub (or a local folder) as a ready
predictor."""

from __future__ import annotations

from kdemo.hub.download import classifier_folder
from kdemo.inference.base import BasePredictor, load_predictor
from kdemo.inference.shared_models import load_shared
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy


def load_from_hub(
    source: str,
    *,
    token: str | bool | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    batch_size: int = 32,
    use_cache_offline: bool = True,
    policy: FolderPolicy = DEFAULT_POLICY,
    share: bool = False,
) -> BasePredictor:
    """Load any sequence- or token-classification checkpoint from the Hub or a local folder, ready to predict (no
    training).

    Only ``config.json``, safetensors weights, tokenizer files and ``kdemo.json`` are downloaded; pickled weights
    and custom code are never fetched or run. Access is checked with ``token`` on every call, even when the files
    are cached.

    Args:
        source: A Hub model id (``"org/name"``) or a local folder with ``config.json``.
        token: Token for private or gated models; None uses ``HF_TOKEN`` or the cached login; False sends none.
        revision: Branch, tag or commit (default: ``main``).
        endpoint: Hub URL (default: :func:`kdemo.hub.push.hub_endpoint`).
        batch_size: Rows per forward pass.
        use_cache_offline: When the Hub cannot be reached, load a cached copy (turn off on shared servers, where
            the cache holds other users' private models).
        policy: Which local folders ``source`` may name (:class:`kdemo.modeling.sources.FolderPolicy`); the app
            passes the session's own folder, and allows no other local folder on a Space.
        share: Share the model module with live predictors loaded from a folder with the same content
            (:func:`kdemo.inference.shared_models.load_shared`; the web app does, so that sessions that load the same
            model hold one copy and their predictions batch together).

    Returns:
        The predictor of the checkpoint's task (:func:`kdemo.tasks.folder_spec`): a :class:`~kdemo.Predictor` for
        a sequence classifier or regressor, a :class:`~kdemo.NERPredictor` for a token classifier (both
        :class:`~kdemo.inference.base.BasePredictor`).

    Raises:
        ModelError: If the id is malformed, unknown, private without a token, gated, unreachable offline and not
            cached, or not a safetensors sequence- or token-classification checkpoint; if the folder is refused by
            ``policy`` or asks for custom code.
    """
    folder = classifier_folder(source, token=token, revision=revision, endpoint=endpoint,
                               use_cache_offline=use_cache_offline, policy=policy)
    if share:
        return load_shared(folder, batch_size=batch_size)
    return load_predictor(folder, batch_size=batch_size)
