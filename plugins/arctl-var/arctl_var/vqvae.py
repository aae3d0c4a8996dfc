"""VAR's VQVAE: a 16x-downsampling convolutional autoencoder around the multi-scale quantizer.

The encoder and decoder are ``arctl.vae_blocks``' taming layout in the VQGAN / latent-diffusion f16 configuration
that VAR hard-codes: channel multipliers (1, 1, 2, 2, 4), two residual blocks per level (three on the way up),
self-attention at the lowest resolution and in the middle, GroupNorm(32, eps=1e-6) and swish. VAR's own part is its
attention block, which makes q, k and v with one convolution. Images live in [-1, 1]. Key names match the official
checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from arctl.vae_blocks import TAMING, Decoder, Encoder, attention_at_lowest, group_norm
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
        attention = attention_at_lowest(ch_mult)
        self.encoder = Encoder(ch, ch_mult, num_res_blocks, z_channels, dropout, attention, AttnBlock, TAMING)
        self.decoder = Decoder(ch, ch_mult, num_res_blocks, z_channels, dropout, attention, AttnBlock, TAMING)
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
