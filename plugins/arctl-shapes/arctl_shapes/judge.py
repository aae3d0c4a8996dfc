"""The judge: a small CNN that reads a shapes-world image back into its attributes.

It scores generated images (does this image show the class that was asked for?) and embeds them
for the Fréchet distance. Four strided 3x3 convolutions take 64x64 down to 4x4; the 4x4 map is
flattened rather than pooled so the embedding still knows where the shape is.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from arctl_shapes.world import (
    CLASS_NAMES, COLOURS, COLS, ROWS, SHAPES, SIZE, SIZE_WORDS, WARM, Attributes, class_of, to_tensor,
)

ZOO = Path(__file__).parent / "zoo" / "judge"
WEIGHTS, CONFIG = ZOO / "judge.safetensors", ZOO / "config.json"
COLOUR_NAMES = tuple(COLOURS)
COOL = torch.tensor([c not in WARM for c in COLOUR_NAMES])  # colour id -> family bit of the class id
SIZES = tuple(word for _, word in SIZE_WORDS)
HEADS = {"shape": len(SHAPES), "colour": len(COLOUR_NAMES), "size": len(SIZES), "position": 2}


def conv_block(cin: int, cout: int) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Judge(nn.Module):
    """64x64 RGB in [0, 1] -> logits for shape, colour and size word, and the shape's centre (x, y) in [0, 1]."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64), features: int = 128) -> None:
        super().__init__()
        widths = (3, *channels)
        self.body = nn.Sequential(*(conv_block(a, b) for a, b in zip(widths, widths[1:])))
        side = SIZE >> len(channels)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * side * side, features), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Linear(features, n) for name, n in HEADS.items()})

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The penultimate embedding [N, features] (what the Fréchet distance compares)."""
        return self.embed(self.body(images - 0.5))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(images)
        return {name: head(h) for name, head in self.heads.items()}

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> list[dict[str, Any]]:
        """One dict per image: class (id and name), shape, colour, size and place, with softmax confidences."""
        out = self(images)
        shape_p, colour_p, size_p = (out[k].softmax(-1).cpu() for k in ("shape", "colour", "size"))
        position = out["position"].clamp(0, 1).cpu()
        results = []
        for i in range(len(images)):
            shape, colour, size = (int(p[i].argmax()) for p in (shape_p, colour_p, size_p))
            label = class_of(SHAPES[shape], COLOUR_NAMES[colour])
            family_p = colour_p[i][COOL == COOL[colour]].sum()  # the class only needs the colour's family
            x, y = (float(v) for v in position[i])
            results.append({
                "class": label,
                "class_name": CLASS_NAMES[label],
                "confidence": round(float(shape_p[i, shape] * family_p), 4),
                "shape": SHAPES[shape],
                "shape_confidence": round(float(shape_p[i, shape]), 4),
                "colour": COLOUR_NAMES[colour],
                "colour_confidence": round(float(colour_p[i, colour]), 4),
                "size": SIZES[size],
                "size_confidence": round(float(size_p[i, size]), 4),
                "x": round(x, 3),
                "y": round(y, 3),
                "place": place_of(x, y),
            })
        return results


def place_of(x: float, y: float) -> str:
    """The caption's place words for a centre given as fractions of the image (as Attributes.place)."""
    row, col = ROWS[min(int(y * 3), 2)], COLS[min(int(x * 3), 2)]
    return "in the centre" if (row, col) == ("middle", "centre") else f"at the {row} {col}"


def targets(attributes: list[Attributes]) -> dict[str, torch.Tensor]:
    """What each head should answer for these attributes (the training targets)."""
    return {
        "shape": torch.tensor([SHAPES.index(a.shape) for a in attributes]),
        "colour": torch.tensor([COLOUR_NAMES.index(a.colour) for a in attributes]),
        "size": torch.tensor([SIZES.index(a.size_word) for a in attributes]),
        "position": torch.tensor([(a.x / SIZE, a.y / SIZE) for a in attributes], dtype=torch.float32),
    }


def as_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A float tensor [N, 3, 64, 64] in [0, 1] from that, or from world arrays (uint8 [N, 64, 64, 3])."""
    if isinstance(images, np.ndarray):
        return to_tensor(images)
    return images.float()


def load_judge(device: str | torch.device = "cpu") -> Judge:
    """The shipped judge (zoo/judge), in eval mode on ``device``; loaded once per device."""
    return _load_judge(str(torch.device(device)))


@functools.cache
def _load_judge(device: str) -> Judge:
    from arctl.hub import load_state_dict, load_strict

    config = json.loads(CONFIG.read_text())
    judge = Judge(**config["architecture"])
    load_strict(judge, load_state_dict(WEIGHTS), source=str(WEIGHTS))
    return judge.eval().requires_grad_(False).to(device)
