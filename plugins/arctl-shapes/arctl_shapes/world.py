"""The shapes world: a procedural, seeded image distribution small enough to train on two CPU cores.

Every 64x64 image shows one shape (circle, square, triangle, star or cross) in one of six colours,
at a random position, size and rotation, on a lightly textured background. The 10 classes are shape x
colour family (warm: red, orange, yellow; cool: green, blue, purple). Each image comes with its
attributes, its class, a caption ("a small red circle at the top left") and an edge map.

Image ``i`` of world ``seed`` is a pure function of (seed, i): nothing is stored, any slice can be
regenerated anywhere, and disjoint index ranges give independent train / held-out sets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 64
SUPERSAMPLE = 4  # draw at 256 px and downsample: anti-aliased edges
SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = {
    "red": (214, 39, 40),
    "orange": (245, 130, 20),
    "yellow": (226, 196, 18),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "purple": (140, 60, 190),
}
WARM = ("red", "orange", "yellow")
NUM_CLASSES = 2 * len(SHAPES)
CLASS_NAMES = tuple(f"{family} {shape}" for shape in SHAPES for family in ("warm", "cool"))
RADIUS = (9.0, 22.0)  # half the shape's extent, in pixels
SIZE_WORDS = ((13.0, "small"), (18.0, "medium"), (math.inf, "large"))
ROWS, COLS = ("top", "middle", "bottom"), ("left", "centre", "right")


def class_of(shape: str, colour: str) -> int:
    return SHAPES.index(shape) * 2 + (colour not in WARM)


@dataclass(frozen=True)
class Attributes:
    shape: str
    colour: str
    radius: float
    x: float  # centre, pixels
    y: float
    rotation: float  # degrees

    @property
    def label(self) -> int:
        return class_of(self.shape, self.colour)

    @property
    def size_word(self) -> str:
        return next(word for limit, word in SIZE_WORDS if self.radius < limit)

    @property
    def place(self) -> str:
        row = ROWS[min(int(self.y / SIZE * 3), 2)]
        col = COLS[min(int(self.x / SIZE * 3), 2)]
        return "in the centre" if (row, col) == ("middle", "centre") else f"at the {row} {col}"

    @property
    def caption(self) -> str:
        return f"a {self.size_word} {self.colour} {self.shape} {self.place}"


def outline(shape: str, radius: float, x: float, y: float, rotation: float) -> list[tuple[float, float]] | None:
    """Polygon vertices of a shape (None for the circle), in pixel coordinates."""
    if shape == "circle":
        return None
    if shape == "square":
        corners = [(radius * 0.85, angle) for angle in (45, 135, 225, 315)]
        points = [(r * math.sqrt(2), a) for r, a in corners]
    elif shape == "triangle":
        points = [(radius, a) for a in (90, 210, 330)]
    elif shape == "star":
        points = [(radius if i % 2 == 0 else radius * 0.45, 90 + 36 * i) for i in range(10)]
    else:  # cross: a plus sign, arms a third of its extent wide
        w = radius / 3
        xy = [(w, radius), (w, w), (radius, w), (radius, -w), (w, -w), (w, -radius),
              (-w, -radius), (-w, -w), (-radius, -w), (-radius, w), (-w, w), (-w, radius)]
        points = [(math.hypot(px, py), math.degrees(math.atan2(py, px))) for px, py in xy]
    return [(x + r * math.cos(math.radians(a + rotation)), y - r * math.sin(math.radians(a + rotation)))
            for r, a in points]


def background(rng: np.random.Generator) -> np.ndarray:
    """A light grey, softly mottled and slightly grainy background [64, 64, 3] (floats 0..255)."""
    base = rng.uniform(205, 240)
    tint = rng.uniform(-8, 8, size=3)
    coarse = rng.normal(0, 1, size=(8, 8)).astype(np.float32)
    mottle = np.asarray(Image.fromarray(coarse, mode="F").resize((SIZE, SIZE), Image.BICUBIC))
    grain = rng.normal(0, 2.5, size=(SIZE, SIZE, 1))
    return np.clip(base + tint + 6 * mottle[..., None] + grain, 0, 255)


def render(attributes: Attributes, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image [64, 64, 3] uint8, edge map [64, 64] bool) of one shape over a fresh background."""
    s = SUPERSAMPLE
    mask = Image.new("L", (SIZE * s, SIZE * s), 0)
    draw = ImageDraw.Draw(mask)
    a = attributes
    points = outline(a.shape, a.radius * s, a.x * s, a.y * s, a.rotation)
    if points is None:
        draw.ellipse([(a.x - a.radius) * s, (a.y - a.radius) * s, (a.x + a.radius) * s, (a.y + a.radius) * s], fill=255)
    else:
        draw.polygon(points, fill=255)
    alpha = np.asarray(mask.resize((SIZE, SIZE), Image.BOX), dtype=np.float32)[..., None] / 255
    colour = np.asarray(COLOURS[a.colour], dtype=np.float32) + rng.uniform(-10, 10, size=3)
    image = background(rng) * (1 - alpha) + colour * alpha
    hard = mask.resize((SIZE, SIZE), Image.BOX).point(lambda v: 255 if v >= 128 else 0)
    edges = np.asarray(hard.filter(ImageFilter.FIND_EDGES)) > 0
    return np.clip(image, 0, 255).round().astype(np.uint8), edges


@dataclass(frozen=True)
class Sample:
    index: int
    image: np.ndarray  # [64, 64, 3] uint8
    edges: np.ndarray  # [64, 64] bool
    attributes: Attributes

    @property
    def label(self) -> int:
        return self.attributes.label

    @property
    def caption(self) -> str:
        return self.attributes.caption

    def describe(self) -> dict:
        return {"index": self.index, "label": self.label, "class_name": CLASS_NAMES[self.label], "caption": self.caption,
                **asdict(self.attributes)}


class ShapesWorld:
    """Image ``i`` of world ``seed``; optionally forced to a class (for class-conditional references)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _rng(self, index: int, label: int | None) -> np.random.Generator:
        return np.random.default_rng([self.seed, index, NUM_CLASSES if label is None else label])

    def attributes(self, rng: np.random.Generator, label: int | None = None) -> Attributes:
        label = int(rng.integers(NUM_CLASSES)) if label is None else label
        if not 0 <= label < NUM_CLASSES:
            raise ValueError(f"class {label} is out of range 0..{NUM_CLASSES - 1}")
        shape = SHAPES[label // 2]
        family = tuple(c for c in COLOURS if (c in WARM) == (label % 2 == 0))
        colour = family[int(rng.integers(len(family)))]
        radius = float(rng.uniform(*RADIUS))
        margin = radius + 1
        x, y = (float(v) for v in rng.uniform(margin, SIZE - margin, size=2))
        return Attributes(shape, colour, radius, x, y, float(rng.uniform(0, 360)))

    def sample(self, index: int, label: int | None = None) -> Sample:
        rng = self._rng(index, label)
        attributes = self.attributes(rng, label)
        image, edges = render(attributes, rng)
        return Sample(index, image, edges, attributes)

    def stream(self, start: int = 0, label: int | None = None) -> Iterator[Sample]:
        index = start
        while True:
            yield self.sample(index, label)
            index += 1

    def arrays(self, start: int, count: int, label: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(images [count, 64, 64, 3] uint8, labels [count]) for indices start .. start + count - 1."""
        samples = [self.sample(i, label) for i in range(start, start + count)]
        return np.stack([s.image for s in samples]), np.array([s.label for s in samples])


def to_tensor(images: np.ndarray):
    """uint8 [N, 64, 64, 3] -> float tensor [N, 3, 64, 64] in [0, 1]."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
