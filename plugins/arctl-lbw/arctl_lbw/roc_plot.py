"""A ROC plot drawn with PIL alone (no plotting library): one curve per attack, axes, grid, legend.

The x axis (false-positive rate) is logarithmic by default, from 0.001 to 1, because the interesting part of
a watermark's ROC is at small rates; points at FPR 0 sit on the left edge.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from arctl.files import atomic_write

WIDTH, HEIGHT = 820, 560
LEFT, TOP, RIGHT, BOTTOM = 70, 44, 600, 500  # the plot area; the legend sits right of it
MIN_FPR = 1e-3
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


class Axes:
    """Maps (FPR, TPR) to pixels of the plot area."""

    def __init__(self, log_x: bool) -> None:
        self.log_x = log_x

    def x(self, fpr: float) -> float:
        if self.log_x:
            share = (math.log10(max(fpr, MIN_FPR)) - math.log10(MIN_FPR)) / -math.log10(MIN_FPR)
        else:
            share = fpr
        return LEFT + share * (RIGHT - LEFT)

    def y(self, tpr: float) -> float:
        return BOTTOM - tpr * (BOTTOM - TOP)

    def ticks(self) -> list[tuple[float, str]]:
        if self.log_x:
            return [(10.0**e, f"{10.0**e:g}") for e in range(round(math.log10(MIN_FPR)), 1)]
        return [(i / 5, f"{i / 5:g}") for i in range(6)]


def draw_frame(draw: ImageDraw.ImageDraw, axes: Axes, title: str) -> None:
    small, label = _font(12), _font(14)
    for fpr, text in axes.ticks():
        x = axes.x(fpr)
        draw.line([(x, TOP), (x, BOTTOM)], fill="#e4e4e4")
        draw.text((x, BOTTOM + 6), text, fill="black", font=small, anchor="mt")
    for i in range(6):
        y = axes.y(i / 5)
        draw.line([(LEFT, y), (RIGHT, y)], fill="#e4e4e4")
        draw.text((LEFT - 6, y), f"{i / 5:g}", fill="black", font=small, anchor="rm")
    chance = [(axes.x(f), axes.y(f)) for f in (MIN_FPR * 10 ** (k / 20) for k in range(61))] if axes.log_x \
        else [(axes.x(0), axes.y(0)), (axes.x(1), axes.y(1))]
    draw.line(chance, fill="#b0b0b0", width=1)  # a detector that guesses
    draw.rectangle([LEFT, TOP, RIGHT, BOTTOM], outline="black")
    scale = " (log scale)" if axes.log_x else ""
    draw.text(((LEFT + RIGHT) / 2, BOTTOM + 28), f"false-positive rate{scale}", fill="black", font=label, anchor="mt")
    draw.text((LEFT, TOP - 12), "true-positive rate", fill="black", font=label, anchor="lb")
    draw.text((WIDTH / 2, 6), title, fill="black", font=label, anchor="mt")


def roc_image(curves: Mapping[str, Sequence[tuple[float, float]]], labels: Mapping[str, str], title: str,
              *, log_x: bool = True) -> Image.Image:
    """One curve per entry of ``curves`` (name -> (FPR, TPR) points in order), legend text from ``labels``."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    axes = Axes(log_x)
    draw_frame(draw, axes, title)
    font = _font(12)
    for index, (name, points) in enumerate(curves.items()):
        colour = PALETTE[index % len(PALETTE)]
        draw.line([(axes.x(f), axes.y(t)) for f, t in points], fill=colour, width=2)
        y = TOP + 8 + index * 18
        draw.line([(RIGHT + 16, y), (RIGHT + 40, y)], fill=colour, width=3)
        draw.text((RIGHT + 46, y), labels.get(name, name), fill="black", font=font, anchor="lm")
    return image


def write_roc_png(path: str | os.PathLike, curves, labels, title: str, *, log_x: bool = True) -> Path:
    """Draw the plot and write it atomically as a PNG."""
    image = roc_image(curves, labels, title, log_x=log_x)
    return atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"))
