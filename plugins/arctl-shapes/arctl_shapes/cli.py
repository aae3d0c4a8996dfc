"""`arctl shapes train | judge | eval`."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.errors import UsageError

FAMILIES = ("var", "judge")


def shapes_app() -> typer.Typer:
    from arctl_shapes.judge_cmd import judge_images

    app = typer.Typer(no_args_is_help=True)
    app.command(name="judge", help="Judge images: predicted class, shape, colour, size, confidence.")(judge_images)

    @app.command()
    def train(
        family: Annotated[str, typer.Argument(help=f"What to train: {', '.join(FAMILIES)}.")],
        out: Annotated[Optional[Path], typer.Option(help="Output repository directory (default: ./shapes-zoo/FAMILY).")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Recipe override KEY=VALUE (e.g. var_steps=200).")] = None,
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
        overrides = {k: json.loads(v) for k, v in split_assignments(option or []).items()}
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

    return app


def train_family(family: str, out: Path, overrides: dict, progress) -> dict:
    if family == "var":
        from arctl_shapes.train_var import RECIPE, train
    else:
        from arctl_shapes.train_judge import train_judge

        return train_judge(out_dir=out, progress=progress, **overrides)
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise UsageError(f"unknown recipe key {unknown[0]!r} for {family} (keys: {', '.join(RECIPE)})")
    return train(out, overrides, progress)
