"""Model cards, zip export and pushing a predictor folder to the Hugging Face Hub.

Pushing uses ``huggingface_hub``: ``HfApi.create_repo(exist_ok=True)`` then ``HfApi.upload_folder``. The token is
passed through per call; it is never written to disk, logged, or put in the card.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

from kdemo.errors import HubError


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

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")

CARD_TEMPLATE = """\
---
{{ card_data }}
---

# {{ model_name }}

A text classifier fine-tuned from {% if base_model != "unknown" %}[{{ base_model }}](https://huggingface.co/{{ base_model }}){% else %}a local checkpoint{% endif %}
with kdemo (Keras 3 on PyTorch, ktrain-style one-cycle training).

## Labels
| id | label |
|---|---|
{% for i, name in labels %}| {{ i }} | {{ name }} |
{% endfor %}
## Results (validation split)
{% if accuracy is not none %}- accuracy: **{{ '%.4f' % accuracy }}**
- macro-F1: **{{ '%.4f' % macro_f1 }}** ({{ num_rows }} rows)
{% else %}Not evaluated.
{% endif %}
## Training hyperparameters
{% for k, v in hyperparameters %}- {{ k }}: {{ v }}
{% endfor %}
## How to use
```python
from transformers import pipeline

clf = pipeline("text-classification", model="{{ repo_id }}", truncation=True)
clf({{ example | tojson }}, top_k=None)
```

Or with kdemo: `kdemo.load_predictor(folder).predict(text)`.

## Framework versions
{% for k, v in versions %}- {{ k }}: {{ v }}
{% endfor %}
"""


def _versions() -> dict[str, str]:
    import keras
    import torch
    import transformers

    from kdemo import __version__

    return {"kdemo": __version__, "transformers": transformers.__version__, "keras": keras.__version__, "torch": torch.__version__}


def write_model_card(folder: str | os.PathLike, *, repo_id: str | None = None, example: str | None = None) -> ModelCard:
    """Write ``README.md`` (the model card) into a saved predictor folder.

    The card's metadata has ``library_name: transformers``, ``pipeline_tag: text-classification``, the base model,
    the metrics and a ``model-index`` with the validation results; the body lists labels, results,
    hyperparameters, a ``pipeline()`` snippet and framework versions. Facts come from the folder's ``kdemo.json``.

    Args:
        folder: A folder written by :meth:`kdemo.Predictor.save`.
        repo_id: Hub repo the card describes (used in the snippet); defaults to the folder name.
        example: Example text for the Hub widget and the snippet.

    Returns:
        The written ``huggingface_hub.ModelCard``.

    Raises:
        HubError: If the folder has no ``kdemo.json``.
    """
    folder = Path(folder)
    meta_path = folder / "kdemo.json"
    if not meta_path.exists():
        raise HubError(f"Expected a saved predictor folder (with kdemo.json). Received: {str(folder)!r}.")
    meta = json.loads(meta_path.read_text())
    metrics = meta.get("metrics") or {}
    base_model = meta.get("base_model") or "unknown"
    if Path(base_model).is_absolute() or base_model.startswith((".", "~")):
        base_model = "unknown"  # a local folder: no Hub link, and no local path in a public card
    repo_id = repo_id or folder.name
    example = example or meta.get("example") or "This is a great movie!"
    eval_results = None
    if "accuracy" in metrics:
        dataset = meta.get("dataset_name") or "custom"
        eval_results = [
            EvalResult(task_type="text-classification", dataset_type=dataset, dataset_name=dataset, dataset_split="validation",
                       metric_type="accuracy", metric_value=round(float(metrics["accuracy"]), 4)),
            EvalResult(task_type="text-classification", dataset_type=dataset, dataset_name=dataset, dataset_split="validation",
                       metric_type="f1", metric_value=round(float(metrics["macro_f1"]), 4), metric_config="macro"),
        ]
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-classification",
        base_model=base_model if base_model != "unknown" else None,
        metrics=["accuracy", "f1"] if eval_results else None,
        eval_results=eval_results,
        model_name=repo_id.split("/")[-1],
        tags=["text-classification", "kdemo"],
        widget=[{"text": example}],
    )
    hyper = meta.get("training") or {}
    card = ModelCard.from_template(
        data,
        template_str=CARD_TEMPLATE,
        model_name=repo_id.split("/")[-1],
        base_model=base_model,
        repo_id=repo_id,
        labels=list(enumerate(meta.get("class_names", []))),
        accuracy=metrics.get("accuracy"),
        macro_f1=metrics.get("macro_f1"),
        num_rows=metrics.get("num_rows"),
        hyperparameters=sorted(hyper.items()),
        versions=sorted(_versions().items()),
        example=example,
    )
    card.save(folder / "README.md")
    return card


def export_zip(folder: str | os.PathLike, zip_path: str | os.PathLike | None = None) -> Path:
    """Zip exactly the folder that would be pushed (model, tokenizer, kdemo.json, README.md).

    Args:
        folder: The predictor folder.
        zip_path: Destination ``.zip``; defaults to ``<folder>.zip`` next to the folder.

    Returns:
        The zip file's path.
    """
    folder = Path(folder)
    base = Path(zip_path).with_suffix("") if zip_path else folder
    return Path(shutil.make_archive(str(base), "zip", root_dir=folder))


def validate_repo_id(repo_id: str) -> str:
    """Check a Hub repo id of the form ``user-or-org/name``.

    Raises:
        HubError: If it is empty or malformed.
    """
    repo_id = (repo_id or "").strip()
    if not _REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise HubError(
            f"Expected a repo id like 'your-username/sst2-minilm' (letters, digits, '-', '_', '.'). Received: {repo_id!r}."
        )
    return repo_id


def push_to_hub(
    predictor_or_dir,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = True,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Create the repo if needed and upload the predictor folder, model card included.

    Args:
        predictor_or_dir: A :class:`kdemo.Predictor` (saved to a temporary folder first) or a saved folder.
        repo_id: ``user-or-org/name``.
        token: A Hugging Face token with write access; None uses ``HF_TOKEN`` or the cached login.
        private: Create the repo as private (default).
        commit_message: Commit message.
        endpoint: Hub URL (default: huggingface.co or ``HF_ENDPOINT``).

    Returns:
        The URL of the commit.

    Raises:
        HubError: On a malformed repo id, no or bad token (401), no write access (403), a name conflict (409),
            rate limiting (429), or no network. The local folder is left intact in every case.
    """
    repo_id = validate_repo_id(repo_id)
    tmp = None
    if isinstance(predictor_or_dir, (str, os.PathLike)):
        folder = Path(predictor_or_dir)
    else:
        tmp = tempfile.mkdtemp(prefix="kdemo-push-")
        folder = predictor_or_dir.save(Path(tmp) / repo_id.split("/")[-1])
    if not (folder / "README.md").exists():
        write_model_card(folder, repo_id=repo_id)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message or "Upload kdemo fine-tuned classifier")
        return info.commit_url
    except HfHubHTTPError as exc:
        raise _http_error(exc, repo_id) from None
    except HFValidationError as exc:
        raise HubError(f"Expected a valid repo id. Received: {repo_id!r} ({exc}).") from None
    except (*NETWORK_ERRORS, OSError) as exc:
        raise HubError(
            f"Could not reach the Hugging Face Hub ({type(exc).__name__}). This machine seems to be offline. "
            "Download the zip instead and upload it later."
        ) from None
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _http_error(exc: HfHubHTTPError, repo_id: str) -> HubError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    messages = {
        401: "The Hub rejected the token (401 Unauthorized). Paste a valid token with write access "
        "(https://huggingface.co/settings/tokens).",
        403: f"The token has no write access to {repo_id!r} (403 Forbidden). Use a write token, or a namespace you own.",
        409: f"The repo name {repo_id!r} conflicts with an existing repo you cannot write to (409). Choose another name.",
        429: "The Hub is rate-limiting requests (429). Wait a minute and push again.",
    }
    return HubError(messages.get(status, f"The Hub answered with an error ({status}): {str(exc).splitlines()[0][:200]}"))
