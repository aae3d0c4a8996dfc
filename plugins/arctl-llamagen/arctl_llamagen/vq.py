"""LlamaGen's VQ image tokenizer (VQ-16): a VQGAN-style autoencoder around a plain nearest-neighbour codebook.

Encoder and decoder are ``arctl.vae_blocks``' taming-transformers layout under LlamaGen's own key names: two
residual blocks per level on the way down (three on the way up), self-attention at the lowest resolution and in the
middle, GroupNorm(32, eps=1e-6) and swish. With ``codebook_l2_norm`` the latents and the codebook are both
L2-normalised before the search, so every code vector the decoder sees has unit length. Images live in [-1, 1];
decoded images are not clamped. Key names match the official checkpoints (vq_ds16_c2i.pt loads strictly).

Inference only: the training losses (codebook, commitment, entropy) and the codebook-usage bookkeeping are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arctl.codebooks import restrict_codes, squared_distances
from arctl.vae_blocks import AttnBlock, Decoder, Encoder, KeyLayout, attention_at_lowest

NUM_RES_BLOCKS = 2
# the official names: conv_blocks on both sides (the decoder's in the order they run, coarsest first), each level's
# residual blocks under res, and the middle block as the ModuleList mid.0 / mid.1 / mid.2
LAYOUT = KeyLayout(down="conv_blocks", up="conv_blocks", up_in_run_order=True, blocks="res", mid=("0", "1", "2"))
USAGE_HISTORY = 65536  # length of the official codebook_used buffer (the last indices seen in training)


class VectorQuantizer(nn.Module):
    """Nearest-neighbour lookup in a [V, C] codebook, on the unit sphere when ``l2_norm``."""

    def __init__(self, codebook_size: int, embed_dim: int, l2_norm: bool, show_usage: bool) -> None:
        super().__init__()
        self.l2_norm = l2_norm
        self.embedding = nn.Embedding(codebook_size, embed_dim)
        if show_usage:  # only filled during training, but official checkpoints carry it
            self.register_buffer("codebook_used", torch.zeros(USAGE_HISTORY))

    def codebook(self) -> Tensor:
        weight = self.embedding.weight
        return F.normalize(weight, dim=-1) if self.l2_norm else weight

    def distances(self, flat: Tensor) -> Tensor:
        """Latents [N, C] -> squared distances [N, V] to every code, on the sphere when ``l2_norm``: what the
        nearest-code search minimises."""
        return squared_distances(F.normalize(flat, dim=-1) if self.l2_norm else flat, self.codebook())

    def forward(self, z: Tensor, allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Latent [B, C, h, w] -> (code vectors [B, C, h, w], indices [B*h*w] in (b, h, w) order); with ``allowed``
        (bool [V], or [B, V] per image) only those codes compete, on the same (L2-normalised) sphere."""
        B, C, H, W = z.shape
        dist = self.distances(z.permute(0, 2, 3, 1).reshape(-1, C))
        indices = restrict_codes(dist, allowed, float("inf")).argmin(dim=1)
        # the official straight-through z + (z_q - z).detach() only serves training and differs from z_q by ~1e-7
        return self.lookup(indices, (B, C, H, W)), indices

    def lookup(self, indices: Tensor, shape: Sequence[int]) -> Tensor:
        """B*h*w indices in (b, h, w) order, any layout -> code vectors [B, C, h, w]; ``shape`` is (B, C, h, w)."""
        B, C, H, W = shape
        return self.codebook()[indices].reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous()


class VQModel(nn.Module):
    """Encoder -> quant_conv -> quantize -> post_quant_conv -> decoder, with the official ModelArgs as keywords.

    ``ch`` is the encoder/decoder base width, which the official VQModel does not expose (it is always 128 there).
    ``commit_loss_beta`` and ``entropy_loss_ratio`` only weigh training losses and are accepted for compatibility.
    """

    def __init__(
        self,
        codebook_size: int = 16384,
        codebook_embed_dim: int = 8,
        codebook_l2_norm: bool = True,
        codebook_show_usage: bool = True,
        commit_loss_beta: float = 0.25,
        entropy_loss_ratio: float = 0.0,
        encoder_ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        decoder_ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        z_channels: int = 256,
        dropout_p: float = 0.0,
        ch: int = 128,
    ) -> None:
        super().__init__()
        self.codebook_embed_dim = codebook_embed_dim
        self.commit_loss_beta = commit_loss_beta
        self.downsample = 2 ** (len(encoder_ch_mult) - 1)
        self.encoder = Encoder(ch, encoder_ch_mult, NUM_RES_BLOCKS, z_channels, dropout_p,
                               attention_at_lowest(encoder_ch_mult), AttnBlock, LAYOUT)
        self.decoder = Decoder(ch, decoder_ch_mult, NUM_RES_BLOCKS, z_channels, dropout_p,
                               attention_at_lowest(decoder_ch_mult), AttnBlock, LAYOUT)
        self.quantize = VectorQuantizer(codebook_size, codebook_embed_dim, codebook_l2_norm, codebook_show_usage)
        self.quant_conv = nn.Conv2d(z_channels, codebook_embed_dim, kernel_size=1)
        self.post_quant_conv = nn.Conv2d(codebook_embed_dim, z_channels, kernel_size=1)

    def encode(self, img: Tensor, allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Image [B, 3, H, W] -> (quant [B, C, h, w], indices [B*h*w] in (b, h, w) order), among ``allowed`` codes."""
        return self.quantize(self.quant_conv(self.encoder(img)), allowed)

    def img_to_indices(self, img: Tensor, allowed: Tensor | None = None) -> Tensor:
        """Image [B, 3, H, W] -> token ids [B, h, w] (raster order when flattened), among ``allowed`` codes."""
        quant, indices = self.encode(img, allowed)
        B, _, H, W = quant.shape
        return indices.view(B, H, W)

    def codebook(self) -> Tensor:
        """The [V, C] code vectors the decoder sees (L2-normalised when codebook_l2_norm)."""
        return self.quantize.codebook()

    def indices_to_quant(self, indices: Tensor, shape: Sequence[int]) -> Tensor:
        """Token ids (B*h*w of them, any layout) -> quant [B, C, h, w]; ``shape`` is (B, C, h, w) as officially."""
        return self.quantize.lookup(indices, shape)

    def decode(self, quant: Tensor) -> Tensor:
        """quant [B, C, h, w] -> image [B, 3, H, W], not clamped."""
        return self.decoder(self.post_quant_conv(quant))

    def decode_code(self, indices: Tensor, shape: Sequence[int]) -> Tensor:
        """Token ids and shape (B, C, h, w) -> image [B, 3, H, W], not clamped."""
        return self.decode(self.indices_to_quant(indices, shape))

    def forward(self, img: Tensor) -> Tensor:
        """Reconstruction decode(encode(img)); the official forward also returns the training losses."""
        return self.decode(self.encode(img)[0])

    def training_step(self, img: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(reconstruction, codebook + beta * commitment loss, indices [B*h*w], latents [B, C, h, w]) with the
        straight-through estimator, as the official VQ loss computes them on the (L2-normalised) latents; the GAN
        and entropy terms are left out. Indices and latents let a training loop restart unused codes."""
        z = self.quant_conv(self.encoder(img))
        if self.quantize.l2_norm:
            z = F.normalize(z, dim=1)
        z_q, indices = self.quantize(z)
        loss = F.mse_loss(z_q, z.detach()) + self.commit_loss_beta * F.mse_loss(z_q.detach(), z)
        return self.decode(z + (z_q - z).detach()), loss, indices, z.detach()
