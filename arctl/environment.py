"""What `arctl env` reports: the Python, platform and package versions, devices with their dtypes, the Hub cache,
and the installed plugins with their load errors."""

import importlib.metadata
import platform
import sys

PACKAGES = ("arctl", "torch", "typer", "rich", "pluggy", "safetensors", "pillow", "huggingface-hub", "numpy")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def devices() -> list[dict]:
    import torch

    found = [{"device": "cpu", "available": True, "dtypes": ["fp32", "bf16"], "threads": torch.get_num_threads()}]
    cuda = {"device": "cuda", "available": torch.cuda.is_available(), "cuda_version": torch.version.cuda}
    if cuda["available"]:
        cuda["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        cuda["dtypes"] = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    found.append(cuda)
    found.append({"device": "mps", "available": torch.backends.mps.is_available()})
    return found


def describe_environment(manager) -> dict:
    from arctl.hub import cache_dir, is_offline

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "devices": devices(),
        "hub_cache": str(cache_dir()),
        "hub_offline": is_offline(),
        "plugins": {i.name: {"version": i.version, "error": i.error} for i in manager.infos.values() if not i.builtin},
    }
