"""Device and precision selection, including the CUDA branch exercised on a CPU machine by mocking torch.cuda."""

from __future__ import annotations

import pytest
import torch

from kdemo import device


def test_cpu_precision_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.get_device().type in ("cpu", "mps")
    assert device.resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert device.resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert device.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_cuda_branch_picks_cuda_and_native_bf16_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.get_device() == torch.device("cuda")
    calls = []

    def bf16(including_emulation=True):
        calls.append(including_emulation)
        return supported

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16)
    supported = True  # an Ampere or Hopper GPU
    assert device.resolve_precision("auto", torch.device("cuda")) == "bf16"
    supported = False  # a T4: bf16 only through emulation, which is slow
    assert device.resolve_precision("auto", torch.device("cuda")) == "fp32"
    assert calls and not any(calls), "emulated bf16 must not count as support"


def test_bad_precision_is_refused():
    with pytest.raises(ValueError, match="Expected precision"):
        device.resolve_precision("fp16")
