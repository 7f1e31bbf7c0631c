"""Device and precision decisions for mocked hardware: CUDA with and without native bf16, CPUs with and without
AVX512-BF16/AMX, Apple MPS. Every case asserts the exact device, precision and description kdemo picks."""

from __future__ import annotations

import pytest
import torch

from kdemo import device

CPU_FLAGS = {
    "avx512_bf16": "fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni",  # e.g. AMD Zen 4, Intel Cooper Lake
    "amx_bf16": "fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8",  # Intel Sapphire Rapids
    "avx512f only": "fpu sse2 avx2 avx512f avx512_vnni",  # AVX-512 without bf16 (Skylake-SP)
    "avx2 only": "fpu sse2 avx2 fma",
}


@pytest.fixture
def hardware(monkeypatch, tmp_path):
    """Mock the machine: ``hardware(cuda=..., cuda_bf16=..., mps=..., system=..., cpu_flags=...)``.

    Returns the calls made to ``torch.cuda.is_bf16_supported`` (its ``including_emulation`` arguments).
    """
    bf16_calls: list[bool] = []

    def install(*, cuda=False, cuda_bf16=False, mps=False, system="Linux", cpu_flags="avx2 only"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Mock GPU")

        def is_bf16_supported(including_emulation=True):
            bf16_calls.append(including_emulation)
            return cuda_bf16 or including_emulation  # emulation is always "supported": it must not count

        monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {CPU_FLAGS[cpu_flags]}\n")
        monkeypatch.setattr(device, "Path", lambda _: cpuinfo)
        monkeypatch.setattr(device.platform, "system", lambda: system)
        monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
        device.cpu_has_bf16.cache_clear()
        return bf16_calls

    yield install
    device.cpu_has_bf16.cache_clear()  # the real machine's answer is computed again on the next call


# (hardware, device, auto precision, explicit "bf16", description)
CASES = {
    "CUDA, native bf16 (A100/H100)": (
        {"cuda": True, "cuda_bf16": True}, "cuda", "bf16", "bf16", "cuda (Mock GPU, bf16 yes)"),
    "CUDA, emulated bf16 only (T4)": (
        {"cuda": True, "cuda_bf16": False}, "cuda", "fp32", "bf16", "cuda (Mock GPU, bf16 no)"),
    "CUDA wins over MPS": ({"cuda": True, "cuda_bf16": True, "mps": True}, "cuda", "bf16", "bf16", None),
    "CPU with AVX512-BF16": ({"cpu_flags": "avx512_bf16"}, "cpu", "bf16", "bf16", "cpu (2 threads, bf16 yes)"),
    "CPU with AMX-BF16": ({"cpu_flags": "amx_bf16"}, "cpu", "bf16", "bf16", "cpu (2 threads, bf16 yes)"),
    "CPU with AVX-512 but no bf16": ({"cpu_flags": "avx512f only"}, "cpu", "fp32", "bf16", "cpu (2 threads, bf16 no)"),
    "CPU with AVX2 only": ({"cpu_flags": "avx2 only"}, "cpu", "fp32", "bf16", "cpu (2 threads, bf16 no)"),
    "CPU flags on a non-Linux OS are not read": (
        {"cpu_flags": "avx512_bf16", "system": "Windows"}, "cpu", "fp32", "bf16", "cpu (2 threads, bf16 no)"),
    "Apple MPS": ({"mps": True, "system": "Darwin"}, "mps", "fp32", ValueError, "mps"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_device_and_precision_decisions(hardware, case):
    machine, want_device, want_auto, want_bf16, want_text = CASES[case]
    bf16_calls = hardware(**machine)
    dev = device.get_device()
    assert dev == torch.device(want_device)
    assert device.resolve_precision("auto") == want_auto  # defaults to get_device()
    assert device.resolve_precision("auto", dev) == want_auto
    assert device.resolve_precision("fp32", dev) == "fp32"
    if want_bf16 is ValueError:
        with pytest.raises(ValueError, match=f"bf16 autocast is not available on {want_device}. Use precision='fp32'"):
            device.resolve_precision("bf16", dev)
    else:
        assert device.resolve_precision("bf16", dev) == want_bf16  # an explicit request is honoured
    if want_text is not None:
        assert device.describe_device(dev) == want_text
    if want_device == "cuda":
        assert bf16_calls and not any(bf16_calls), "only native bf16 may count (including_emulation=False)"
    else:
        assert bf16_calls == []


def test_cpu_bf16_is_decided_by_the_cpu_flags(hardware):
    for flags, expected in [("avx512_bf16", True), ("amx_bf16", True), ("avx512f only", False), ("avx2 only", False)]:
        hardware(cpu_flags=flags)
        assert device.cpu_has_bf16() is expected, flags
        assert device.bf16_supported(torch.device("cpu")) is expected
    hardware(cpu_flags="avx512_bf16", system="Darwin")
    assert device.cpu_has_bf16() is False


def test_mps_never_uses_bf16(hardware):
    hardware(mps=True, cpu_flags="amx_bf16")  # even on a CPU that could
    assert device.bf16_supported(torch.device("mps")) is False


@pytest.mark.parametrize("precision", ["fp16", "BF16", "", "float32"])
def test_bad_precision_is_refused(precision):
    with pytest.raises(ValueError, match=r"Expected precision to be one of \('auto', 'bf16', 'fp32'\)\. Received: precision="):
        device.resolve_precision(precision, torch.device("cpu"))
