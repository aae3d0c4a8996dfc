"""Where output goes: results on stdout (plain or JSON), progress and messages on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def out() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def err() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


def note(text: str, kind: str = "note") -> None:
    """One line on stderr, printed as is (no rich markup: paths may contain brackets)."""
    err().print(f"{kind}: {text}", markup=False, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


class StepProgress:
    """A rich progress bar on stderr, fed by ``arctl.generation.Progress`` callbacks: done / total ``unit``, the
    fields of the last ``advance`` (the step within a batch, a loss) as detail, the rate and the time left."""

    def __init__(self, description: str, unit: str = "steps") -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from arctl.cli.rate_column import RateColumn

        console = err()
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
            TextColumn("{task.fields[detail]}"), RateColumn(unit), TimeRemainingColumn(),
            console=console, transient=True,
            disable=not console.is_terminal,  # a bar is drawn for a person; a log file gets no stray blank lines
            # stdout printed while the bar is drawn goes above it on the terminal, but into a pipe when redirected
            redirect_stdout=sys.stdout.isatty(),
        )
        self.description = description
        self.task = None

    def start(self, total: int) -> None:
        self.task = self.progress.add_task(self.description, total=total, detail="")

    def advance(self, n: int = 1, **fields) -> None:
        detail = " ".join(f"{name} {value}" for name, value in fields.items())
        self.progress.update(self.task, advance=n, **({"detail": detail} if fields else {}))

    def __enter__(self) -> StepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

