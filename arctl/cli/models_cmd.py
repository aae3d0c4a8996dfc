"""`arctl models`, `arctl download` and `arctl convert`."""


from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.cli.output import err, human_size, out, print_json
from arctl.cli.tables import OneLineTable
from arctl.classes import display_name
from arctl.errors import UsageError
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
        classes: Annotated[bool, typer.Option("--classes", help="With MODEL: every class id and name.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """List every registered checkpoint, its size and whether it is cached locally."""
        for flag, given in (("--options", options), ("--classes", classes)):
            if given and model is None:
                raise UsageError(f"{flag} needs a MODEL: `arctl models MODEL {flag}`")
        if model is not None:
            info = describe_model(registry.model(model), with_options=options or classes)
            if classes and not info.get("class_names"):
                ids = f" (its classes are ids 0..{info['num_classes'] - 1})" if info.get("num_classes") else ""
                raise UsageError(f"{info['name']} has no class names{ids}")
            if as_json:
                print_json(info["class_names"] if classes and not options else info)
                return
            if options or not classes:
                show_model(info)
            if classes:
                show_classes(info["class_names"])
            return
        rows = [describe_model(ref) for ref in sorted(registry.checkpoints(), key=lambda r: r.checkpoint.name)]
        if as_json:
            print_json(rows)
            return
        if not rows:
            out().print("No checkpoints registered; `arctl plugins` shows what is installed.")
            return
        cells = [(r["name"], r["kind"], r["plugin"], human_size(r["size"]), r["cached"], r["description"])
                 for r in rows]
        out().print(OneLineTable(("model", "kind", "plugin", "size", "cached", "description"), cells,
                                 texts=("description",), right=("size",)))

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
            where = "ships with its plugin" if f.source == "package" else f"@ {f.commit} ({f.source})"
            err().print(f"{role}: {f.weight.repo_id}/{f.weight.filename} {where}")

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
        from arctl.convert import convert_to_safetensors
        from arctl.files import check_output_file

        check_output_file(out_path, force=force)

        count = convert_to_safetensors(path, out_path, container=container)
        typer.echo(str(out_path))
        err().print(f"{count} tensors written")


def show_model(info: dict) -> None:
    console = out()
    console.print(f"[bold]{info['name']}[/bold] — {info['description']}")
    console.print(f"{info['kind']} {info['component']} (plugin {info['plugin']}), size {human_size(info['size'])}, cached: {info['cached']}")
    for role, f in info["files"].items():
        console.print(f"  {role}: {f['repo_id']}/{f['filename']} @ {f['revision']} ({f['container']}), "
                      f"{human_size(f['size'])}")
    if "options" in info:
        console.print(f"conditioning: {info['conditioning']}" + (f" ({info['num_classes']} classes)" if info["num_classes"] else ""))
        if info["class_names"]:
            show_class_names(info["name"], info["class_names"])
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


FEW_CLASSES = 20  # class lists up to this long are shown whole by --options; longer ones by --classes


def show_class_names(model: str, names: list[str]) -> None:
    """A few classes in columns (``id name``); of a long list its first ones and how to see them all."""
    from rich.columns import Columns

    console = out()
    labelled = [f"{i} {display_name(name)}" for i, name in enumerate(names)]
    if len(names) <= FEW_CLASSES:
        console.print("classes:")
        console.print(Columns(labelled, padding=(0, 3), column_first=True), markup=False, highlight=False)
        return
    console.print(f"classes: {', '.join(labelled[:3])}, ..., {labelled[-1]}", markup=False, highlight=False)
    console.print(f"  all {len(names)}: `arctl models {model} --classes`; --class takes an id or a name", markup=False,
                  highlight=False)


def show_classes(names: list[str]) -> None:
    """Every class as ``id  name, synonyms...``, one a line (to grep)."""
    width = len(str(len(names) - 1))
    for i, name in enumerate(names):
        typer.echo(f"{i:>{width}}  {name}")
