"""Finding and loading plugins: built-ins, entry points (group "arctl"), and objects handed in by tests.

Each plugin is loaded and registered on its own. A plugin that fails (import error, misspelled hook,
bad or colliding registration) is recorded with its error and left out, so the CLI keeps working;
``ARCTL_STRICT_PLUGINS=1`` turns such a failure into an error. ``ARCTL_LOAD_PLUGINS=a,b`` limits the
entry-point plugins that load (empty: none); built-ins always load.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from arctl import hookspecs
from arctl.errors import PluginError
from arctl.registry import HOOK_KINDS, ComponentSpec, Registry

ENTRY_POINT_GROUP = "arctl"
BUILTIN_MODULES = ("arctl.builtins",)


@dataclass
class PluginInfo:
    """What `arctl plugins` shows about one plugin."""

    name: str
    version: str | None = None
    package: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _allowed_plugins() -> set[str] | None:
    raw = os.environ.get("ARCTL_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


class PluginManager:
    """Loads plugins once and exposes the resulting registry and per-plugin information."""

    def __init__(
        self,
        plugins: Iterable[Any] = (),
        *,
        entry_points: bool = True,
        strict: bool | None = None,
        allowed: set[str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager("arctl")
        self.pm.add_hookspecs(hookspecs)
        self.strict = _env_flag("ARCTL_STRICT_PLUGINS") if strict is None else strict
        self.allowed = _allowed_plugins() if allowed is None else allowed
        self.infos: dict[str, PluginInfo] = {}
        self.registry = Registry()

        for module_name in BUILTIN_MODULES:
            self._add(PluginInfo(name=module_name, builtin=True), lambda m=module_name: importlib.import_module(m))
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self._add(PluginInfo(name=name), lambda p=plugin: p)
        if entry_points:
            installed = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
            for ep in installed:
                if self.allowed is not None and ep.name not in self.allowed:
                    continue
                dist = getattr(ep, "dist", None)
                info = PluginInfo(
                    name=ep.name,
                    version=dist.version if dist else None,
                    package=dist.metadata["Name"] if dist else None,
                )
                self._add(info, ep.load)
            names = [ep.name for ep in installed]
            for name in sorted((self.allowed or set()) - set(names)):  # a typo would otherwise load nothing, silently
                self.record_failure(name, f"no such plugin is installed (installed: {', '.join(names) or 'none'})")

    @property
    def errors(self) -> dict[str, str]:
        return {name: info.error for name, info in self.infos.items() if info.error}

    def record_failure(self, plugin_name: str, error: str) -> None:
        """Note a failure found after loading (e.g. a command factory that breaks); fatal when strict."""
        info = self.infos.setdefault(plugin_name, PluginInfo(name=plugin_name))
        info.error = error if info.error is None else f"{info.error}; {error}"
        if self.strict:
            raise PluginError(f"plugin {plugin_name!r} failed: {error}")

    def _add(self, info: PluginInfo, load) -> None:
        """Load, register and collect one plugin; record (or, when strict, raise) any failure."""
        self.infos[info.name] = info
        registered = False
        try:
            module = load()
            self.pm.register(module, name=info.name)
            registered = True
            self.pm.check_pending()
            info.hooks = sorted(impl.name for impl in self._hookcallers(info.name))
            staged = self._collect(info.name)
            self.registry.merge(staged)
        except Exception as exc:  # a plugin must never take the CLI down with it
            if registered:
                self.pm.unregister(name=info.name)
            info.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PluginError) else str(exc)
            if self.strict:
                raise PluginError(f"plugin {info.name!r} failed to load: {info.error}") from exc
            return
        info.components = {}
        for spec in staged.all():
            info.components.setdefault(spec.kind, []).append(spec.name)

    def _hookcallers(self, plugin_name: str):
        plugin = self.pm.get_plugin(plugin_name)
        return self.pm.get_hookcallers(plugin) or []

    def _collect(self, plugin_name: str) -> Registry:
        """Call every hook this plugin implements and gather what it registers."""
        staged = Registry()
        for caller in self._hookcallers(plugin_name):
            accepted = HOOK_KINDS[caller.name]
            for impl in caller.get_hookimpls():
                if impl.plugin_name != plugin_name:
                    continue

                def register(spec: ComponentSpec, _hook=caller.name, _accepted=accepted) -> None:
                    if not isinstance(spec, _accepted):
                        names = " or ".join(t.__name__ for t in _accepted)
                        raise PluginError(f"{_hook} got {type(spec).__name__}; it takes {names}")
                    staged.add(dataclasses.replace(spec, plugin=plugin_name))

                impl.function(**{arg: register for arg in impl.argnames})
        return staged
