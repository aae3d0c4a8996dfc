"""A trivial tokenizer: each patch becomes the nearest of 16 fixed colours.

It follows the core's tokenizer contract, so watermarkers can re-encode toy images: the factory is
``load_tokenizer(checkpoint, files, accelerator)``; the tokenizer has ``codebook_size``, ``resolution``,
``encode(images, allowed=...)``, ``decode(tokens)`` and ``flat_tokens(tokens)``.
"""

import colorsys

import torch
import torch.nn.functional as F

from arctl.codebooks import restrict_codes


def palette(size: int = 16) -> torch.Tensor:
    """``size`` evenly spaced hues at two brightness levels, as [size, 3] floats in [0, 1]."""
    half = size // 2
    colours = [colorsys.hsv_to_rgb(i / half, 0.8, v) for v in (0.95, 0.5) for i in range(half)]
    return torch.tensor(colours, dtype=torch.float32)


class PaletteTokenizer:
    resolution = None  # any multiple of the patch size

    def __init__(self, vocab_size: int = 16, patch: int = 8) -> None:
        self.codebook = palette(vocab_size)
        self.codebook_size = vocab_size
        self.patch = patch

    def encode(self, images: torch.Tensor, *, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> token grid [B, H/patch, W/patch], among ``allowed`` colours if given."""
        means = F.avg_pool2d(images.float(), self.patch).permute(0, 2, 3, 1)
        B, h, w, _ = means.shape
        dist = torch.cdist(means.reshape(B * h * w, 3), self.codebook.to(means))
        return restrict_codes(dist, allowed, float("inf")).argmin(dim=-1).view(B, h, w)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token grid [B, h, w] -> images [B, 3, h*patch, w*patch] in [0, 1]."""
        pixels = self.codebook.to(tokens.device)[tokens].permute(0, 3, 1, 2)
        return F.interpolate(pixels, scale_factor=self.patch, mode="nearest")

    def flat_tokens(self, tokens: torch.Tensor):
        """(ids [B, h*w], scale index [h*w]: one scale)."""
        ids = tokens.reshape(tokens.shape[0], -1)
        return ids, torch.zeros(ids.shape[1], dtype=torch.long)


def load_tokenizer(checkpoint, files, accelerator) -> PaletteTokenizer:
    """The tokenizer factory: the palette of the checkpoint's vocabulary (it has no weights)."""
    return PaletteTokenizer(checkpoint.config["vocab_size"])
