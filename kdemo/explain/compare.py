"""Attention before and after fine-tuning: the same text through the base checkpoint a model was fine-tuned from,
with the fine-tuned model's tokenizer, and how much each head's attention moved.

The base checkpoints are loaded once and kept (:data:`BASE_MODELS_KEPT` at most, least recently used dropped) for
every caller; the fine-tuned model's own attention comes from its predictor (``predictor.attention``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from kdemo.errors import ModelError
from kdemo.explain.attention import AttentionMaps, compute_attention
from kdemo.explain.attention_math import head_change
from kdemo.modeling.classifier import load_sequence_classifier, resolve_model_source
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy

#: Base checkpoints kept in memory, all callers together.
BASE_MODELS_KEPT = 2

_base_models: OrderedDict = OrderedDict()
_lock = threading.Lock()


def base_model(source: str, class_names):
    """The base checkpoint at ``source`` (a resolved model source), loaded once and kept for every caller.

    Args:
        source: What :func:`kdemo.modeling.classifier.resolve_model_source` returned.
        class_names: The fine-tuned model's classes (the base model's head is freshly initialised with as many
            outputs; attention comes from the encoder only).

    Raises:
        ModelError: If the checkpoint cannot be loaded.
    """
    with _lock:
        if source in _base_models:
            _base_models.move_to_end(source)
            return _base_models[source]
    model = load_sequence_classifier(source, class_names)
    with _lock:
        _base_models[source] = model
        while len(_base_models) > BASE_MODELS_KEPT:
            _base_models.popitem(last=False)
    return model


def base_attention(predictor, base_name: str, text: str, text_pair: str | None = None, *,
                   policy: FolderPolicy = DEFAULT_POLICY) -> AttentionMaps:
    """The attention of the base checkpoint ``base_name`` for ``text`` (and ``text_pair``), tokenized as the
    fine-tuned ``predictor`` tokenizes it (same tokens, same maxlen).

    Args:
        predictor: The fine-tuned model's predictor (``tokenizer``, ``maxlen``, ``get_classes()``).
        base_name: Hub id or folder of the base checkpoint (e.g. its ``kdemo.json`` ``base_model``).
        text: The text.
        text_pair: The second text of a sentence pair, or None.
        policy: Which local folders ``base_name`` may name (a loaded folder's record is not trusted further).

    Returns:
        The base model's :class:`~kdemo.explain.attention.AttentionMaps`.

    Raises:
        ModelError: If the checkpoint cannot be loaded or is refused by ``policy``.
    """
    model = base_model(resolve_model_source(str(base_name), policy=policy), predictor.get_classes())
    return compute_attention(model, predictor.tokenizer, text, text_pair, maxlen=predictor.maxlen)


def compare_heads(base: AttentionMaps, tuned: AttentionMaps, base_name: str) -> np.ndarray:
    """How much each head's attention moved from ``base`` to ``tuned`` (see
    :func:`kdemo.explain.attention_math.head_change`).

    Returns:
        float array, shape ``(num_layers, num_heads)``, 0 (attends as before) to 1 (entirely different tokens).

    Raises:
        ModelError: If the two models' attention shapes differ (``base_name`` is not the model's base).
    """
    if base.att.shape != tuned.att.shape:
        raise ModelError(
            f"Expected the base checkpoint {base_name!r} to have the fine-tuned model's shape {tuned.att.shape[:2]} "
            f"(layers, heads). Received: {base.att.shape[:2]}. It is not the model this one was trained from."
        )
    return head_change(base.att, tuned.att)


def most_moved(change: np.ndarray, k: int = 3) -> list[tuple[int, int, float]]:
    """The ``k`` heads whose attention moved most: ``[(layer, head, change), ...]``, 0-based, largest first."""
    order = np.argsort(change, axis=None)[::-1][:k]
    return [(int(layer), int(head), float(change[layer, head])) for layer, head in zip(*np.unravel_index(order, change.shape))]
