"""The saved model folder's schema: its files, which one owns which fact, and how it stays publishable.

A folder written by :meth:`kdemo.Predictor.save` or :meth:`kdemo.run.result.TrainResult.save` is what the zip holds
and what a push uploads. Each fact has one owner, the file that writes it first; the others read it from there:

* ``config.json`` (transformers' ``save_pretrained``): the architecture, ``id2label``/``label2id`` (the class names:
  ``transformers.pipeline`` needs them there) and ``problem_type``.
* ``kdemo.json`` (the predictor's ``write``): what kdemo needs to load and describe the model: ``task``,
  ``class_names`` (kdemo's loaders read them here, so that a folder without kdemo's files still loads from
  ``config.json``), ``maxlen``, ``thresholds``, ``base_model``, ``metrics`` (the validation scores), ``example``
  (the first training text, :meth:`kdemo.run.data.RunData.example`), ``dataset_name``, ``languages``.
* ``training_params.json`` (:meth:`~kdemo.run.result.TrainResult.save`): the run: its ``config`` (what
  ``TrainConfig.from_json`` and ``python -m kdemo train --config`` read back), the ``resolved`` settings, the
  ``environment``; its ``metrics`` repeat ``kdemo.json``'s so the file stands alone. A folder saved without a run
  gets one from the card (the hyperparameters ``kdemo.json`` records), written once, never rewritten.
* ``training_results.json`` and its images (:class:`kdemo.record.TrainingRecord`): per-epoch results, step losses,
  class balance, the evaluation report.
* ``card.json`` (:func:`kdemo.hub.card.write_model_card`): what the card was written for (``repo_id``,
  ``dataset_id``, ``example``); :func:`kdemo.hub.push.push_to_hub` decides from it whether to write the card again.
* ``README.md``: the model card, derived from all of the above; writing it changes no other file.

Nothing in a folder names a local path: data files and a base model given as a folder are written as
``local:<name>`` (:func:`without_local_paths`).

Facts still written more than once, because a reader or a test of that file needs them there: the class names in
``config.json`` (``id2label``), ``kdemo.json`` (``load_predictor``), ``training_params.json`` ``resolved``
(tests/run/test_run.py) and ``training_results.json`` (:class:`~kdemo.record.TrainingRecord`'s field, the balance
table's order); the task in ``config.json`` (``problem_type``), ``kdemo.json``, ``training_params.json``
(``config``, ``resolved``) and ``training_results.json``; the validation metrics in ``kdemo.json``,
``training_params.json`` and ``training_results.json`` (``evaluation``). All are written once, at save time, by
the same run; afterwards nothing copies one file into another, but for the ``training_params.json`` the card
writes once into a folder saved without a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import kdemo.atomic as atomic

#: kdemo's own facts of a predictor (written by the predictor's ``write``).
META_FILE = "kdemo.json"
#: The file a saved run keeps its definition and outcome in (written by ``TrainResult.save``, read back by
#: ``TrainConfig.from_json`` and by the card).
PARAMS_FILE = "training_params.json"
#: What the folder's card was written for (:func:`card_settings`).
CARD_FILE = "card.json"
#: Entry of ``kdemo.json`` where folders written before :data:`CARD_FILE` recorded it (read, never written).
CARD_KEY = "card"
#: Marks a local folder or file reduced to its name (Hub ids never contain ":").
LOCAL_PREFIX = "local:"
#: Keys whose values name local files or folders (data files, a base model given as a folder).
PATH_KEYS = frozenset({"base_model", "model_name", "train_file", "val_file"})
#: Keys whose values are always data files: published by name only, whatever the path looks like.
FILE_KEYS = frozenset({"train_file", "val_file"})


def is_local_path(name: str) -> bool:
    """Whether a model name is a local folder (``local:…``, ``.``/``~``-relative, absolute, existing): no Hub id."""
    return name.startswith((LOCAL_PREFIX, ".", "~")) or Path(name).is_absolute() or Path(name).exists()


def without_local_paths(value, key: str | None = None):
    """Publishable copy of a JSON-like value (``kdemo.json``, ``training_params.json``): the values of
    :data:`PATH_KEYS` that name a local file or folder become ``local:<last component>`` (recursively).

    Data files (:data:`FILE_KEYS`) always do, relative paths included; a model name does when it is a path (absolute,
    ``~``, ``.`` or an existing folder) and stays as it is when it is a Hub id. Other values (class names such as
    ``"/r/news"``, column names) are never touched.

    Args:
        value: The JSON-like value.
        key: The key ``value`` is stored under (for recursion).

    Returns:
        The copy.
    """
    if isinstance(value, dict):
        return {k: without_local_paths(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [without_local_paths(v, key) for v in value]
    if isinstance(value, str) and key in PATH_KEYS and not value.startswith(LOCAL_PREFIX):
        if key in FILE_KEYS or is_local_path(value):
            return LOCAL_PREFIX + Path(value.rstrip("/\\")).name
    return value


def read_json(path: str | os.PathLike) -> dict | None:
    """A JSON object file's content, or None when it is missing, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def make_publishable(folder: str | os.PathLike) -> list[Path]:
    """Give the folder's ``kdemo.json`` and ``training_params.json`` their publishable form where they still name a
    local path (``local:<name>``, :func:`without_local_paths`).

    ``TrainResult.save`` writes ``training_params.json`` publishable already; a predictor's ``write`` still writes
    ``kdemo.json`` as its ``meta`` holds it (a base model given as a local folder keeps its path), and folders
    written by older kdemo versions may name paths too. Where a folder names none, this rewrites nothing; once every
    writer applies :func:`without_local_paths`, it only migrates older folders.

    Args:
        folder: The saved folder.

    Returns:
        The files rewritten (empty for a publishable folder).
    """
    rewritten = []
    for name in (META_FILE, PARAMS_FILE):
        path = Path(folder) / name
        content = read_json(path)
        if content is not None and (public := without_local_paths(content)) != content:
            atomic.write_text(path, json.dumps(public, indent=2, default=str))
            rewritten.append(path)
    return rewritten


def card_settings(folder: str | os.PathLike) -> dict:
    """What the folder's card was last written for: ``{"repo_id", "dataset_id", "example"}`` ({} before any card).

    Read from :data:`CARD_FILE`; a folder written by an older kdemo keeps them in ``kdemo.json``'s ``"card"`` entry.
    :func:`kdemo.hub.push.push_to_hub` writes the card again, with the same dataset and example, only when it was
    written for another repo (its snippets would point elsewhere); a card written for the pushed repo, maybe edited
    by hand, is pushed as it is.

    Args:
        folder: The saved folder.

    Returns:
        The settings (a new dict).
    """
    settings = read_json(Path(folder) / CARD_FILE)
    if settings is None:
        settings = (read_json(Path(folder) / META_FILE) or {}).get(CARD_KEY)
    return dict(settings) if isinstance(settings, dict) else {}


def write_card_settings(folder: str | os.PathLike, *, repo_id: str, dataset_id: str | None,
                        example: str | None) -> Path:
    """Record what the folder's card is written for in :data:`CARD_FILE` (see :func:`card_settings`).

    Args:
        folder: The saved folder.
        repo_id: The repo the card's snippets name.
        dataset_id: The Hub dataset id given for the card, or None.
        example: The widget example given for the card (None: the folder's own, ``kdemo.json``'s ``example``).

    Returns:
        The file's path.
    """
    path = Path(folder) / CARD_FILE
    atomic.write_text(path, json.dumps({"repo_id": repo_id, "dataset_id": dataset_id, "example": example}, indent=2))
    return path
