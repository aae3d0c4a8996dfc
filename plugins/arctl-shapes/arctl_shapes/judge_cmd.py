"""`arctl shapes judge IMAGE... [--json]`: what the shapes judge sees in each image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arctl.cli.output import err, out, print_json
from arctl.images import open_image
from arctl_shapes.world import SIZE


def judge_images(
    images: Annotated[list[Path], typer.Argument(help="Image files; anything not 64x64 is resized first.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Judge shapes images: class, shape, colour and size with confidences (--json adds the place)."""
    import numpy as np
    from PIL import Image
    from rich.markup import escape

    from arctl_shapes.judge import as_images, load_judge

    opened = [open_image(path) for path in images]  # every file is checked before anything is printed
    pixels = []
    for path, image in zip(images, opened):
        image = image.convert("RGB")  # before resizing: palette images only resize by nearest neighbour
        if image.size != (SIZE, SIZE):
            err().print(escape(f"{path}: {image.width}x{image.height}, resized to {SIZE}x{SIZE}"))
            image = image.resize((SIZE, SIZE), Image.LANCZOS)
        pixels.append(np.asarray(image))
    predictions = load_judge().predict(as_images(np.stack(pixels)))
    rows = [{"path": str(path), **p} for path, p in zip(images, predictions)]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("image", "class", "name", "shape", "colour", "size", "confidence", box=None)
    for r in rows:
        cells = (r["path"], r["class"], r["class_name"], r["shape"], r["colour"], r["size"], f"{r['confidence']:.3f}")
        table.add_row(*(escape(str(c)) for c in cells))
    out().print(table)
