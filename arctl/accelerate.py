"""Devices, dtypes, autocast, seeding and peak-memory reporting.

``--device auto|cpu|cuda|cuda:N|mps|<plugin accelerator>`` and ``--dtype auto|fp32|bf16|fp16``;
``auto`` dtype is bf16 on a CUDA device that supports it and fp32 everywhere else. Weights stay in
float32; reduced precision comes from autocast, as the official VAR/LlamaGen samplers do.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from typing import Any

import torch

from arctl.errors import DeviceUnavailableError, UsageError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)


class Accelerator:
    """A device with its compute dtype; subclasses say whether it exists and how to read its memory."""

    name = "cpu"

    def __init__(self, index: int | None = None, dtype: str = "auto") -> None:
        self.index = index
        self.check_available()
        self.device = torch.device(self.name if index is None else f"{self.name}:{index}")
        self.dtype_name = self.default_dtype() if dtype == "auto" else dtype
        if self.dtype_name not in DTYPES:
            raise UsageError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPE_CHOICES)}")
        self.dtype = DTYPES[self.dtype_name]

    @classmethod
    def is_available(cls) -> bool:
        return True

    def check_available(self) -> None:
        if not self.is_available():
            asked = self.name if self.index is None else f"{self.name}:{self.index}"
            raise DeviceUnavailableError(f"--device {asked} was requested but {self.name} is not available here")

    def default_dtype(self) -> str:
        return "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def synchronize(self) -> None:
        pass

    def reset_peak_memory(self) -> None:
        pass

    def peak_memory(self) -> int | None:
        """Peak bytes used by this run on the device, where the backend can tell."""
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # process peak RSS (not resettable)

    def describe(self) -> dict[str, Any]:
        return {"device": str(self.device), "dtype": self.dtype_name}


class CPUAccelerator(Accelerator):
    name = "cpu"

    def __init__(self, index: int | None = None, dtype: str = "auto") -> None:
        if index is not None:
            raise UsageError("--device cpu takes no index")
        super().__init__(None, dtype)


class CUDAAccelerator(Accelerator):
    name = "cuda"

    @classmethod
    def is_available(cls) -> bool:
        return torch.cuda.is_available()

    def check_available(self) -> None:
        super().check_available()
        count = torch.cuda.device_count()
        if self.index is not None and not 0 <= self.index < count:
            raise DeviceUnavailableError(f"--device cuda:{self.index} does not exist (this machine has {count} GPU(s))")

    def default_dtype(self) -> str:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def reset_peak_memory(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory(self) -> int | None:
        return torch.cuda.max_memory_allocated(self.device)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": torch.cuda.get_device_name(self.device)}


class MPSAccelerator(Accelerator):
    name = "mps"

    @classmethod
    def is_available(cls) -> bool:
        return torch.backends.mps.is_available()

    def synchronize(self) -> None:
        torch.mps.synchronize()

    def peak_memory(self) -> int | None:
        return torch.mps.driver_allocated_memory()


def parse_device(device: str) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ``("cuda", 1)``; ``"cpu"`` -> ``("cpu", None)``."""
    name, sep, index = device.strip().lower().partition(":")
    if not name:
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")
    if not sep:
        return name, None
    if not (index.isascii() and index.isdigit()):
        raise UsageError(f"--device {device!r}: the index after ':' must be a non-negative integer")
    return name, int(index)


def auto_device(registry) -> str:
    for name in ("cuda", "mps"):
        if name in registry.names("accelerator") and registry.get("accelerator", name).load().is_available():
            return name
    return "cpu"


def make_accelerator(registry, device: str = "auto", dtype: str = "auto") -> Accelerator:
    """Build the accelerator for ``--device`` / ``--dtype`` from the registered backends."""
    if dtype not in DTYPE_CHOICES:
        raise UsageError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPE_CHOICES)}")
    name, index = parse_device(auto_device(registry) if device.strip().lower() == "auto" else device)
    if name not in registry.names("accelerator"):
        known = ", ".join(["auto", *registry.names("accelerator")])
        raise UsageError(f"--device {device!r}: unknown device (known: {known})")
    return registry.get("accelerator", name).load()(index=index, dtype=dtype)
