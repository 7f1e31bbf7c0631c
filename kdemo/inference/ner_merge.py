"""Entities of a raw text, computed exactly as ``transformers.pipeline("token-classification",
aggregation_strategy="simple")`` computes them.

The algorithm is the pipeline's (``transformers/pipelines/token_classification.py``: ``postprocess``,
``gather_pre_entities``, ``aggregate`` and ``group_entities``): the text is tokenized with offsets; the softmax of
the logits is taken per token; every non-special token gets its arg-max tag and that probability; adjacent tokens
are grouped while their tag's type stays the same and the next tag is not a ``B-``; a group's ``entity_group`` is
its first tag's type, its ``score`` the mean of its tokens' probabilities, its ``word`` the tokenizer's
``convert_tokens_to_string`` of its tokens, ``start``/``end`` the character offsets of its first and last token;
groups of type ``O`` are dropped. A text longer than the model's window is cut into consecutive windows (the
pipeline truncates it), so the two agree exactly on every text that fits in one window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
import transformers


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(seq_len, num_tags)`` logits, as the pipeline computes it (float32 in, float32 out)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _split_tag(tag: str) -> tuple[str, str]:
    """``("B" | "I", type)``; a tag without a ``B-``/``I-`` prefix counts as a continuation of its own type."""
    if tag.startswith("B-"):
        return "B", tag[2:]
    if tag.startswith("I-"):
        return "I", tag[2:]
    return "I", tag


def group_simple(tokens: Sequence[dict], tokenizer: transformers.PreTrainedTokenizerBase,
                 ignore: Sequence[str] = ("O",)) -> list[dict]:
    """Group per-token predictions into entities (the pipeline's ``group_entities``).

    Args:
        tokens: One dict per non-special token, in order: ``entity`` (tag name), ``score`` (its probability),
            ``word`` (the token string), ``start`` and ``end`` (character offsets).
        tokenizer: Decodes a group's tokens into its ``word``.
        ignore: Entity groups to drop.

    Returns:
        ``[{"entity_group", "score", "word", "start", "end"}, ...]`` in text order.
    """
    groups: list[list[dict]] = []
    for token in tokens:
        if groups:
            bi, kind = _split_tag(token["entity"])
            _, last_kind = _split_tag(groups[-1][-1]["entity"])
            if kind == last_kind and bi != "B":
                groups[-1].append(token)
                continue
        groups.append([token])
    out = []
    for group in groups:
        kind = group[0]["entity"].split("-", 1)[-1]
        if kind in ignore:
            continue
        out.append({
            "entity_group": kind,
            "score": float(np.mean(np.nanmean([t["score"] for t in group]))),
            "word": tokenizer.convert_tokens_to_string([t["word"] for t in group]),
            "start": int(group[0]["start"]),
            "end": int(group[-1]["end"]),
        })
    return out


def token_predictions(hf_model: transformers.PreTrainedModel, tokenizer: transformers.PreTrainedTokenizerBase,
                      text: str, maxlen: int, *, precision: str = "fp32") -> list[dict]:
    """Per-token tags of ``text`` as the pipeline gathers them (special tokens left out).

    Args:
        hf_model: A token-classification module.
        tokenizer: Its fast tokenizer (offsets are needed).
        text: The raw text.
        maxlen: Tokens per window, special tokens included.
        precision: ``"fp32"`` (matches the pipeline) or ``"bf16"``.

    Returns:
        One dict per token: ``entity``, ``score``, ``word``, ``start``, ``end``, ``scores`` (float32
        ``(num_tags,)`` probabilities).
    """
    enc = tokenizer(text, truncation=True, max_length=maxlen, return_overflowing_tokens=True, stride=0,
                    return_offsets_mapping=True, return_special_tokens_mask=True)
    device = next(hf_model.parameters()).device
    id2label = hf_model.config.id2label
    unk = tokenizer.unk_token_id
    hf_model.eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    out = []
    model_keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    for chunk in range(len(enc["input_ids"])):
        inputs = {k: torch.tensor([enc[k][chunk]], dtype=torch.long, device=device) for k in model_keys}
        with torch.inference_mode(), autocast:
            logits = hf_model(**inputs).logits[0].float().cpu().numpy()
        scores = softmax(logits)
        ids, offsets, special = enc["input_ids"][chunk], enc["offset_mapping"][chunk], enc["special_tokens_mask"][chunk]
        for pos, token_id in enumerate(ids):
            if special[pos]:
                continue
            start, end = offsets[pos]
            best = int(scores[pos].argmax())
            word = text[start:end] if token_id == unk else tokenizer.convert_ids_to_tokens(int(token_id))
            out.append({"entity": id2label[best], "score": scores[pos, best], "word": word, "start": int(start),
                        "end": int(end), "scores": scores[pos]})
    return out


def simple_entities(hf_model: transformers.PreTrainedModel, tokenizer: transformers.PreTrainedTokenizerBase,
                    text: str, maxlen: int, *, precision: str = "fp32") -> list[dict]:
    """The entities ``pipeline("token-classification", aggregation_strategy="simple")(text)`` returns.

    Args:
        hf_model: A token-classification module (``config.id2label`` holds the BIO tag names).
        tokenizer: Its fast tokenizer.
        text: The raw text.
        maxlen: Tokens per window, special tokens included.
        precision: ``"fp32"`` (exact) or ``"bf16"``.

    Returns:
        ``[{"entity_group": "PER", "score": 0.98, "word": "john smith", "start": 0, "end": 10}, ...]``.
    """
    if not text.strip():
        return []
    return group_simple(token_predictions(hf_model, tokenizer, text, maxlen, precision=precision), tokenizer)
