"""Freezing and listing the layers of a wrapped HF encoder (ktrain's ``freeze``/``unfreeze``/``print_layers``)."""

from __future__ import annotations

import re

import pandas as pd

from kdemo.modeling.classifier import HFClassifier


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


def num_blocks(model: HFClassifier) -> int:
    """Number of transformer blocks of the encoder (``config.num_hidden_layers``)."""
    return int(model.hf_model.config.num_hidden_layers)


def freeze_lower(model: HFClassifier, fraction: float) -> int:
    """Freeze the embeddings and the lowest ``round(fraction * num_blocks)`` transformer blocks; 0 freezes nothing.

    Frozen lower layers need no backward pass (no weight gradients, and no input gradients below the first
    trainable block) and no optimizer update, so a step costs less; the word-embedding matrix alone is about half
    of a small model's parameters (11.7 M of all-MiniLM-L6-v2's 22.7 M) and its dense gradient is the largest
    per-step fill. Lower layers hold general features that fine-tuning changes least: freezing up to a third or more
    of BERT's blocks keeps most of its fine-tuned quality (Lee et al., "What Would Elsa Do? Freezing Layers During
    Transformer Fine-Tuning", 2019, https://arxiv.org/abs/1911.03090).

    Args:
        model: The classifier.
        fraction: Fraction 0–1 of the blocks to freeze, counted from the input side.

    Returns:
        Number of blocks frozen (the embeddings are frozen too whenever ``fraction > 0``).

    Raises:
        ValueError: If ``fraction`` is outside 0–1.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"Expected a fraction between 0 and 1. Received: {fraction!r}.")
    if fraction == 0:
        return 0
    blocks = round(fraction * num_blocks(model))
    freeze(model, blocks)
    return blocks


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
