"""A sample sheet: generated images of every class in one PNG, one row per shape (warm columns, then cool)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from arctl_shapes.world import SHAPES, SIZE

GAP = 2  # white pixels between tiles


def class_grid(images: Sequence[Image.Image], labels: Sequence[int], per_class: int) -> Image.Image:
    """Tiles ``per_class`` images of each class: row = shape, columns = warm images then cool ones."""
    rows, cols = len(SHAPES), 2 * per_class
    sheet = np.full((rows * (SIZE + GAP) - GAP, cols * (SIZE + GAP) - GAP, 3), 255, np.uint8)
    filled = [0] * (2 * len(SHAPES))
    for image, label in zip(images, labels):
        if filled[label] == per_class:
            continue
        row, col = label // 2, (label % 2) * per_class + filled[label]
        filled[label] += 1
        y, x = row * (SIZE + GAP), col * (SIZE + GAP)
        sheet[y : y + SIZE, x : x + SIZE] = np.asarray(image.convert("RGB"))
    return Image.fromarray(sheet)
