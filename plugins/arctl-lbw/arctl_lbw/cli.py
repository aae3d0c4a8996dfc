"""`arctl lbw eval`: the robustness evaluation on the command line (torch is imported only when it runs)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.errors import UsageError

ATTACKS_HELP = ("Comma-separated attacks, or all: none, jpeg-90, jpeg-75, jpeg-50, noise-0.02, noise-0.05, blur-0.5, "
                "blur-1.0, resize-0.75, resize-0.5, crop-0.9, crop-0.8, brightness-1.2, brightness-0.8, regen. "
                "none (no attack) is always measured.")


class RichTracker:
    """Progress bars on stderr, one per long part (generation of each arm, the attacks)."""

    def __init__(self, progress) -> None:
        self.progress = progress

    def task(self, description: str):
        from arctl.generation import Progress

        state = {}

        def start(total: int) -> None:
            state["task"] = self.progress.add_task(description, total=total)

        return Progress(start=start, advance=lambda n=1, **fields: self.progress.advance(state["task"], n))


def make_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("eval")
    def eval_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Option("--model", help="A token generator checkpoint, e.g. var-shapes.")],
        num: Annotated[int, typer.Option("--num", "-n", help="Images per arm (clean and watermarked).")] = 200,
        key_file: Annotated[Optional[Path], typer.Option("--key-file", help="Key file (default: a fresh random key "
                                                         "held in memory only).")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="LBW option KEY=VALUE "
                                                            "(delta, gamma, pool, mode, scales); repeat.")] = None,
        attacks: Annotated[str, typer.Option("--attacks", help=ATTACKS_HELP)] = "all",
        roc: Annotated[Optional[Path], typer.Option("--roc", help="Write a ROC plot (PNG) here.")] = None,
        seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of both arms and of the noise attacks.")] = 0,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")] = "auto",
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    ) -> None:
        """Robustness of the mark: AUC and TPR at FPR 1% and 0.1% per attack, and its quality cost.

        Generates --num clean and --num watermarked images with the same seeds, attacks both arms, re-encodes
        and detects; on shapes-world models the judge scores both arms."""
        from arctl.cli import plugin_manager
        from arctl.cli.output import err, out, print_json
        from arctl.generation import MAX_SEED, generator_ref
        from arctl.options import parse_options, split_assignments
        from arctl.tokenizers import tokenizer_checkpoint
        from arctl_lbw.attacks import parse_attacks
        from arctl_lbw.evaluate import conditions_for

        manager = plugin_manager(ctx)
        # every usage error before any loading
        spec = manager.registry.get("watermarker", "lbw")
        options = parse_options(split_assignments(option or []), spec.options, owner="watermarker lbw")
        names = parse_attacks(attacks)
        conditions_for(generator_ref(manager.registry, model).owner, num)
        tokenizer_checkpoint(manager.registry, model)
        if not 0 <= seed <= MAX_SEED:
            raise UsageError(f"--seed {seed}: must be in 0..{MAX_SEED}")
        if roc is not None and roc.suffix.lower() != ".png":
            raise UsageError(f"--roc {roc}: must end in .png")
        key = read_or_make_key(key_file, err())
        report = run(manager, model, key, options, num=num, seed=seed, attacks=names, device=device)
        if roc is not None:
            write_roc(report, roc)
            err().print(f"wrote {roc}", markup=False, highlight=False)
        if as_json:
            print_json(report.describe())
            return
        from arctl_lbw.report import print_tables

        print_tables(report, out())

    return app


def read_or_make_key(key_file: Optional[Path], console):
    from arctl.keys import WatermarkKey, read_key

    if key_file is not None:
        key, warnings = read_key(key_file)
        for warning in warnings:
            console.print(f"warning: {warning}", markup=False, highlight=False)
        return key
    key = WatermarkKey.generate()
    console.print(f"note: no --key-file; using a fresh random key (fingerprint {key.fingerprint}) held in memory "
                  "only", markup=False, highlight=False)
    return key


def run(manager, model, key, options, **kwargs):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from arctl.cli.output import err
    from arctl_lbw.evaluate import evaluate

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err(), transient=True) as progress:
        return evaluate(manager, model, key, options, tracker=RichTracker(progress), **kwargs)


def write_roc(report, path: Path) -> None:
    from arctl_lbw.roc_plot import write_roc_png

    labels = {name: f"{name} (AUC {rates.auc:.3f})" for name, rates in report.attacks.items()}
    title = f"LBW on {report.model}: {report.num} watermarked vs {report.num} clean images"
    write_roc_png(path, report.curves, labels, title)
