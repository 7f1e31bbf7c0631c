"""A live demo of a saved model as a Gradio Space on the Hugging Face Hub: its files, and publishing them.

A Space is a repo of type ``space`` (``HfApi.create_repo(repo_type="space", space_sdk="gradio")``) holding an
``app.py`` the Hub runs, a ``requirements.txt`` and a ``README.md`` whose YAML block is the Space's configuration
(https://huggingface.co/docs/hub/spaces-config-reference). kdemo is not on PyPI, so the generated ``app.py`` uses
transformers and torch only: it is rendered from the template the task's spec names (``TaskSpec.space_app``, a file
of ``kdemo/hub/space_apps/``), with what the folder's ``kdemo.json`` records (maxlen, QA post-processing) and the
card's example as default input baked in. The app loads the model from its repo, so the model is pushed first
(:func:`kdemo.hub.push.push_to_hub`). The token is passed per call and never written anywhere.
"""

from __future__ import annotations

import os
import string
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml
from huggingface_hub import CommitOperationAdd, HfApi, SpaceCard

import kdemo.atomic as atomic
from kdemo.errors import HubError
from kdemo.hub.card import example_parts
from kdemo.hub.folder import META_FILE, card_settings, read_json
from kdemo.hub.push import _HfUriError, hub_endpoint, hub_error, validate_repo_id
from kdemo.tasks import folder_spec

#: Where the ``app.py`` templates live (``<TaskSpec.space_app>.py.tmpl``).
TEMPLATES = Path(__file__).with_name("space_apps")
#: The PyPI packages a generated app imports, pinned to this environment's versions in ``requirements.txt``.
RUNTIME_PACKAGES = ("gradio", "transformers", "torch", "tokenizers", "safetensors", "numpy")
#: Emoji of the Space's card, per Hub pipeline tag.
EMOJI = {"text-classification": "🏷️", "token-classification": "🔎", "question-answering": "❓"}


@dataclass(frozen=True)
class SpaceResult:
    """What :func:`publish_space` did.

    Attributes:
        space_id: The Space's repo id (``user/name``).
        url: The Space's page on the Hub (``{endpoint}/spaces/{space_id}``), or the local folder written.
        commit_url: The commit's URL, or None when the files were written locally.
        private: Whether the Space was created private.
        files: The file names written (``app.py``, ``requirements.txt``, ``README.md``).
    """

    space_id: str
    url: str
    commit_url: str | None
    private: bool
    files: tuple[str, ...]


def default_space_id(repo_id: str) -> str:
    """The Space id beside a model repo: the same namespace and name, ``-demo`` added (``alice/m`` → ``alice/m-demo``)."""
    namespace, name = repo_id.split("/")
    return f"{namespace}/{name[:91]}-demo"


def _pinned_requirements() -> str:
    """``requirements.txt``: each runtime package at the version installed here (torch without a ``+cpu`` tag)."""
    lines = []
    for name in RUNTIME_PACKAGES:
        try:
            version = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            continue
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def _example(folder: Path, meta: dict, spec, example: str | None) -> str:
    """The default input: the given example, else the card's (``card.json``), else the training text, else the
    spec's default."""
    return (example or card_settings(folder).get("example") or meta.get("example") or spec.default_example).strip()


def space_files(folder: str | os.PathLike, repo_id: str, *, example: str | None = None) -> dict[str, str]:
    """The text of a demo Space's files for the saved model ``folder``, to be pushed as ``repo_id`` (the model repo).

    Args:
        folder: A saved predictor folder (``kdemo.json`` and ``config.json``; any transformers checkpoint folder
            with ``config.json`` works, with the defaults of its task).
        repo_id: The model's Hub repo id, which ``app.py`` loads (``user/name``).
        example: Default input of the demo (a question and its context on two lines for question answering); None
            uses the model card's example.

    Returns:
        ``{"app.py": ..., "requirements.txt": ..., "README.md": ...}``. ``app.py`` runs with PyPI packages only;
        ``README.md``'s metadata parses as ``huggingface_hub.SpaceCardData`` (``sdk: gradio``, ``sdk_version``,
        ``app_file``, ``models: [repo_id]``, ``title``, ``emoji``, ``short_description``).

    Raises:
        HubError: If ``repo_id`` is malformed or the folder has no ``config.json``.
    """
    repo_id = validate_repo_id(repo_id)
    folder = Path(folder)
    config = read_json(folder / "config.json")
    if config is None:
        raise HubError(f"Expected a saved model folder (with config.json). Received: {str(folder)!r}. Save the "
                       "predictor first.", repo_id=repo_id)
    meta = read_json(folder / META_FILE) or {}
    spec = folder_spec(meta, config)
    text = _example(folder, meta, spec, example)
    parts = example_parts(text, spec)
    pre = meta.get("preprocessor") or {}
    name = repo_id.split("/")[-1]
    title = f"{name} demo"
    description = (f"Try [{repo_id}](https://huggingface.co/{repo_id}), a {spec.title} model fine-tuned with kdemo. "
                   "Runs on the CPU of a free Space.")
    values = {
        "repo_id": repo_id, "title": title.replace('"', "'"), "description": description.replace('"', "'"),
        "example": repr(parts[0] if len(parts) == 1 else tuple(parts)),
        "maxlen": int(meta.get("maxlen") or pre.get("maxlen") or (384 if spec.space_app == "answers" else 512)),
        "activation": "sigmoid" if spec.label_layout == "multi_hot" else "softmax",
        "doc_stride": int(pre.get("doc_stride") or 128), "n_best_size": int(pre.get("n_best_size") or 20),
        "max_answer_length": int(pre.get("max_answer_length") or 30),
        "version_2": bool(pre.get("version_2_with_negative", False)),
        "null_threshold": float(pre.get("null_score_diff_threshold") or 0.0),
    }
    template = (TEMPLATES / f"{spec.space_app}.py.tmpl").read_text(encoding="utf-8")
    app = string.Template(template).substitute(values)
    card = {
        "title": title[:60], "emoji": EMOJI.get(spec.pipeline_tag, "🤗"), "colorFrom": "indigo", "colorTo": "purple",
        "sdk": "gradio", "sdk_version": metadata.version("gradio"),
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}", "app_file": "app.py",
        "pinned": False, "models": [repo_id],
        "short_description": f"Try {spec.title}: {name}"[:60],
    }
    readme = ("---\n" + yaml.safe_dump(card, sort_keys=False, allow_unicode=True) + "---\n\n"
              f"# {title}\n\nA live demo of [{repo_id}](https://huggingface.co/{repo_id}) ({spec.title}), generated "
              "by kdemo. The app loads the model with transformers and torch; run it locally with "
              "`pip install -r requirements.txt && python app.py` (`KDEMO_MODEL=path/to/folder` tries a local "
              "folder). A private model needs an `HF_TOKEN` secret with read access in the Space's settings.\n\n"
              f"Default input:\n\n```\n{text}\n```\n")
    SpaceCard(readme)  # huggingface_hub's own parser: a malformed block raises here, not on the Hub
    return {"app.py": app, "requirements.txt": _pinned_requirements(), "README.md": readme}


def publish_space(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    space_id: str | None = None,
    token: str | bool | None = None,
    private: bool | None = None,
    local_dir: str | os.PathLike | None = None,
    example: str | None = None,
    endpoint: str | None = None,
) -> SpaceResult:
    """Create or update a Gradio Space that demos the model ``repo_id``, in one commit (or write its files locally).

    Args:
        folder: The saved model folder that was pushed as ``repo_id`` (see :func:`space_files`).
        repo_id: The model's repo id on the Hub (``user/name``); the app loads it from there.
        space_id: The Space's id; default :func:`default_space_id` (``user/name-demo``).
        token: A token with write access; None uses ``HF_TOKEN`` or the cached login; False sends none. Never
            stored (a private model's Space needs an ``HF_TOKEN`` secret, which the user adds in its settings).
        private: Create the Space private; None makes it private when the model repo is private (or cannot be read).
            An existing Space keeps its visibility.
        local_dir: Write the files into this folder instead of uploading (nothing is sent to the Hub).
        example: Default input (see :func:`space_files`).
        endpoint: Hub URL (default: :func:`kdemo.hub.push.hub_endpoint`).

    Returns:
        A :class:`SpaceResult` with the Space's URL.

    Raises:
        HubError: On a malformed id or folder; its subclasses on a missing or rejected token (401/403), a name
            conflict (409), rate limiting, a Hub outage or no network (see :func:`kdemo.hub.push.hub_error`).
    """
    repo_id = validate_repo_id(repo_id)
    space_id = validate_repo_id(space_id or default_space_id(repo_id))
    files = space_files(folder, repo_id, example=example)
    if local_dir is not None:
        dest = Path(local_dir)
        dest.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            atomic.write_text(dest / name, text)
        return SpaceResult(space_id, str(dest), None, bool(private), tuple(files))
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    api = HfApi(endpoint=endpoint, token=token, library_name="kdemo")
    try:
        if private is None:
            try:
                private = bool(api.model_info(repo_id).private)
            except Exception:  # noqa: BLE001 - a model we cannot read: keep its demo private too
                private = True
        try:
            api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        except _HfUriError:
            pass  # huggingface_hub 2.x with a custom endpoint: the Space exists; the commit decides
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=text.encode("utf-8"))
                      for name, text in files.items()]
        info = api.create_commit(space_id, operations, repo_type="space",
                                 commit_message=f"Demo of {repo_id} (generated by kdemo)")
    except Exception as exc:  # noqa: BLE001 - mapped to a HubError, or re-raised as it is
        raise hub_error(exc, space_id, endpoint=endpoint, token=token, action="push") from None
    return SpaceResult(space_id, f"{endpoint}/spaces/{space_id}", info.commit_url, bool(private), tuple(files))


def read_space_card(path: str | os.PathLike) -> dict:
    """The metadata of a Space's ``README.md`` as huggingface_hub parses it (``SpaceCard.load(path).data``)."""
    return SpaceCard.load(Path(path)).data.to_dict()


__all__ = ["SpaceResult", "default_space_id", "publish_space", "read_space_card", "space_files"]
