"""LlamaGen's VQ-16 as an arctl tokenizer, public for the plugins that build on it (NAR, ...)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from arctl.hub import ResolvedFile, load_pretrained
from arctl.registry import Checkpoint
from arctl_llamagen.vq import VQModel


class VQTokenizer:
    """Images in [0, 1] <-> token grids [B, h, w]."""

    def __init__(self, vq: VQModel) -> None:
        self.vq = vq

    @property
    def codebook(self) -> torch.Tensor:
        return self.vq.codebook()

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.vq.img_to_indices(images.mul(2).sub(1))

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token grid [B, h, w] (or raster [B, h*w] for a square grid) -> [B, 3, H, W] in [0, 1]."""
        B = tokens.shape[0]
        side = tokens.shape[1] if tokens.dim() == 3 else int(round(tokens.shape[1] ** 0.5))
        images = self.vq.decode_code(tokens.reshape(B, -1), (B, self.vq.codebook_embed_dim, side, side))
        return images.clamp(-1, 1).add(1).mul(0.5)  # the official samples are saved with this clamp


def build_vq(config: Mapping, file: ResolvedFile, container: str, device) -> VQModel:
    return load_pretrained(lambda: VQModel(**config), file.path, container, device)


def load_tokenizer(checkpoint: Checkpoint, files: Mapping[str, ResolvedFile], accelerator) -> VQTokenizer:
    return VQTokenizer(build_vq(checkpoint.config["vq"], files["vq"], checkpoint.files["vq"].container,
                                accelerator.device))
