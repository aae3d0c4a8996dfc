"""VAR's VQVAE as an arctl tokenizer: images in [0, 1] <-> per-scale token maps.

It follows the core's tokenizer contract for watermarking (docs/plugins.md): ``codebook_size``,
``resolution``, ``encode(images, allowed=...)`` restricted to a code subset, and ``flat_tokens`` (every
scale's tokens in one row per image, with each token's scale index).
"""

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

    @property
    def codebook_size(self) -> int:
        return self.vqvae.vocab_size

    @torch.no_grad()
    def encode(self, images: torch.Tensor, *, allowed: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[B, 3, H, W] in [0, 1] -> tokens per scale, each [B, pn * pn].

        ``allowed`` (bool [V], or [B, V] per image) restricts every scale's nearest-code search to those codes,
        with the quantizer's own distance; the finer scales then absorb what the restriction costs."""
        return self.vqvae.img_to_idx(images.mul(2).sub(1), allowed=allowed)

    def code_distances(self, images: torch.Tensor, tokens: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Squared distances [B, L, V] from every position's latent to every code, in ``flat_tokens`` order: at each
        scale, of the residual that the coarser scales of ``tokens`` (the image's own codes when None) leave.
        Differentiable in the encoder; the nearest codes are ``encode``'s."""
        f = self.vqvae.img_to_f(images.mul(2).sub(1))
        if tokens is None:
            tokens = self.vqvae.quantize.f_to_idx(f.detach())
        return self.vqvae.quantize.residual_distances(f, tokens)

    def flat_tokens(self, tokens: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids [B, L]: every scale's tokens, coarse to fine, scale index [L] of each token)."""
        scales = [torch.full((t.shape[1],), si, dtype=torch.long, device=t.device) for si, t in enumerate(tokens)]
        return torch.cat(list(tokens), dim=1), torch.cat(scales)

    @torch.no_grad()
    def decode(self, tokens: Sequence[torch.Tensor]) -> torch.Tensor:
        """Tokens per scale -> [B, 3, H, W] in [0, 1]."""
        return self.render(tokens)

    def render(self, tokens: Sequence[torch.Tensor]) -> torch.Tensor:
        """``decode``, differentiable in the decoder (for fine-tuning it)."""
        return self.vqvae.idx_to_img(list(tokens)).add(1).mul(0.5)


def build_vqvae(config: Mapping, file: ResolvedFile, container: str, device: torch.device) -> VQVAE:
    """The VQVAE from its config, loaded strictly."""
    return load_pretrained(lambda: VQVAE(**config), file.path, container, device)


def load_tokenizer(checkpoint: Checkpoint, files: Mapping[str, ResolvedFile], accelerator) -> VARTokenizer:
    return VARTokenizer(build_vqvae(checkpoint.config["vae"], files["vae"], checkpoint.files["vae"].container,
                                    accelerator.device))
