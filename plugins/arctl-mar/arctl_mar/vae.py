"""MAR's KL-16 VAE: the latent-diffusion KL autoencoder that turns 256 px images into 16x16 grids of
16-channel continuous tokens.

The encoder halves the resolution at every level but the last, with self-attention only where the
running resolution is 16 and in the middle block; it predicts a diagonal Gaussian (mean and log-variance,
the latter clamped to [-30, 20]). The decoder mirrors it with one more residual block per level and no
attention outside the middle. Images live in [-1, 1]. The generator scales latents by 0.2325 (the factor
MAR's training code applies), which is not part of this module. Key names follow the official kl16.ckpt.

The official class fixes ``ch=128, num_res_blocks=2, resolution=256``; they are parameters here so that
tiny test models can be built with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arctl.vae_blocks import AttnBlock, Downsample, ResnetBlock, Upsample, group_norm

ATTENTION_RESOLUTION = 16  # the encoder attends only at this running resolution


class Level(nn.Module):
    """Residual blocks at one resolution, with attention after each where the level has it."""

    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, attention: bool) -> None:
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(in_ch if i == 0 else out_ch, out_ch, 0.0) for i in range(num_blocks))
        self.attn = nn.ModuleList(AttnBlock(out_ch) for _ in range(num_blocks if attention else 0))

    def blocks(self, h: Tensor) -> Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if self.attn:
                h = self.attn[i](h)
        return h


class DownLevel(Level):
    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, attention: bool, downsample: bool) -> None:
        super().__init__(in_ch, out_ch, num_blocks, attention)
        self.downsample = Downsample(out_ch) if downsample else None

    def forward(self, h: Tensor) -> Tensor:
        h = self.blocks(h)
        return h if self.downsample is None else self.downsample(h)


class UpLevel(Level):
    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, upsample: bool) -> None:
        super().__init__(in_ch, out_ch, num_blocks, attention=False)
        self.upsample = Upsample(out_ch) if upsample else None

    def forward(self, h: Tensor) -> Tensor:
        h = self.blocks(h)
        return h if self.upsample is None else self.upsample(h)


class Middle(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, 0.0)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, 0.0)

    def forward(self, h: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, resolution: int, z_channels: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, kernel_size=3, padding=1)
        widths = [ch * m for m in (1, *ch_mult)]
        self.down = nn.ModuleList()
        res = resolution
        for i in range(len(ch_mult)):
            last = i == len(ch_mult) - 1
            self.down.append(DownLevel(widths[i], widths[i + 1], num_res_blocks, res == ATTENTION_RESOLUTION,
                                       downsample=not last))
            res = res if last else res // 2
        self.mid = Middle(widths[-1])
        self.norm_out = group_norm(widths[-1])
        self.conv_out = nn.Conv2d(widths[-1], 2 * z_channels, kernel_size=3, padding=1)  # mean and log-variance

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, z_channels: int) -> None:
        super().__init__()
        top = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, top, kernel_size=3, padding=1)
        self.mid = Middle(top)
        # up[i] works at the resolution of encoder level i; it is built (and run) from the coarsest level down
        levels, width = [], top
        for i in reversed(range(len(ch_mult))):
            levels.insert(0, UpLevel(width, ch * ch_mult[i], num_res_blocks + 1, upsample=i > 0))
            width = ch * ch_mult[i]
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv2d(width, 3, kernel_size=3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


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
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, resolution, embed_dim)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, embed_dim)
        self.quant_conv = nn.Conv2d(2 * embed_dim, 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, embed_dim, 1)

    def encode(self, images: Tensor) -> DiagonalGaussian:
        """Images [B, 3, H, W] in [-1, 1] -> the posterior over latents [B, embed_dim, H/stride, W/stride]."""
        return DiagonalGaussian.from_moments(self.quant_conv(self.encoder(images)))

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(z))
