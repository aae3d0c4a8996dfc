"""Post-hoc marking: re-encode an image, quantize every latent to its nearest green code, decode.

The restriction happens inside the tokenizer (``encode(images, allowed=...)``) so it uses the tokenizer's own
normalisation and distance: LlamaGen's L2-normalised sphere, VAR's residual quantizer at every scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from arctl_lbw.green import GreenLists


def pixel_bytes(image: torch.Tensor) -> bytes:
    """An image [3, H, W] in [0, 1] as the 8-bit pixels a PNG of it holds (what picks its list)."""
    return image.mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy().tobytes()


def watermark_images(tokenizer, images: torch.Tensor, lists: GreenLists, choices: Sequence[int]) -> torch.Tensor:
    """Images [B, 3, H, W] in [0, 1] -> marked images, image b using list ``choices[b]``."""
    allowed = lists.masks_on(images.device)[torch.tensor(list(choices), device=images.device)]
    return tokenizer.decode(tokenizer.encode(images, allowed=allowed))
