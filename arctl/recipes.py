"""The recipe every output file carries: what made it, from which files, with which versions.

``new_recipe`` is the one place a recipe starts (generate, edit, watermark); ``versions`` the one place the versions
it records are gathered: arctl, torch, and the plugin of every component that decided the pixels.
"""

from __future__ import annotations

from typing import Any

RECIPE_FORMAT = 1


def versions(manager, *specs) -> dict[str, str]:
    """``{"arctl": ..., "torch": ..., <plugin>: ...}`` for the plugins that registered ``specs`` and the plugins
    whose code their factories run (the shapes zoo registers var-shapes, arctl-var's code draws its pixels)."""
    import torch

    from arctl.version import __version__

    found = {"arctl": __version__, "torch": torch.__version__}
    for spec in specs:
        if spec is None:
            continue
        for name in (spec.plugin, code_plugin(manager, spec)):
            info = manager.infos.get(name)
            if info is not None:
                found[info.name] = info.version or "unknown"
    return found


def code_plugin(manager, spec) -> str | None:
    """The plugin whose distribution ships the module ``spec``'s factory names (None for a callable factory)."""
    from importlib.metadata import packages_distributions

    if not isinstance(spec.factory, str):
        return None
    distributions = packages_distributions().get(spec.factory.split(":")[0].split(".")[0], [])
    return next((info.name for info in manager.infos.values() if info.package in distributions), None)


def new_recipe(command: str, *, model: str, files: dict, versions: dict, **fields: Any) -> dict[str, Any]:
    """A recipe for an output of ``arctl COMMAND``: the format, the command, the model, its files and versions,
    then the command's own fields."""
    return {"format": RECIPE_FORMAT, "command": command, "model": model,
            "files": {role: dict(source) for role, source in files.items()}, "versions": dict(versions), **fields}
