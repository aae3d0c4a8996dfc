"""VAR's VQVAE: a 16x-downsampling convolutional autoencoder around the multi-scale quantizer.

The encoder and decoder follow the VQGAN / latent-diffusion f16 layout that VAR hard-codes: channel multipliers
(1, 1, 2, 2, 4), two residual blocks per level (three on the way up), self-attention at the lowest resolution and in
the middle, GroupNorm(32, eps=1e-6) and swish. Images live in [-1, 1]. Key names match the official checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from arctl.vae_blocks import Downsample, ResnetBlock, Upsample, group_norm
from arctl_var.quantizer import MultiScaleQuantizer, PatchNum

CH_MULT = (1, 1, 2, 2, 4)
NUM_RES_BLOCKS = 2


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels; one 1x1 conv makes q, k, v (stacked along channels in that order)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        # [B, 3C, H, W] -> three [B, 1, HW, C] pixel sequences; the default scale is C^-0.5
        q, k, v = self.qkv(self.norm(x)).view(B, 3, C, H * W).transpose(2, 3).unsqueeze(2).unbind(1)
        h = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj_out(h.squeeze(1).transpose(1, 2).reshape(B, C, H, W))


class Level(nn.Module):
    """Residual blocks at one resolution, each followed by attention where the level has it, then a resampler."""

    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, attention: bool, dropout: float) -> None:
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(in_ch if i == 0 else out_ch, out_ch, dropout) for i in range(num_blocks))
        self.attn = nn.ModuleList(AttnBlock(out_ch) for _ in range(num_blocks if attention else 0))

    def forward(self, h: Tensor) -> Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if self.attn:
                h = self.attn[i](h)
        return h


class MidBlock(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, h: Tensor) -> Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    """Image [B, 3, H, W] -> latent [B, z_channels, H/f, W/f] with f = 2 ** (len(ch_mult) - 1) (16 officially)."""

    def __init__(self, ch: int, z_channels: int, dropout: float = 0.0, in_channels: int = 3,
                 ch_mult: Sequence[int] = CH_MULT, num_res_blocks: int = NUM_RES_BLOCKS) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, padding=1)
        widths = [ch * m for m in ch_mult]
        self.down = nn.ModuleList()
        block_in = ch
        for i, width in enumerate(widths):
            level = Level(block_in, width, num_res_blocks, attention=i == len(widths) - 1, dropout=dropout)
            if i != len(widths) - 1:
                level.downsample = Downsample(width)
            self.down.append(level)
            block_in = width
        self.mid = MidBlock(block_in, dropout)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent [B, z_channels, h, w] -> image [B, 3, f*h, f*w] (not clamped)."""

    def __init__(self, ch: int, z_channels: int, dropout: float = 0.0, out_channels: int = 3,
                 ch_mult: Sequence[int] = CH_MULT, num_res_blocks: int = NUM_RES_BLOCKS) -> None:
        super().__init__()
        widths = [ch * m for m in ch_mult]
        block_in = widths[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, padding=1)
        self.mid = MidBlock(block_in, dropout)
        # built lowest resolution first but stored as up[i] = level i (up[0] is the full resolution), as officially
        levels = []
        for i in reversed(range(len(widths))):
            level = Level(block_in, widths[i], num_res_blocks + 1, attention=i == len(widths) - 1, dropout=dropout)
            if i != 0:
                level.upsample = Upsample(widths[i])
            levels.insert(0, level)
            block_in = widths[i]
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_channels, kernel_size=3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VQVAE(nn.Module):
    """Encoder -> quant_conv -> multi-scale quantizer -> post_quant_conv -> decoder (official constructor kwargs)."""

    def __init__(
        self,
        vocab_size: int = 4096,
        z_channels: int = 32,
        ch: int = 128,
        dropout: float = 0.0,
        beta: float = 0.25,
        using_znorm: bool = False,
        quant_conv_ks: int = 3,
        quant_resi: float = 0.5,
        share_quant_resi: int = 4,
        default_qresi_counts: int = 0,
        v_patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
        test_mode: bool = True,
        ch_mult: Sequence[int] = CH_MULT,
        num_res_blocks: int = NUM_RES_BLOCKS,
    ) -> None:
        """The official constructor's arguments; ``ch_mult`` and ``num_res_blocks`` (hard-coded officially) let small
        worlds use other layouts, e.g. 8x downsampling."""
        super().__init__()
        self.vocab_size = vocab_size
        self.Cvae = z_channels
        self.downsample = 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, z_channels, dropout, ch_mult=ch_mult, num_res_blocks=num_res_blocks)
        self.decoder = Decoder(ch, z_channels, dropout, ch_mult=ch_mult, num_res_blocks=num_res_blocks)
        self.quantize = MultiScaleQuantizer(
            vocab_size, z_channels, using_znorm=using_znorm, beta=beta, default_qresi_counts=default_qresi_counts,
            v_patch_nums=v_patch_nums, quant_resi=quant_resi, share_quant_resi=share_quant_resi,
        )
        self.quant_conv = nn.Conv2d(z_channels, z_channels, quant_conv_ks, padding=quant_conv_ks // 2)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, quant_conv_ks, padding=quant_conv_ks // 2)
        if test_mode:  # a frozen tokenizer
            self.eval()
            self.requires_grad_(False)

    def forward(self, img: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Training: (reconstruction, VQ loss, indices per scale) for images in [-1, 1]."""
        f_hat, vq_loss, indices = self.quantize(self.img_to_f(img))
        return self.decoder(self.post_quant_conv(f_hat)), vq_loss, indices

    def img_to_f(self, img: Tensor) -> Tensor:
        return self.quant_conv(self.encoder(img))

    def img_to_idx(
        self, img: Tensor, patch_nums: Sequence[PatchNum] | None = None, allowed: Tensor | None = None
    ) -> list[Tensor]:
        return self.quantize.f_to_idx(self.img_to_f(img), patch_nums, allowed)

    def fhat_to_img(self, f_hat: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(f_hat)).clamp(-1, 1)

    def idx_to_fhat(self, idx_list: list[Tensor]) -> Tensor:
        """The final f_hat of a full token pyramid (one [B, pn*pn] index tensor per scale)."""
        ms_h = [self.quantize.lookup(idx, pn, pn) for idx, pn in zip(idx_list, self.quantize.v_patch_nums)]
        return self.quantize.embed_to_fhat(ms_h, all_to_max_scale=True, last_one=True)

    def idx_to_img(self, idx_list: list[Tensor]) -> Tensor:
        return self.fhat_to_img(self.idx_to_fhat(idx_list))
