"""`arctl env`: versions, devices, dtype support, cache location, plugins."""


from typing import Annotated

import typer

from arctl.cli.output import out, print_json


def add_commands(app: typer.Typer, manager) -> None:
    @app.command()
    def env(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
        """Print versions, devices and dtype support, the Hub cache, and plugins."""
        from arctl.environment import describe_environment

        info = describe_environment(manager)
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
