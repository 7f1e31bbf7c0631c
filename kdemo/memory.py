"""Memory: measuring it (process RSS, accelerator bytes), giving it back after training, recognising OOM."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

import torch

_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error of torch on any device.

    Recognises ``torch.OutOfMemoryError`` (CUDA), ``MemoryError`` and the ``RuntimeError`` messages of the CPU
    and MPS allocators ("DefaultCPUAllocator: can't allocate memory", "MPS backend out of memory").

    Args:
        exc: Any exception.

    Returns:
        True for an out-of-memory error.
    """
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


def rss_bytes() -> int:
    """Resident set size of this process in bytes (Linux ``/proc``; ``ru_maxrss`` elsewhere, a peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_allocated_bytes(device_type: str) -> int:
    """Bytes held by live tensors on the accelerator (``torch.cuda.memory_allocated``); 0 on CPU.

    Args:
        device_type: ``"cuda"``, ``"mps"`` or ``"cpu"``.
    """
    if device_type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.memory_allocated())
    if device_type == "mps" and hasattr(torch, "mps"):
        return int(torch.mps.current_allocated_memory())
    return 0


def _malloc_trim() -> None:
    """Ask glibc to return freed heap pages to the OS, so RSS falls after large frees (no-op elsewhere)."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def release_memory(device_type: str, *, full_collect: bool = True) -> None:
    """Collect garbage, empty the accelerator's cache and return freed heap pages to the OS.

    Call after dropping the references to what should be freed (optimizer state, gradients, activations).

    Args:
        device_type: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        full_collect: Collect every generation (0.3-0.5 s with transformers and Keras loaded). False collects the
            young generations only, enough on a CPU when what is freed holds no reference cycle (an optimizer
            state cleared in place); accelerators always get a full collection before their cache is emptied.
    """
    gc.collect() if full_collect or device_type != "cpu" else gc.collect(1)
    if device_type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device_type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
    _malloc_trim()


def release_gpu_memory(device: int = 0) -> None:
    """Free cached accelerator memory (ktrain's ``release_gpu_memory``; ktrain closes the TensorFlow CUDA context).

    On torch this collects garbage and empties the CUDA (or MPS) caching allocator, so memory held by dropped
    models and optimizers returns to the device; live tensors stay. On a CPU it returns freed heap pages to the OS.

    Args:
        device: Accepted for ktrain compatibility (every visible device's cache is emptied).
    """
    if torch.cuda.is_available():
        release_memory("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        release_memory("mps")
    else:
        release_memory("cpu")
