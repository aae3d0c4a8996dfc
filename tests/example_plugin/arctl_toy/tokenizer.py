"""A trivial tokenizer: each patch becomes the nearest of 16 fixed colours."""

import colorsys

import torch
import torch.nn.functional as F


def palette(size: int = 16) -> torch.Tensor:
    """``size`` evenly spaced hues at two brightness levels, as [size, 3] floats in [0, 1]."""
    half = size // 2
    colours = [colorsys.hsv_to_rgb(i / half, 0.8, v) for v in (0.95, 0.5) for i in range(half)]
    return torch.tensor(colours, dtype=torch.float32)


class PaletteTokenizer:
    def __init__(self, vocab_size: int = 16, patch: int = 8) -> None:
        self.codebook = palette(vocab_size)
        self.patch = patch

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> token grid [B, H/patch, W/patch]."""
        means = F.avg_pool2d(images.float(), self.patch).permute(0, 2, 3, 1)
        return torch.cdist(means, self.codebook.to(means)).argmin(dim=-1)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token grid [B, h, w] -> images [B, 3, h*patch, w*patch] in [0, 1]."""
        pixels = self.codebook.to(tokens.device)[tokens].permute(0, 3, 1, 2)
        return F.interpolate(pixels, scale_factor=self.patch, mode="nearest")
