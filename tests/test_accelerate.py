"""Devices and dtypes: ``--device`` parsing, the accelerator registry, autocast, seeding and peak memory."""

from __future__ import annotations

import pytest
import torch

from arctl.accelerate import (
    DTYPE_CHOICES,
    DTYPES,
    CPUAccelerator,
    CUDAAccelerator,
    auto_device,
    make_accelerator,
    parse_device,
)
from arctl.errors import ArctlError, DeviceUnavailableError, UsageError
from arctl.plugins import PluginManager


@pytest.fixture
def registry():
    return PluginManager(entry_points=False).registry


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# --- parse_device -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu", ("cpu", None)),
        ("cuda", ("cuda", None)),
        ("cuda:1", ("cuda", 1)),
        ("cuda:0", ("cuda", 0)),
        (" CUDA ", ("cuda", None)),
        ("Cuda:12", ("cuda", 12)),
        ("mps", ("mps", None)),
        ("my-npu:3", ("my-npu", 3)),
    ],
)
def test_parse_device(text, expected):
    assert parse_device(text) == expected


@pytest.mark.parametrize("text", ["cuda:x", ":0", "", "   ", "cuda:", "cuda:-1", "cuda:1.5"])
def test_parse_device_rejects_bad_input(text):
    with pytest.raises(UsageError) as info:
        parse_device(text)
    assert info.value.exit_code == 2
    assert "--device" in str(info.value)
    assert repr(text) in str(info.value)


def test_parse_device_rejects_non_ascii_digit_indices():
    # "²".isdigit() is True but int("²") fails: it must still be a usage error, not a ValueError traceback.
    with pytest.raises(UsageError) as info:
        parse_device("cuda:\u00b2")
    assert info.value.exit_code == 2


# --- make_accelerator -------------------------------------------------------------------------


def test_cpu_auto_dtype_is_fp32(registry):
    acc = make_accelerator(registry, "cpu", "auto")
    assert isinstance(acc, CPUAccelerator)
    assert acc.device == torch.device("cpu")
    assert acc.dtype is torch.float32
    assert acc.dtype_name == "fp32"
    assert acc.describe() == {"device": "cpu", "dtype": "fp32"}
    # fp32 means no autocast at all: a matmul stays in float32.
    a = torch.randn(4, 4)
    with acc.autocast():
        assert (a @ a).dtype is torch.float32


def test_cpu_bf16_autocast_produces_bf16_matmuls(registry):
    acc = make_accelerator(registry, "cpu", "bf16")
    assert acc.dtype is torch.bfloat16
    assert acc.describe() == {"device": "cpu", "dtype": "bf16"}
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    with acc.autocast():
        out = a @ b
        linear = torch.nn.functional.linear(a, b.T)
    assert out.dtype is torch.bfloat16
    assert linear.dtype is torch.bfloat16
    assert (a @ b).dtype is torch.float32  # only inside the context
    assert torch.allclose(out.float(), a @ b, atol=0.1, rtol=0.05)


@pytest.mark.parametrize(("name", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_explicit_dtypes(registry, name, dtype):
    acc = make_accelerator(registry, "cpu", name)
    assert acc.dtype is dtype and acc.dtype_name == name
    assert DTYPES[name] is dtype


def test_dtype_choices():
    assert DTYPE_CHOICES == ("auto", "fp32", "bf16", "fp16")


@pytest.mark.parametrize("dtype", ["fp8", "float32", "", "BF16"])
def test_unknown_dtype_is_a_usage_error(registry, dtype):
    with pytest.raises(UsageError) as info:
        make_accelerator(registry, "cpu", dtype)
    assert info.value.exit_code == 2
    assert "--dtype" in str(info.value) and "auto, fp32, bf16, fp16" in str(info.value)


def test_unknown_dtype_on_the_accelerator_class_is_a_usage_error():
    with pytest.raises(UsageError, match="--dtype"):
        CPUAccelerator(dtype="int8")


def test_unknown_device_lists_known_devices(registry):
    with pytest.raises(UsageError) as info:
        make_accelerator(registry, "tpu", "auto")
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "'tpu'" in message and "unknown device" in message
    assert "known: auto, cpu, cuda, mps" in message
    assert "\n" not in message


def test_unknown_device_with_an_index(registry):
    with pytest.raises(UsageError, match=r"unknown device \(known: auto, cpu, cuda, mps\)"):
        make_accelerator(registry, "xpu:0", "auto")


def test_cuda_unavailable(registry, no_gpu):
    with pytest.raises(DeviceUnavailableError) as info:
        make_accelerator(registry, "cuda", "auto")
    assert isinstance(info.value, ArctlError) and not isinstance(info.value, UsageError)
    assert info.value.exit_code == 1
    assert "cuda" in str(info.value)
    with pytest.raises(DeviceUnavailableError, match="cuda"):
        make_accelerator(registry, "cuda:0", "fp32")


def test_mps_unavailable(registry, no_gpu):
    with pytest.raises(DeviceUnavailableError, match="mps") as info:
        make_accelerator(registry, "mps", "auto")
    assert info.value.exit_code == 1


def test_auto_resolves_to_cpu_without_gpus(registry, no_gpu):
    assert auto_device(registry) == "cpu"
    acc = make_accelerator(registry, "auto", "auto")
    assert isinstance(acc, CPUAccelerator)
    assert acc.device.type == "cpu" and acc.dtype is torch.float32
    assert make_accelerator(registry, " AUTO ", "auto").device.type == "cpu"


def test_auto_prefers_cuda_when_available(registry, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert auto_device(registry) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto_device(registry) == "mps"


def test_cuda_index_out_of_range(registry, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(DeviceUnavailableError, match=r"cuda:5 .*2 GPU") as info:
        make_accelerator(registry, "cuda:5", "fp32")
    assert info.value.exit_code == 1


def test_cpu_takes_no_index(registry):
    with pytest.raises(UsageError) as info:
        make_accelerator(registry, "cpu:0", "auto")
    assert info.value.exit_code == 2
    assert "cpu" in str(info.value) and "index" in str(info.value)


def test_generator_is_deterministic(registry):
    acc = make_accelerator(registry, "cpu", "auto")
    a = torch.rand(16, generator=acc.generator(42))
    b = torch.rand(16, generator=acc.generator(42))
    c = torch.rand(16, generator=acc.generator(43))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(a, torch.rand(16, generator=torch.Generator().manual_seed(42)))
    assert acc.generator(7).device == torch.device("cpu")
    assert acc.generator(7).initial_seed() == 7


def test_peak_memory_on_cpu(registry):
    acc = make_accelerator(registry, "cpu", "auto")
    acc.reset_peak_memory()
    acc.synchronize()
    peak = acc.peak_memory()
    assert isinstance(peak, int)
    assert peak > 1024 * 1024  # a Python process with torch loaded uses well over 1 MiB


# --- a real GPU -------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_auto_dtype_and_peak_memory(registry):
    acc = make_accelerator(registry, "cuda", "auto")
    assert isinstance(acc, CUDAAccelerator)
    assert acc.device.type == "cuda"
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    assert acc.dtype is expected
    assert make_accelerator(registry, "auto", "auto").device.type == "cuda"
    assert make_accelerator(registry, "cuda:0", "fp32").device == torch.device("cuda:0")
    assert acc.describe()["name"] == torch.cuda.get_device_name(acc.device)

    acc.reset_peak_memory()
    before = acc.peak_memory()
    x = torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device=acc.device)
    acc.synchronize()
    after = acc.peak_memory()
    assert after - before >= 64 * 1024 * 1024
    del x

    g1, g2 = acc.generator(3), acc.generator(3)
    assert torch.equal(torch.rand(8, generator=g1, device=acc.device), torch.rand(8, generator=g2, device=acc.device))
    if acc.dtype is torch.bfloat16:
        a = torch.randn(8, 8, device=acc.device)
        with acc.autocast():
            assert (a @ a).dtype is torch.bfloat16
