"""The start and end logits of every window of a question-answering dataset, batched by length."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import transformers

from kdemo.modeling.batched import inference_batches


def span_logits(hf_model: transformers.PreTrainedModel, data, *, batch_size: int = 64,
                precision: str = "fp32") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start and end logits of every window, batched by :func:`kdemo.modeling.batched.inference_batches`.

    Args:
        hf_model: An ``AutoModelForQuestionAnswering`` module (put in eval mode here).
        data: A :class:`~kdemo.text.qa.dataset.QADataset` (``collate``, ``lengths``).
        batch_size: Windows per forward pass.
        precision: ``"fp32"`` (exact) or ``"bf16"`` (autocast).

    Returns:
        ``(start_logits, end_logits)``: one float32 array of shape ``(window_len,)`` per window each, in the data's
        order (padding cut off).
    """
    hf_model.eval()
    device = next(hf_model.parameters()).device
    starts: list[np.ndarray | None] = [None] * len(data)
    ends: list[np.ndarray | None] = [None] * len(data)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for idx in inference_batches(data.lengths, batch_size, device):
            batch = {k: torch.from_numpy(v).to(device) for k, v in data.collate(idx).items()}
            out = hf_model(**batch)
            s, e = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            for row, i in enumerate(idx):
                starts[i], ends[i] = s[row, : data.lengths[i]], e[row, : data.lengths[i]]
    return starts, ends
