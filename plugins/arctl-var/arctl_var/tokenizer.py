"""VAR's VQVAE as an arctl tokenizer: images in [0, 1] <-> per-scale token maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from arctl.hub import ResolvedFile, load_pretrained
from arctl.registry import Checkpoint
from arctl_var.vqvae import VQVAE


class VARTokenizer:
    def __init__(self, vqvae: VQVAE) -> None:
        self.vqvae = vqvae

    @property
    def patch_nums(self) -> tuple[int, ...]:
        return tuple(self.vqvae.quantize.v_patch_nums)

    @property
    def resolution(self) -> int:
        return self.patch_nums[-1] * self.vqvae.downsample

    @property
    def codebook(self) -> torch.Tensor:
        return self.vqvae.quantize.embedding.weight

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """[B, 3, H, W] in [0, 1] -> tokens per scale, each [B, pn * pn]."""
        return self.vqvae.img_to_idx(images.mul(2).sub(1))

    @torch.no_grad()
    def decode(self, tokens: Sequence[torch.Tensor]) -> torch.Tensor:
        """Tokens per scale -> [B, 3, H, W] in [0, 1]."""
        return self.vqvae.idx_to_img(list(tokens)).add(1).mul(0.5)


def build_vqvae(config: Mapping, file: ResolvedFile, container: str, device: torch.device) -> VQVAE:
    """The VQVAE from its config, loaded strictly."""
    return load_pretrained(lambda: VQVAE(**config), file.path, container, device)


def load_tokenizer(checkpoint: Checkpoint, files: Mapping[str, ResolvedFile], accelerator) -> VARTokenizer:
    return VARTokenizer(build_vqvae(checkpoint.config["vae"], files["vae"], checkpoint.files["vae"].container,
                                    accelerator.device))
