"""`arctl env`: versions, devices, dtype support, cache location, plugins."""


import importlib.metadata
import platform
import sys
from typing import Annotated

import typer

from arctl.cli.output import out, print_json

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


def collect(manager) -> dict:
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


def add_commands(app: typer.Typer, manager) -> None:
    @app.command()
    def env(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
        """Print versions, devices and dtype support, the Hub cache, and plugins."""
        info = collect(manager)
        if as_json:
            print_json(info)
            return
        console = out()
        console.print(f"python {info['python']} on {info['platform']}")
        console.print("packages: " + ", ".join(f"{k} {v or 'missing'}" for k, v in info["packages"].items()))
        for d in info["devices"]:
            extra = {k: v for k, v in d.items() if k not in ("device", "available")}
            state = "available" if d["available"] else "not available"
            console.print(f"device {d['device']}: {state}" + (f" {extra}" if extra else ""), highlight=False)
        console.print(f"hub cache: {info['hub_cache']}" + (" (offline)" if info["hub_offline"] else ""))
        for name, p in info["plugins"].items():
            console.print(f"plugin {name} {p['version'] or ''}" + (f" — failed: {p['error']}" if p["error"] else ""))
        if not info["plugins"]:
            console.print("plugins: none installed")
