"""Downloading a classifier checkpoint from the Hugging Face Hub into the local cache, safely.

Only ``config.json``, safetensors weights, tokenizer files and ``kdemo.json`` are downloaded (``snapshot_download``
with ``allow_patterns``): no pickles, no custom code (``trust_remote_code`` stays off). Access is checked with the
caller's token on every call, even when the files are cached. The result is a folder; turning it into a predictor
is :func:`kdemo.inference.hub_models.load_from_hub`'s job.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import RevisionNotFoundError

from kdemo.errors import ModelError
from kdemo.hub.push import NETWORK_ERRORS, _root_cause, hub_endpoint, hub_error
from kdemo.modeling.sources import (
    DEFAULT_POLICY,
    FolderPolicy,
    check_model_folder,
    local_model_folder,
    require_safetensors,
)

#: Files downloaded when loading a model from the Hub: weights as safetensors only, no pickles, no Python code.
MODEL_FILES = [
    "config.json", "*.safetensors", "model.safetensors.index.json", "kdemo.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "*.tiktoken",
]

def _check_classifier(folder: Path, source: str) -> None:
    """Refuse checkpoints kdemo would load wrongly or unsafely: custom code, no safetensors weights (pickles are never
    opened), or no trained classification head (a text classifier's, or a token classifier's for NER)."""
    check_model_folder(folder, source)
    require_safetensors(folder, source)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    if not any(str(a).endswith(("ForSequenceClassification", "ForTokenClassification")) for a in architectures):
        raise ModelError(
            "Expected a fine-tuned sequence- or token-classification checkpoint. "
            f"Received: {source!r} with architectures "
            f"{architectures}, which has no trained classification head. Fine-tune it in the Train tab first, or "
            "load a text-classification model (e.g. 'distilbert/distilbert-base-uncased-finetuned-sst-2-english')."
        )


def _download(source: str, *, token, revision: str | None, endpoint: str, use_cache_offline: bool) -> Path:
    """Download the model files of ``source`` after checking, with the caller's own token, that they may read it.

    ``snapshot_download`` alone falls back to the local cache when the Hub refuses a request, which would hand a
    cached private model to anyone asking for its id on a shared server. Here access is checked first; the cache
    is used only when the Hub cannot be reached at all (and ``use_cache_offline`` allows it).
    """
    online = True
    try:
        HfApi(endpoint=endpoint, token=token).model_info(source, revision=revision)
    except RevisionNotFoundError:
        raise ModelError(f"Expected an existing revision of {source!r}. Received: {revision!r}.") from None
    except Exception as exc:  # noqa: BLE001 - mapped to a clear message, or re-raised as it is
        if not (use_cache_offline and isinstance(_root_cause(exc), NETWORK_ERRORS)):
            raise hub_error(exc, source, endpoint=endpoint, token=token, action="load") from None
        online = False
    try:  # the revision as asked (not the commit), so that the cache records where "main" points for offline use
        folder = Path(snapshot_download(
            source, revision=revision, token=token, endpoint=endpoint, allow_patterns=MODEL_FILES,
            local_files_only=not online,
        ))
    except Exception as exc:  # noqa: BLE001 - mapped to a clear message, or re-raised as it is
        raise hub_error(exc, source, endpoint=endpoint, token=token, action="load") from None
    if not (folder / "config.json").exists():
        raise ModelError(f"Expected a model repo with config.json. Received: {source!r}, which has none.")
    return folder


def classifier_folder(
    source: str,
    *,
    token: str | bool | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    use_cache_offline: bool = True,
    policy: FolderPolicy = DEFAULT_POLICY,
) -> Path:
    """The local folder of a sequence-classification checkpoint named by a Hub id or a local path, checked.

    Args:
        source: A Hub model id (``"org/name"``) or a local folder with ``config.json``.
        token: Token for private or gated models; None uses ``HF_TOKEN`` or the cached login; False sends none.
        revision: Branch, tag or commit (default: ``main``).
        endpoint: Hub URL (default: :func:`kdemo.hub.push.hub_endpoint`).
        use_cache_offline: When the Hub cannot be reached, use a cached copy (turn off on shared servers, where
            the cache holds other users' private models).
        policy: Which local folders ``source`` may name (:class:`kdemo.modeling.sources.FolderPolicy`).

    Returns:
        The folder holding ``config.json``, safetensors weights and the tokenizer.

    Raises:
        ModelError: If the id is malformed, unknown, private without a token, gated, unreachable offline and not
            cached, or not a safetensors sequence-classification checkpoint; if the folder is refused by
            ``policy`` or asks for custom code.
    """
    source = (source or "").strip()
    if not source:
        raise ModelError("Expected a Hub model id (e.g. 'org/name') or a local folder. Received: an empty box.")
    from kdemo.modeling.classifier import resolve_model_source

    folder = local_model_folder(source, policy)
    if folder is None:
        resolved = resolve_model_source(source, policy=policy)  # raises ModelError on malformed ids
        if resolved != source:  # the embedded default model, shipped in a package
            folder = Path(resolved)
        else:
            endpoint = (endpoint or hub_endpoint()).rstrip("/")
            folder = _download(source, token=token, revision=revision, endpoint=endpoint,
                               use_cache_offline=use_cache_offline)
    _check_classifier(folder, source)
    return folder
