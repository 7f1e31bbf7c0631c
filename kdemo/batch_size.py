"""Suggesting a training batch size from the memory free on the device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kdemo.device import get_device

#: Largest batch size suggested: bigger batches rarely help fine-tuning on small data.
MAX_BATCH_SIZE = 64
#: Largest batch size suggested on a CPU, which is compute-bound: larger batches only make each step slower.
MAX_CPU_BATCH_SIZE = 32
#: Shape of the model the heuristic assumes (BERT-base): layers, hidden size, attention heads, parameters.
BASE_MODEL = {"layers": 12, "hidden": 768, "heads": 12, "params": 110e6}


def available_memory_bytes(device: torch.device) -> int:
    """Free memory on ``device``: ``torch.cuda.mem_get_info`` on CUDA, else available RAM (psutil or /proc/meminfo).

    Args:
        device: The device (CUDA, CPU or MPS; MPS shares the system RAM).

    Returns:
        Bytes; 4 GiB when it cannot be measured.
    """
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def suggest_batch_size(maxlen: int, device: torch.device | str | None = None, free_bytes: int | None = None) -> int:
    """A batch size that fits training a base-size model at ``maxlen`` tokens into the device's free memory.

    Heuristic: activation memory per sequence is ``L · layers · hidden · (34 + 5 · heads · L / hidden)`` bytes in
    16-bit precision (Korthikanti et al. 2022), doubled for float32, with BERT-base's shape (:data:`BASE_MODEL`;
    smaller models such as MiniLM need less). Usable memory is 60 % of the free memory minus 16 bytes per parameter
    (weights, gradients and AdamW's two moments in float32). The result is the largest power of two that fits,
    between 1 and :data:`MAX_BATCH_SIZE`, and at most :data:`MAX_CPU_BATCH_SIZE` on a CPU.

    Args:
        maxlen: Tokens per sequence.
        device: Device to train on; default :func:`kdemo.device.get_device`.
        free_bytes: Free memory to assume instead of measuring it (bytes).

    Returns:
        The batch size.
    """
    device = torch.device(device) if device is not None else get_device()
    free = available_memory_bytes(device) if free_bytes is None else free_bytes
    m = BASE_MODEL
    per_seq = 2 * maxlen * m["layers"] * m["hidden"] * (34 + 5 * m["heads"] * maxlen / m["hidden"])
    usable = 0.6 * free - 16 * m["params"]
    fits = max(1, int(usable // per_seq)) if usable > 0 else 1
    size = min(2 ** int(np.log2(fits)), MAX_BATCH_SIZE)
    return min(size, MAX_CPU_BATCH_SIZE) if device.type == "cpu" else size
