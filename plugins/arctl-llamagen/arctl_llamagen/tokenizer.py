"""LlamaGen's VQ-16 as an arctl tokenizer, public for the plugins that build on it (NAR, ...).

It follows the core's tokenizer contract for watermarking (docs/plugins.md): ``codebook_size``,
``resolution``, ``encode(images, allowed=...)`` restricted to a code subset, and ``flat_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from arctl.hub import ResolvedFile, load_pretrained
from arctl.registry import Checkpoint
from arctl_llamagen.vq import VQModel


class VQTokenizer:
    """Images in [0, 1] <-> token grids [B, h, w]; ``resolution`` is the image size the generator makes (None:
    any multiple of the downsampling factor)."""

    def __init__(self, vq: VQModel, resolution: int | None = None) -> None:
        self.vq = vq
        self.resolution = resolution

    @property
    def codebook(self) -> torch.Tensor:
        return self.vq.codebook()

    @property
    def codebook_size(self) -> int:
        return self.vq.quantize.embedding.num_embeddings

    @torch.no_grad()
    def encode(self, images: torch.Tensor, *, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> token grid [B, h, w]; ``allowed`` (bool [V], or [B, V] per image) restricts
        the nearest-code search to those codes, on the tokenizer's L2-normalised sphere."""
        return self.vq.img_to_indices(images.mul(2).sub(1), allowed)

    def code_distances(self, images: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Squared distances [B, h*w, V] from every position's latent to every code, in ``flat_tokens`` order and on
        the quantizer's sphere (``tokens`` is only for multi-scale tokenizers). Differentiable in the encoder; the
        nearest codes are ``encode``'s."""
        latents = self.vq.quant_conv(self.vq.encoder(images.mul(2).sub(1)))
        B, C = latents.shape[:2]
        return self.vq.quantize.distances(latents.permute(0, 2, 3, 1).reshape(-1, C)).view(B, -1, self.codebook_size)

    def flat_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids [B, h*w] in raster order, scale index [h*w]: all 0, a single scale)."""
        ids = tokens.reshape(tokens.shape[0], -1)
        return ids, torch.zeros(ids.shape[1], dtype=torch.long, device=ids.device)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token grid [B, h, w] (or raster [B, h*w] for a square grid) -> [B, 3, H, W] in [0, 1]."""
        return self.render(tokens)

    def render(self, tokens: torch.Tensor) -> torch.Tensor:
        """``decode``, differentiable in the decoder (for fine-tuning it)."""
        B = tokens.shape[0]
        side = tokens.shape[1] if tokens.dim() == 3 else int(round(tokens.shape[1] ** 0.5))
        images = self.vq.decode_code(tokens.reshape(B, -1), (B, self.vq.codebook_embed_dim, side, side))
        return images.clamp(-1, 1).add(1).mul(0.5)  # the official samples are saved with this clamp


def build_vq(config: Mapping, file: ResolvedFile, container: str, device) -> VQModel:
    return load_pretrained(lambda: VQModel(**config), file.path, container, device)


def load_tokenizer(checkpoint: Checkpoint, files: Mapping[str, ResolvedFile], accelerator) -> VQTokenizer:
    return VQTokenizer(build_vq(checkpoint.config["vq"], files["vq"], checkpoint.files["vq"].container,
                                accelerator.device), checkpoint.config.get("image_size"))
