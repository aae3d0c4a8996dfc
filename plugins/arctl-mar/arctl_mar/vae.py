"""MAR's KL-16 VAE: the latent-diffusion KL autoencoder that turns 256 px images into 16x16 grids of
16-channel continuous tokens.

The encoder halves the resolution at every level but the last, with self-attention only where the
running resolution is 16 and in the middle block; it predicts a diagonal Gaussian (mean and log-variance,
the latter clamped to [-30, 20]). The decoder mirrors it with one more residual block per level and no
attention outside the middle; both are ``arctl.vae_blocks``' taming layout. Images live in [-1, 1].
The generator scales latents by 0.2325 (the factor MAR's training code applies), which is not part of
this module. Key names follow the official kl16.ckpt.

The official class fixes ``ch=128, num_res_blocks=2, resolution=256``; they are parameters here so that
tiny test models can be built with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from arctl.vae_blocks import TAMING, AttnBlock, Decoder, Encoder

ATTENTION_RESOLUTION = 16  # the encoder attends only at this running resolution


@dataclass
class DiagonalGaussian:
    """The encoder's posterior: per-element mean and (clamped) log-variance."""

    mean: Tensor
    logvar: Tensor

    @classmethod
    def from_moments(cls, moments: Tensor) -> DiagonalGaussian:
        mean, logvar = moments.chunk(2, dim=1)
        return cls(mean, logvar.clamp(-30.0, 20.0))

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise


class AutoencoderKL(nn.Module):
    def __init__(self, embed_dim: int = 16, ch_mult: Sequence[int] = (1, 1, 2, 2, 4), ch: int = 128,
                 num_res_blocks: int = 2, resolution: int = 256) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.stride = 2 ** (len(ch_mult) - 1)
        # the encoder attends where the running resolution is 16, the decoder only in its middle block
        attention = [resolution // 2**i == ATTENTION_RESOLUTION for i in range(len(ch_mult))]
        no_attention = [False] * len(ch_mult)
        # double_z: the encoder predicts a mean and a log-variance per latent channel
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, 2 * embed_dim, 0.0, attention, AttnBlock, TAMING)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, embed_dim, 0.0, no_attention, AttnBlock, TAMING)
        self.quant_conv = nn.Conv2d(2 * embed_dim, 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, embed_dim, 1)

    def encode(self, images: Tensor) -> DiagonalGaussian:
        """Images [B, 3, H, W] in [-1, 1] -> the posterior over latents [B, embed_dim, H/stride, W/stride]."""
        return DiagonalGaussian.from_moments(self.quant_conv(self.encoder(images)))

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(z))
