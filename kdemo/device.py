"""Device and precision selection.

The device is chosen automatically (CUDA, then Apple MPS, then CPU) and reported to the user. bf16 autocast is
used where the hardware runs it natively: CUDA devices that support bf16, or CPUs with AVX512-BF16 or AMX-BF16.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp32")


def get_device() -> torch.device:
    """Return the device training and inference run on.

    Returns:
        ``torch.device("cuda")`` when a CUDA GPU is visible, else ``torch.device("mps")`` on Apple silicon with
        MPS available, else ``torch.device("cpu")``. This matches the device Keras' torch backend places
        variables on.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU executes bf16 matrix work natively (AVX512-BF16 or AMX-BF16 flags, Linux only).

    Returns:
        True when ``/proc/cpuinfo`` lists ``avx512_bf16`` or ``amx_bf16``; False elsewhere (other OSes, older
        CPUs), where bf16 autocast would be slower than float32.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() != "Linux" or not cpuinfo.exists():
        return False
    flags = cpuinfo.read_text(errors="ignore")
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_supported(device: torch.device | None = None) -> bool:
    """Whether bf16 autocast is fast and supported on ``device``.

    Args:
        device: The device to ask about; defaults to :func:`get_device`.

    Returns:
        True for CUDA devices with bf16 support and for CPUs with native bf16 instructions.
    """
    device = device or get_device()
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)  # a T4 only emulates bf16 (slow)
    if device.type == "cpu":
        return cpu_has_bf16()
    return False


def resolve_precision(precision: str, device: torch.device | None = None) -> str:
    """Turn a requested precision into the one that will be used.

    Args:
        precision: ``"auto"`` (bf16 where :func:`bf16_supported`, else fp32), ``"bf16"`` or ``"fp32"``.
        device: The device the model runs on; defaults to :func:`get_device`.

    Returns:
        ``"bf16"`` or ``"fp32"``.

    Raises:
        ValueError: If ``precision`` is not one of :data:`PRECISIONS`, or bf16 is asked for on a device without it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Expected precision to be one of {PRECISIONS}. Received: precision={precision!r}.")
    device = device or get_device()
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise ValueError(f"bf16 autocast is not available on {device.type}. Use precision='fp32' or 'auto'.")
    return precision


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description of the device, e.g. ``"cuda (NVIDIA H100, bf16)"`` or ``"cpu (2 threads)"``."""
    device = device or get_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}, bf16 {'yes' if bf16_supported(device) else 'no'})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'' if threads == 1 else 's'}, bf16 {'yes' if cpu_has_bf16() else 'no'})"
    return device.type
