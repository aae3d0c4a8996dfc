"""The `arctl` command line, built by a factory from a plugin manager (no import-time registration).

Exit codes: 0 ok, 1 runtime failure (one line, no traceback unless ARCTL_DEBUG=1), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from arctl.errors import ArctlError
from arctl.plugins import PluginManager
from arctl.version import __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"arctl {__version__}")
        raise typer.Exit()


def build_app(manager: PluginManager) -> typer.Typer:
    from arctl.cli import env_cmd, generate_cmd, models_cmd, plugins_cmd, watermark_cmd

    app = typer.Typer(
        name="arctl",
        help="Run, compare, watermark and edit autoregressive image generators.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                              help="Print arctl's version and exit.")] = False,
    ) -> None:
        pass

    for module in (generate_cmd, watermark_cmd, models_cmd, plugins_cmd, env_cmd):
        module.add_commands(app, manager)
    for spec in manager.registry.all("command"):
        try:
            made = spec.load()()
            if isinstance(made, typer.Typer):  # a command group: arctl NAME SUBCOMMAND ...
                app.add_typer(made, name=spec.name, help=spec.description)
            elif callable(made):  # a single command: arctl NAME ...
                app.command(name=spec.name, help=spec.description)(made)
            else:
                raise TypeError(f"factory returned {type(made).__name__}, not a typer.Typer or a function")
        except Exception as exc:  # one plugin's broken command must not take the CLI down
            manager.record_failure(spec.plugin, f"command {spec.name!r}: {type(exc).__name__}: {exc}")
    return app


def plugin_manager(ctx: typer.Context) -> PluginManager:
    """The plugin manager the CLI was built from, for plugin commands (declare a ``ctx: typer.Context`` parameter)."""
    return ctx.find_root().obj


def _debug() -> bool:
    return os.environ.get("ARCTL_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _fail(message: str, code: int) -> int:
    if _debug():
        traceback.print_exc()
    sys.stderr.write(f"Error: {message}\n")
    return code


def main(argv: list[str] | None = None, manager: PluginManager | None = None) -> int:
    """Run the CLI and return its exit code (never raises for user or runtime errors)."""
    try:
        manager = manager or PluginManager()
        command = typer.main.get_command(build_app(manager))
        # Not standalone, so that typer's usage errors reach the one-line printing below; typer.Exit(code)
        # (Ctrl-C too, as 130) then comes back as the return value.
        code = command.main(args=argv, prog_name="arctl", standalone_mode=False, obj=manager)
        return code if isinstance(code, int) else 0
    except SystemExit as exc:  # shell completion (or a command's sys.exit) exits by itself
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ArctlError as exc:
        return _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:  # typer vendors click: its usage errors (exit 2) and file errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: the help (typer, too, knows it by name)
            if exc.format_message():  # plain help; rich help is printed already
                typer.echo(exc.format_message())
            return exc.exit_code
        return _fail(" ".join(exc.format_message().split()), exc.exit_code)
    except typer.Abort:  # a prompt's input ended
        return _fail("aborted", 1)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as exc:  # a bug, not a user error: say so, keep the traceback behind ARCTL_DEBUG
        return _fail(f"unexpected {type(exc).__name__}: {exc} (set ARCTL_DEBUG=1 for the traceback)", 1)


def run() -> None:
    sys.exit(main())
