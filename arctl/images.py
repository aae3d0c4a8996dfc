"""PNG files that carry their own recipe, written atomically; grids; reading images back; image tensors as a PNG
or a JPEG file would give them back."""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from arctl.errors import ArctlError
from arctl.files import atomic_write

RECIPE_KEY = "arctl-recipe"


def save_png(image: Image.Image, path: str | os.PathLike, recipe: dict[str, Any] | None = None) -> Path:
    """Write ``image`` atomically with ``recipe`` (default: the one it carries in ``image.info``, as images from
    ``arctl.load(...)(...)`` do)."""
    info = PngImagePlugin.PngInfo()
    text = json.dumps(recipe, sort_keys=True) if recipe is not None else image.info.get(RECIPE_KEY)
    if text is not None:
        info.add_text(RECIPE_KEY, text)
    return atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG", pnginfo=info))


def unique_path(directory: Path, stem: str, suffix: str = ".png") -> Path:
    """``directory/stem.png``, or ``stem-1.png``, ``stem-2.png``... so an earlier output is never overwritten."""
    candidate = directory / f"{stem}{suffix}"
    n = 1
    while candidate.exists():
        candidate = directory / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully read an image, or fail with one line naming the file."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return img
    except FileNotFoundError:
        raise ArctlError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ArctlError(f"{path}: not a readable image ({exc})") from None


def read_recipe(path: str | os.PathLike) -> dict[str, Any]:
    img = open_image(path)
    text = getattr(img, "text", {}).get(RECIPE_KEY)
    if text is None:
        raise ArctlError(f"{path}: carries no arctl recipe (was it written by `arctl generate`?)")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ArctlError(f"{path}: its arctl recipe is corrupt") from None


def make_grid(images: Sequence[Image.Image], columns: int | None = None, padding: int = 2) -> Image.Image:
    """Tile images (all of the first one's size) into a near-square grid."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    w, h = images[0].size
    grid = Image.new("RGB", (columns * w + (columns - 1) * padding, rows * h + (rows - 1) * padding), "white")
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid.paste(img.convert("RGB").resize((w, h)), (c * (w + padding), r * (h + padding)))
    return grid


def to_pil(images) -> list:
    """[B, 3, H, W] floats in [0, 1] -> RGB PIL images."""
    import torch

    array = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a, mode="RGB") for a in array]


def stored(images):
    """Images [N, 3, H, W] in [0, 1] as a PNG keeps them: rounded to 8 bits."""
    return images.mul(255).round().div(255)


def jpeg(images, quality: int):
    """Images [N, 3, H, W] in [0, 1] saved as JPEG at ``quality`` (PIL's encoder, 4:2:0 chroma subsampling) and
    read back."""
    from arctl.tokenizers import to_tensor

    decoded = []
    for picture in to_pil(images):
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as back:
            decoded.append(back.convert("RGB"))
    return to_tensor(decoded)
