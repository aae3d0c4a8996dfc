"""`arctl env`: versions, devices, dtype support, cache location, plugins."""


from typing import Annotated

import typer

from arctl.cli.output import out, print_json
from arctl.cli.tables import KeyValueTable


def add_commands(app: typer.Typer, manager) -> None:
    @app.command()
    def env(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
        """Print versions, devices and dtype support, the Hub cache, and plugins."""
        from arctl.environment import describe_environment

        info = describe_environment(manager)
        if as_json:
            print_json(info)
            return
        out().print(KeyValueTable(environment_rows(info)))


def environment_rows(info: dict) -> list[tuple[str, str]]:
    rows = [("python", f"{info['python']} on {info['platform']}")]
    rows += [(name, version or "missing") for name, version in info["packages"].items()]
    for d in info["devices"]:
        details = [describe_detail(k, v) for k, v in d.items() if k not in ("device", "available") and v is not None]
        state = "available" if d["available"] else "not available"
        rows.append((f"device {d['device']}", "; ".join([state, *details])))
    rows.append(("hub cache", info["hub_cache"] + (" (offline)" if info["hub_offline"] else "")))
    for name, p in info["plugins"].items():
        state = f"failed to load: {p['error']}" if p["error"] else p["version"] or "version unknown"
        rows.append((f"plugin {name}", state))
    if not info["plugins"]:
        rows.append(("plugins", "none installed"))
    return rows


def describe_detail(key: str, value) -> str:
    """``dtypes: fp32, bf16``, ``threads: 2``, ``gpus: NVIDIA H200``."""
    shown = ", ".join(map(str, value)) if isinstance(value, list) else value
    return f"{key.replace('_', ' ')}: {shown}"
