"""Freezing and listing the layers of a wrapped HF encoder (ktrain's ``freeze``/``unfreeze``/``print_layers``)."""

from __future__ import annotations

import re

import pandas as pd

from kdemo.models import HFClassifier


def _keras_variables(model: HFClassifier) -> dict[int, object]:
    """Keras variable of each HF parameter, keyed by ``id(parameter)`` (Keras names wrapped weights ``variable_N``)."""
    return {id(v.value): v for v in model.weights}


def _layer_index(name: str) -> int | None:
    """Index of the transformer block a parameter belongs to (``encoder.layer.3.…`` → 3), else None."""
    match = re.search(r"\.(?:layer|layers)\.(\d+)\.", name)
    return int(match.group(1)) if match else None


def freeze(model: HFClassifier, n: int | None = None) -> int:
    """Freeze the embeddings and the first ``n`` transformer blocks (all of the encoder when ``n`` is None).

    The classification head stays trainable. Frozen parameters keep their values and get no gradients; the Keras
    variables are marked non-trainable so ``fit`` skips them.

    Args:
        model: The classifier.
        n: Number of transformer blocks, counted from the input side, to freeze; None freezes the whole encoder.

    Returns:
        Number of parameter tensors frozen.
    """
    variables = _keras_variables(model)
    head = _head_prefixes(model)
    frozen = 0
    for name, param in model.hf_model.named_parameters():
        if name.startswith(head):
            continue
        index = _layer_index(name)
        if n is None or index is None and "embeddings" in name or index is not None and index < n:
            variables[id(param)].trainable = False
            frozen += 1
    return frozen


def freeze_word_embeddings(model: HFClassifier) -> bool:
    """Freeze the word-embedding matrix (``get_input_embeddings().weight``, shape ``(vocab_size, hidden_size)``).

    On a CPU this is the cheapest large saving in fine-tuning: the matrix holds about half of a small model's
    parameters (11.7 M of all-MiniLM-L6-v2's 22.7 M), and training it costs a dense ``(vocab_size, hidden_size)``
    gradient per step (zero-filled, then scattered into), plus the AdamW update of every row, although a batch only
    touches a few hundred of them. Position and token-type embeddings stay trainable.

    Returns:
        True if a matrix was found and frozen.
    """
    embeddings = model.hf_model.get_input_embeddings()
    weight = getattr(embeddings, "weight", None)
    variable = _keras_variables(model).get(id(weight)) if weight is not None else None
    if variable is None:
        return False
    variable.trainable = False
    return True


def unfreeze(model: HFClassifier) -> None:
    """Make every parameter trainable again."""
    for variable in model.weights:
        variable.trainable = True


def _head_prefixes(model: HFClassifier) -> tuple[str, ...]:
    base = getattr(model.hf_model, "base_model_prefix", "")
    names = {n.split(".")[0] for n, _ in model.hf_model.named_parameters()}
    return tuple(f"{n}." for n in names if n != base)


def layer_table(model: HFClassifier) -> pd.DataFrame:
    """One row per parameter tensor: ``name``, ``shape``, ``parameters`` (count), ``trainable``."""
    variables = _keras_variables(model)
    rows = [
        {"name": name, "shape": tuple(p.shape), "parameters": p.numel(), "trainable": bool(variables[id(p)].trainable)}
        for name, p in model.hf_model.named_parameters()
    ]
    return pd.DataFrame(rows)
