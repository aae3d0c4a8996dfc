"""Shared fixtures for the core tests: the example plugin and its weights in an offline Hub cache."""

import sys
from pathlib import Path

import pytest

EXAMPLE_PLUGIN = Path(__file__).parent / "example_plugin"
sys.path.insert(0, str(EXAMPLE_PLUGIN))


def toy_state_dict(seed: int = 0) -> dict:
    import torch

    from arctl_toy import TOY_CONFIG
    from arctl_toy.model import ToyTokenModel

    torch.manual_seed(seed)
    return ToyTokenModel(**TOY_CONFIG).state_dict()


@pytest.fixture
def toy_plugin():
    import arctl_toy

    return arctl_toy


@pytest.fixture
def toy_manager(make_plugin_manager, toy_plugin):
    return make_plugin_manager(toy_plugin)


@pytest.fixture
def toy_weights(hub_cache, toy_plugin):
    """The toy checkpoints (safetensors and the ckpt['model'] pickle) in the offline Hub cache."""
    state = toy_state_dict()
    hub_cache.add_checkpoint(toy_plugin.TOY, {"model": state})
    hub_cache.add_checkpoint(toy_plugin.TOY_PTH, {"model": state})
    return state


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """Install a plugin the way pip would: a module plus a .dist-info with an "arctl" entry point."""
    import importlib
    import textwrap

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules = []

    def install(dist: str, module: str, source: str, *, entry: str | None = None, version: str = "1.0") -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[arctl]\n{entry or dist} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()

    yield install
    for module in modules:
        sys.modules.pop(module, None)
