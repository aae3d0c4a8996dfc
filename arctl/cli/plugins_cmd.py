"""`arctl plugins`, `arctl install`, `arctl uninstall`."""


import subprocess
import sys
from typing import Annotated, Optional

import typer

from arctl.cli.output import out, print_json
from arctl.errors import ArctlError, UsageError
from arctl.registry import HOOK_KINDS


def pip(*args: str) -> int:
    """Run pip of the Python that runs arctl, so plugins land where arctl finds them."""
    return subprocess.call([sys.executable, "-m", "pip", *args])


def add_commands(app: typer.Typer, manager) -> None:
    @app.command()
    def plugins(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        show_all: Annotated[bool, typer.Option("--all", help="Include the built-in plugins.")] = False,
        hook: Annotated[Optional[str], typer.Option(help="Only plugins implementing this hook.")] = None,
        requirements: Annotated[bool, typer.Option("--requirements", help="Print installed plugins as pip requirements.")] = False,
    ) -> None:
        """List plugins: version, hooks implemented, components registered, load errors."""
        if hook is not None and hook not in HOOK_KINDS:
            raise UsageError(f"--hook {hook!r}: unknown hook (known: {', '.join(HOOK_KINDS)})")
        infos = [i for i in manager.infos.values() if show_all or not i.builtin]
        if hook is not None:
            infos = [i for i in infos if hook in i.hooks]
        if requirements:
            for info in infos:
                if info.package:
                    typer.echo(f"{info.package}=={info.version}")
            return
        if as_json:
            print_json([i.describe() for i in infos])
            return
        console = out()
        if not infos:
            console.print("No plugins installed; `arctl install PACKAGE` adds one (`--all` shows the built-ins).")
        for info in infos:
            version = f" {info.version}" if info.version else ""
            console.print(f"[bold]{info.name}[/bold]{version}" + (" (built-in)" if info.builtin else ""))
            if info.error:
                label = "failed to load" if not info.components else "partly failed"
                console.print(f"  [red]{label}:[/red] {info.error}", markup=True, highlight=False)
                if not info.components:
                    continue
            console.print(f"  hooks: {', '.join(info.hooks) or 'none'}")
            for kind, names in info.components.items():
                console.print(f"  {kind}: {', '.join(names)}")

    @app.command()
    def install(
        packages: Annotated[Optional[list[str]], typer.Argument(help="Packages to install (pip syntax).")] = None,
        upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Upgrade if already installed.")] = False,
        editable: Annotated[Optional[list[str]], typer.Option("--editable", "-e", help="Install a local project in editable mode.")] = None,
        force_reinstall: Annotated[bool, typer.Option(help="Reinstall even if up to date.")] = False,
    ) -> None:
        """Install plugins with pip into arctl's own environment."""
        if not packages and not editable:
            raise UsageError("give at least one PACKAGE or -e PATH")
        args = ["install"] + (["--upgrade"] if upgrade else []) + (["--force-reinstall"] if force_reinstall else [])
        for path in editable or []:
            args += ["--editable", path]
        raise typer.Exit(pip(*args, *(packages or [])))

    @app.command()
    def uninstall(
        packages: Annotated[list[str], typer.Argument(help="Packages to remove.")],
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    ) -> None:
        """Uninstall plugins with pip (asks first, unless -y)."""
        if not yes and not confirmed(f"Uninstall {', '.join(packages)}?"):
            raise ArctlError("nothing uninstalled (not confirmed; -y uninstalls without asking)")
        raise typer.Exit(pip("uninstall", "--yes", *packages))


def confirmed(question: str) -> bool:
    """Ask on stderr (stdout is for results); input that ends or is interrupted is a no."""
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:
        typer.echo(err=True)  # end the prompt's line
        return False
