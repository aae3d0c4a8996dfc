"""`arctl models`, `arctl download` and `arctl convert`."""


from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.cli.output import err, human_size, out, print_json
from arctl.errors import ArctlError, UsageError
from arctl.models import describe_model
from arctl.registry import CONTAINERS


def add_commands(app: typer.Typer, manager) -> None:
    registry = manager.registry

    def complete_model(incomplete: str) -> list[str]:
        return [r.checkpoint.name for r in registry.checkpoints() if r.checkpoint.name.startswith(incomplete)]

    @app.command()
    def models(
        model: Annotated[Optional[str], typer.Argument(help="Show one checkpoint in detail.", autocompletion=complete_model)] = None,
        options: Annotated[bool, typer.Option("--options", help="With MODEL: its sampling defaults and -o options.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """List every registered checkpoint, its size and whether it is cached locally."""
        if options and model is None:
            raise UsageError("--options needs a MODEL: `arctl models MODEL --options`")
        if model is not None:
            info = describe_model(registry.model(model), with_options=options)
            if as_json:
                print_json(info)
            else:
                show_model(info)
            return
        rows = [describe_model(ref) for ref in sorted(registry.checkpoints(), key=lambda r: r.checkpoint.name)]
        if as_json:
            print_json(rows)
            return
        from rich.table import Table

        table = Table("model", "kind", "plugin", "size", "cached", "description", box=None)
        for row in rows:
            table.add_row(row["name"], f"{row['kind']} {row['component']}", str(row["plugin"]), human_size(row["size"]),
                          row["cached"], row["description"])
        out().print(table if rows else "No checkpoints registered; `arctl plugins` shows what is installed.")

    @app.command()
    def download(
        model: Annotated[str, typer.Argument(help="Checkpoint name.", autocompletion=complete_model)],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Fetch every file of a checkpoint into the Hugging Face cache."""
        from arctl.hub import resolve_checkpoint

        files = resolve_checkpoint(registry.model(model).checkpoint, advise_download=False)
        if as_json:
            print_json({role: {"path": str(f.path), "source": f.source, **f.describe()} for role, f in files.items()})
            return
        for role, f in files.items():
            typer.echo(str(f.path))
            err().print(f"{role}: {f.weight.repo_id}/{f.weight.filename} @ {f.commit} ({f.source})")

    @app.command()
    def convert(
        path: Annotated[Path, typer.Argument(help="A .pth/.pt/.ckpt/.bin or .safetensors checkpoint.")],
        out_path: Annotated[Path, typer.Option("--out", help="Where to write the .safetensors file.")],
        container: Annotated[str, typer.Option(help=f"Where the state dict sits: {', '.join(CONTAINERS)}.")] = "auto",
        force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    ) -> None:
        """Rewrite a checkpoint as safetensors with its keys unchanged (weights-only loading, never unpickles code)."""
        if out_path.suffix != ".safetensors":
            raise UsageError(f"--out {out_path}: must end in .safetensors")
        if container not in CONTAINERS:
            raise UsageError(f"--container {container!r}: expected one of {', '.join(CONTAINERS)}")
        if out_path.exists() and not force:
            raise ArctlError(f"{out_path} exists; pass --force to overwrite it")
        if not path.is_file():
            raise ArctlError(f"{path}: no such file")
        from arctl.convert import convert_to_safetensors

        count = convert_to_safetensors(path, out_path, container=container)
        typer.echo(str(out_path))
        err().print(f"{count} tensors written")


def show_model(info: dict) -> None:
    console = out()
    console.print(f"[bold]{info['name']}[/bold] — {info['description']}")
    console.print(f"{info['kind']} {info['component']} (plugin {info['plugin']}), size {human_size(info['size'])}, cached: {info['cached']}")
    for role, f in info["files"].items():
        console.print(f"  {role}: {f['repo_id']}/{f['filename']} @ {f['revision']} ({f['container']})")
    if "options" in info:
        console.print(f"conditioning: {info['conditioning']}" + (f" ({info['num_classes']} classes)" if info["num_classes"] else ""))
        console.print(f"--cfg: {info['cfg']}")
        console.print("defaults: " + ", ".join(f"{k}={v}" for k, v in info["sampling_defaults"].items()))
        if not info["options"]:
            console.print("options: none")
        for o in info["options"]:
            allowed = f" one of {o['choices']}" if o["choices"] else ""
            bounds = "".join(f" {s} {o[k]}" for k, s in (("min", ">="), ("max", "<=")) if o[k] is not None)
            console.print(f"  -o {o['name']}=<{o['type']}> (default {o['default']}){allowed}{bounds}: {o['help']}")
        for i in info["image_inputs"]:
            needs = "required" if i["required"] else "optional"
            companions = f", with {', '.join(i['with_'])}" if i["with_"] else ""
            console.print(f"  --image {i['name']}=PATH ({i['mode']}, {needs}{companions}): {i['description']}")
