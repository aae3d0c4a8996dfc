"""`arctl shapes train | judge | eval`."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.errors import UsageError

FAMILIES = ("var", "llamagen", "nar", "mar", "judge", "roundtrip")
RECIPE_MODULES = {"var": "arctl_shapes.train_var", "llamagen": "arctl_shapes.train_llamagen",
                  "nar": "arctl_shapes.train_nar", "mar": "arctl_shapes.train_mar",
                  "roundtrip": "arctl_shapes.train_roundtrip"}


def shapes_app() -> typer.Typer:
    from arctl_shapes.judge_cmd import judge_images

    app = typer.Typer(no_args_is_help=True)
    app.command(name="judge", help="Judge images: predicted class, shape, colour, size, confidence.")(judge_images)

    @app.command()
    def train(
        family: Annotated[str, typer.Argument(help=f"What to train: {', '.join(FAMILIES)}.")],
        out: Annotated[Optional[Path], typer.Option(
            help="Output repository directory (default: ./shapes-zoo/FAMILY).")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help=(
            "Recipe override KEY=VALUE (e.g. var_steps=200; for nar, vq=PATH picks the tokenizer; for roundtrip, "
            "tokenizer=var-shapes, source=PATH)."))] = None,
        threads: Annotated[int, typer.Option(min=1, help="CPU threads for torch.")] = 2,
    ) -> None:
        """Train a zoo model with its recorded recipe (seeded), with progress and periodic checkpoints."""
        import json

        import torch

        from arctl.cli.output import StepProgress, err
        from arctl.options import split_assignments

        if family not in FAMILIES:
            raise UsageError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
        torch.set_num_threads(threads)
        out = out or Path("shapes-zoo") / family
        overrides = {k: recipe_value(v) for k, v in split_assignments(option or []).items()}
        with StepProgress(f"train {family}") as bar:
            state = {"total": None}

            def progress(step: int, steps: int, loss: float) -> None:
                if state["total"] != steps:  # a new stage (tokenizer, then transformer)
                    bar.start(steps)
                    state["total"] = steps
                bar.advance()

            record = train_family(family, out, overrides, progress)
        typer.echo(str(out))
        err().print(f"trained {family} in {record['seconds']['total']} s: " + json.dumps(
            {k: v for k, v in record.items() if k.endswith("loss") or k.endswith("accuracy")}))

    @app.command(name="eval")
    def evaluate_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(
            help="A class-conditional generator whose domain has a registered judge, e.g. var-shapes.")],
        compare: Annotated[Optional[str], typer.Option(
            help="A second model, run in the same process; ratios are printed.")] = None,
        num: Annotated[int, typer.Option(
            min=10, help="Images per model (rounded up to a multiple of the class count).")] = 200,
        seed: Annotated[int, typer.Option(min=0, help="Seed of the generated images.")] = 0,
        cfg: Annotated[Optional[float], typer.Option(help="Guidance, in the model's own meaning.")] = None,
        cfg_schedule: Annotated[Optional[str], typer.Option(help="Guidance schedule (constant, linear, ...).")] = None,
        top_k: Annotated[Optional[int], typer.Option(min=0, help="Top-k (0: off).")] = None,
        top_p: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Top-p (1: off).")] = None,
        temperature: Annotated[Optional[float], typer.Option(help="Temperature (> 0).")] = None,
        sampler: Annotated[Optional[str], typer.Option(help="Sampler name.")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Plugin option KEY=VALUE.")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, ...")] = "cpu",
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Class fidelity, FD (with the real-vs-real floor), images/s, passes per image and peak memory, from the
        judge registered for the model's domain (the shapes judge for the zoo)."""
        from arctl.cli import plugin_manager
        from arctl.cli.output import out, print_json
        from arctl.options import split_assignments
        from arctl_shapes.evaluate import evaluate, judges_for, ratios

        manager = plugin_manager(ctx)
        names = [model] + ([compare] if compare else [])
        for name in names:  # a model without a judge fails before anything loads
            judges_for(manager.registry, name)
        given = {"cfg": cfg, "cfg_schedule": cfg_schedule, "top_k": top_k, "top_p": top_p, "temperature": temperature,
                 "sampler": sampler}
        sampling = {k: v for k, v in given.items() if v is not None}
        sampling["options"] = split_assignments(option or [])
        rows = [evaluate(manager, name, num=num, seed=seed, device=device, sampling=sampling) for name in names]
        comparison = ratios(rows[0], rows[1]) if compare else None
        if as_json:
            print_json({"rows": [r.describe() for r in rows], "ratios": comparison})
            return
        from rich.table import Table

        table = Table("model", "images", "class fidelity", "FD", "FD floor", "images/s", "passes/image", "peak memory",
                      box=None)
        for r in rows:
            peak = f"{r.peak_memory_bytes / 2**30:.2f} GiB" if r.peak_memory_bytes else "?"
            table.add_row(r.model, str(r.images), f"{r.class_fidelity:.3f}", f"{r.fd:.1f}", f"{r.fd_floor:.1f}",
                          f"{r.images_per_second:.2f}", str(r.passes_per_image), peak)
        out().print(table)
        if comparison:
            out().print(f"{compare} / {model}: " + ", ".join(f"{k} {v}" for k, v in comparison.items()))

    return app


def recipe_value(text: str):
    """A recipe override: JSON where it parses (numbers, booleans), else the text itself (paths)."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def train_family(family: str, out: Path, overrides: dict, progress) -> dict:
    if family == "judge":
        from arctl_shapes.train_judge import train_judge

        return train_judge(out_dir=out, progress=progress, **overrides)
    import importlib

    recipe = importlib.import_module(RECIPE_MODULES[family])
    unknown = sorted(set(overrides) - set(recipe.RECIPE))
    if unknown:
        raise UsageError(f"unknown recipe key {unknown[0]!r} for {family} (keys: {', '.join(recipe.RECIPE)})")
    return recipe.train(out, overrides, progress)
