"""One copy of a model for every session that loads the same saved folder, keyed by the folder's content hash.

Thirty visitors who load the same fine-tuned model would otherwise hold thirty copies of its weights (about 90 MB
each for MiniLM) and, since :class:`kdemo.inference.batcher.MicroBatcher` batches only requests for the same model
object, run thirty separate forward passes. :func:`load_shared` hands every such session its own
:class:`~kdemo.inference.predictor.Predictor` (its own labels, thresholds and settings) around one shared module
and tokenizer.

Why sharing is safe here: a loaded predictor is used read-only. Prediction runs under ``torch.inference_mode`` in
eval mode; attention maps switch the module to eager attention under a process-wide lock and back (the outputs are
the same either way); attributions take gradients with respect to a detached copy of the embeddings, not the
weights; training never starts from a loaded predictor (it builds a new model from the base checkpoint), and
saving writes the same files. The cache holds only weak references: when the last session holding a model is
removed, the model is freed.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
import weakref
from pathlib import Path

from kdemo.inference.base import BasePredictor, load_predictor

_LOCK = threading.Lock()
#: content hash -> weak references to predictors sharing one module (any one alive is a template)
_LIVE: dict[str, list[weakref.ref]] = {}
_CHUNK = 1 << 20


def folder_digest(folder: str | os.PathLike) -> str:
    """SHA-256 of a folder's files (symlinks followed, as in a Hub download): their relative paths and contents, in
    sorted order.

    Args:
        folder: A predictor folder.

    Returns:
        64 hex digits; equal for folders with the same files and bytes.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    # a Hub download is a folder of symlinks into the cache's blobs: hash what they point to (is_file follows them)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _alive(digest: str) -> BasePredictor | None:
    refs = _LIVE.get(digest, [])
    refs[:] = [r for r in refs if r() is not None]
    if not refs:
        _LIVE.pop(digest, None)
        return None
    return refs[0]()


def load_shared(folder: str | os.PathLike, batch_size: int = 32) -> BasePredictor:
    """:func:`~kdemo.inference.predictor.load_predictor`, sharing the module with predictors of the same content.

    Args:
        folder: A predictor folder (torch backend).
        batch_size: Rows per forward pass of the returned predictor.

    Returns:
        A new predictor of the folder's task (:class:`~kdemo.inference.predictor.Predictor` or
        :class:`~kdemo.inference.ner_predictor.NERPredictor`); its ``model`` and ``tokenizer`` are the objects of
        any live predictor loaded from a folder with the same :func:`folder_digest`, else freshly loaded.

    Raises:
        ModelError: As :func:`~kdemo.inference.predictor.load_predictor`.
    """
    digest = folder_digest(folder)
    with _LOCK:
        template = _alive(digest)
    if template is None:
        predictor = load_predictor(folder, batch_size=batch_size)
    else:
        predictor = copy.copy(template)  # shares model and tokenizer; own labels, thresholds and settings below
        predictor.meta, predictor.class_names = dict(template.meta), list(template.class_names)
        predictor.batch_size = int(batch_size)
        if hasattr(template, "thresholds"):  # a classifier's (an NERPredictor has none)
            predictor.thresholds = list(template.thresholds)
        if hasattr(template, "_preproc"):
            predictor._preproc = None
    with _LOCK:
        _LIVE.setdefault(digest, []).append(weakref.ref(predictor))
    return predictor


def shared_count() -> int:
    """Distinct models currently shared (content hashes with a live predictor)."""
    with _LOCK:
        return sum(_alive(d) is not None for d in list(_LIVE))
