"""Image attacks for the robustness evaluation: named, parameterised, deterministic.

An attack maps images [N, 3, H, W] in [0, 1] to images of the same size in [0, 1], as an everyday edit
(re-compression, noise, blur, rescaling, cropping, a brightness change) or a deliberate regeneration
through the tokenizer would, before the image reaches the detector. Noise is drawn from a seed, so an
evaluation repeats exactly; everything else is deterministic by construction. ``apply_attack`` also takes a
list of PIL images and gives PIL images back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from arctl.errors import UsageError
from arctl.images import to_pil
from arctl.images import jpeg
from arctl.tokenizers import to_tensor


@dataclass(frozen=True)
class AttackContext:
    """What some attacks need: the tokenizer (regeneration) and its device, and the seed (noise)."""

    tokenizer: Any = None
    device: str | torch.device = "cpu"
    seed: int = 0


def gaussian_noise(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """Add N(0, sigma^2) to every channel value (the same draw for every call with this seed and shape)."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + sigma * noise).clamp(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with standard deviation ``sigma`` pixels (kernel to 3 sigma, reflected edges)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(images.shape[1], 1, 1, 1)  # [C, 1, 1, k]: one per channel
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel, groups=images.shape[1])
    return F.conv2d(rows, kernel.transpose(2, 3), groups=images.shape[1]).clamp(0, 1)


def resize(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Downscale by ``factor`` (antialiased bicubic) and back up to the original size (bicubic)."""
    size = images.shape[-2:]
    small = F.interpolate(images, size=[max(1, round(s * factor)) for s in size], mode="bicubic", antialias=True)
    return F.interpolate(small, size=size, mode="bicubic").clamp(0, 1)


def center_crop(images: torch.Tensor, fraction: float) -> torch.Tensor:
    """Keep the central ``fraction`` of each side and scale it back up to the original size (bicubic)."""
    height, width = images.shape[-2:]
    h, w = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - h) // 2, (width - w) // 2
    cropped = images[..., top : top + h, left : left + w]
    return F.interpolate(cropped, size=(height, width), mode="bicubic").clamp(0, 1)


def brightness(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Scale every value by ``factor`` and clip (what PIL's ImageEnhance.Brightness does)."""
    return (images * factor).clamp(0, 1)


def regenerate(images: torch.Tensor, tokenizer, device: str | torch.device = "cpu") -> torch.Tensor:
    """Encode with the tokenizer and decode again: the regeneration attack that LBW is designed to survive."""
    with torch.inference_mode():
        return tokenizer.decode(tokenizer.encode(images.to(device))).float().clamp(0, 1).cpu()


Attack = Callable[[torch.Tensor, AttackContext], torch.Tensor]

ATTACKS: dict[str, Attack] = {
    "none": lambda images, ctx: images,
    "jpeg-90": lambda images, ctx: jpeg(images, 90),
    "jpeg-75": lambda images, ctx: jpeg(images, 75),
    "jpeg-50": lambda images, ctx: jpeg(images, 50),
    "noise-0.02": lambda images, ctx: gaussian_noise(images, 0.02, ctx.seed),
    "noise-0.05": lambda images, ctx: gaussian_noise(images, 0.05, ctx.seed),
    "blur-0.5": lambda images, ctx: gaussian_blur(images, 0.5),
    "blur-1.0": lambda images, ctx: gaussian_blur(images, 1.0),
    "resize-0.75": lambda images, ctx: resize(images, 0.75),
    "resize-0.5": lambda images, ctx: resize(images, 0.5),
    "crop-0.9": lambda images, ctx: center_crop(images, 0.9),
    "crop-0.8": lambda images, ctx: center_crop(images, 0.8),
    "brightness-1.2": lambda images, ctx: brightness(images, 1.2),
    "brightness-0.8": lambda images, ctx: brightness(images, 0.8),
    "regen": lambda images, ctx: regenerate(images, ctx.tokenizer, ctx.device),
}


def parse_attacks(text: str) -> list[str]:
    """``all`` or comma-separated names -> the attacks to run, ``none`` (no attack) always first."""
    names = list(ATTACKS) if text.strip().lower() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown or not names:
        raise UsageError(f"--attacks {text!r}: unknown attack {unknown[0] if unknown else '(none given)'!r} "
                         f"(valid: all, {', '.join(ATTACKS)})")
    return ["none", *dict.fromkeys(n for n in names if n != "none")]


def apply_attack(name: str, images, context: AttackContext = AttackContext()):
    """Run attack ``name`` on a float tensor [N, 3, H, W] in [0, 1] or on a list of PIL images (same kind back)."""
    if isinstance(images, torch.Tensor):
        return ATTACKS[name](images, context)
    return to_pil(ATTACKS[name](to_tensor(images), context))
