"""Building blocks of the VQGAN-family convolutional autoencoders (the taming-transformers layout).

VAR's VQVAE, LlamaGen's VQ tokenizer and MAR's KL-16 VAE, among others, are made of these same
blocks with the same parameter names (norm1, conv1, norm2, conv2, nin_shortcut; conv; q, k, v,
proj_out), arranged the same way: an encoder of levels that halve the resolution, a middle block
(residual, attention, residual), and a decoder that mirrors the encoder with one more residual
block per level. What differs between methods is where attention sits, which attention block they
use, and the names their checkpoints give the containers; a ``KeyLayout`` says the latter.
GroupNorm has 32 groups and eps 1e-6; the nonlinearity is swish.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

AttentionFactory = Callable[[int], nn.Module]  # channels -> a residual self-attention block


@dataclass(frozen=True)
class KeyLayout:
    """The names an official checkpoint family gives the containers (the blocks inside are named alike everywhere)."""

    down: str = "down"  # the encoder's levels
    up: str = "up"  # the decoder's levels
    # taming stores up[i] = the level at encoder resolution i (run last to first); others store them in run order
    up_in_run_order: bool = False
    blocks: str = "block"  # a level's residual blocks
    mid: tuple[str, str, str] = ("block_1", "attn_1", "block_2")  # the middle block's residual, attention, residual


TAMING = KeyLayout()  # taming-transformers / latent-diffusion, which VAR and MAR keep


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 1e-6 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        # a 1x1 projection only where the width changes
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, with separate 1x1 convs for q, k and v."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, kernel_size=1)
        self.k = nn.Conv2d(channels, channels, kernel_size=1)
        self.v = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        h = self.norm(x)
        # [B, C, H, W] -> [B, HW, C] pixel sequences; the default scale C^-0.5 is the official one
        q, k, v = (proj(h).flatten(2).transpose(1, 2) for proj in (self.q, self.k, self.v))
        h = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj_out(h.transpose(1, 2).reshape(B, C, H, W))


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric padding: right and bottom only


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Level(nn.Module):
    """Residual blocks at one resolution, each followed by attention where the level has it."""

    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, dropout: float, attention: AttentionFactory | None,
                 layout: KeyLayout) -> None:
        super().__init__()
        self.blocks_name = layout.blocks
        self.add_module(layout.blocks, nn.ModuleList(
            ResnetBlock(in_ch if i == 0 else out_ch, out_ch, dropout) for i in range(num_blocks)))
        self.attn = nn.ModuleList(attention(out_ch) for _ in range(num_blocks if attention else 0))

    def forward(self, h: Tensor) -> Tensor:
        for i, block in enumerate(getattr(self, self.blocks_name)):
            h = block(h)
            if self.attn:
                h = self.attn[i](h)
        return h


class DownLevel(Level):
    """An encoder level, then a halving of the resolution (none after the last level)."""

    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, dropout: float, attention: AttentionFactory | None,
                 layout: KeyLayout, downsample: bool) -> None:
        super().__init__(in_ch, out_ch, num_blocks, dropout, attention, layout)
        self.downsample = Downsample(out_ch) if downsample else None

    def forward(self, h: Tensor) -> Tensor:
        h = super().forward(h)
        return h if self.downsample is None else self.downsample(h)


class UpLevel(Level):
    """A decoder level, then a doubling of the resolution (none after the full-resolution level)."""

    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, dropout: float, attention: AttentionFactory | None,
                 layout: KeyLayout, upsample: bool) -> None:
        super().__init__(in_ch, out_ch, num_blocks, dropout, attention, layout)
        self.upsample = Upsample(out_ch) if upsample else None

    def forward(self, h: Tensor) -> Tensor:
        h = super().forward(h)
        return h if self.upsample is None else self.upsample(h)


def mid_block(channels: int, dropout: float, attention: AttentionFactory, layout: KeyLayout) -> nn.Sequential:
    """Residual block, attention, residual block at the lowest resolution, under the layout's three names."""
    parts = (ResnetBlock(channels, channels, dropout), attention(channels), ResnetBlock(channels, channels, dropout))
    return nn.Sequential(OrderedDict(zip(layout.mid, parts)))


def attention_at_lowest(ch_mult: Sequence[int]) -> list[bool]:
    """Attention flags, one per level, for attention at the lowest resolution only (VAR, LlamaGen)."""
    return [i == len(ch_mult) - 1 for i in range(len(ch_mult))]


def _check_levels(attention_levels: Sequence[bool], ch_mult: Sequence[int]) -> None:
    if len(attention_levels) != len(ch_mult):
        raise ValueError(f"{len(attention_levels)} attention flags for {len(ch_mult)} levels")


class Encoder(nn.Module):
    """Image [B, in_channels, H, W] -> [B, out_channels, H/f, W/f] with f = 2 ** (len(ch_mult) - 1).

    conv_in to width ``ch``; level i works at width ``ch * ch_mult[i]`` with ``num_res_blocks`` residual blocks,
    attention after each where ``attention_levels[i]``, and halves the resolution unless it is the last; then the
    middle block, GroupNorm, swish and conv_out.
    """

    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, out_channels: int, dropout: float,
                 attention_levels: Sequence[bool], attention: AttentionFactory, layout: KeyLayout,
                 in_channels: int = 3) -> None:
        super().__init__()
        _check_levels(attention_levels, ch_mult)
        self.levels_name = layout.down
        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, padding=1)
        widths = [ch * m for m in ch_mult]
        last = len(widths) - 1
        self.add_module(layout.down, nn.ModuleList(
            DownLevel(ch if i == 0 else widths[i - 1], widths[i], num_res_blocks, dropout,
                      attention if attention_levels[i] else None, layout, downsample=i != last)
            for i in range(len(widths))))
        self.mid = mid_block(widths[-1], dropout, attention, layout)
        self.norm_out = group_norm(widths[-1])
        self.conv_out = nn.Conv2d(widths[-1], out_channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in getattr(self, self.levels_name):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    """Latent [B, in_channels, h, w] -> image [B, out_channels, f*h, f*w] (not clamped), the encoder's mirror.

    conv_in to the widest width and the middle block; then from the coarsest level to the finest, level i works at
    width ``ch * ch_mult[i]`` with ``num_res_blocks + 1`` residual blocks (one more than the encoder, in every
    official layout), attention after each where ``attention_levels[i]``, and doubles the resolution unless it is
    level 0; then GroupNorm, swish and conv_out.
    """

    def __init__(self, ch: int, ch_mult: Sequence[int], num_res_blocks: int, in_channels: int, dropout: float,
                 attention_levels: Sequence[bool], attention: AttentionFactory, layout: KeyLayout,
                 out_channels: int = 3) -> None:
        super().__init__()
        _check_levels(attention_levels, ch_mult)
        self.levels_name, self.levels_in_run_order = layout.up, layout.up_in_run_order
        widths = [ch * m for m in ch_mult]
        last = len(widths) - 1
        self.conv_in = nn.Conv2d(in_channels, widths[last], kernel_size=3, padding=1)
        self.mid = mid_block(widths[last], dropout, attention, layout)
        run = [UpLevel(widths[i + 1] if i < last else widths[last], widths[i], num_res_blocks + 1, dropout,
                       attention if attention_levels[i] else None, layout, upsample=i != 0)
               for i in reversed(range(len(widths)))]
        self.add_module(layout.up, nn.ModuleList(run if layout.up_in_run_order else reversed(run)))
        self.norm_out = group_norm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], out_channels, kernel_size=3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        levels = getattr(self, self.levels_name)
        for level in levels if self.levels_in_run_order else reversed(levels):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))
