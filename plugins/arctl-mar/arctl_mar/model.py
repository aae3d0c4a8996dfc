"""MAR: a bidirectional encoder-decoder transformer over a partly masked sequence of continuous tokens.

The latent image is cut into patches (tokens of C * p^2 channels). The encoder sees only the known tokens,
after a buffer of 64 positions that all carry the class embedding (the learned ``fake_latent`` stands for
"no class", for classifier-free guidance); the decoder puts a learned mask token at every unknown position
and returns, for each image position, a condition vector z for the diffusion head. Both halves add learned
position embeddings; the decoder adds a third set on its output. Blocks are standard pre-norm ViT blocks
(timm's ``Block``: LayerNorm eps 1e-6, qkv with bias, GELU MLP). Parameter names follow the official code
(LTH14/mar), so released checkpoints load strictly.

Training (``forward``) masks a random share of tokens, drawn from a normal truncated to [mask_ratio_min, 1]
around 1 (std 0.25), and asks the diffusion loss to model the masked tokens given z.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arctl_mar.diffloss import DiffLoss

MASK_RATIO_STD = 0.25


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, C)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, attn_drop, proj_drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def truncated_normal(n: int, low: float, high: float, loc: float, scale: float,
                     generator: torch.Generator | None = None) -> Tensor:
    """``n`` draws of N(loc, scale^2) restricted to [low, high], by inverting the CDF (float64)."""
    a, b = (torch.tensor([low, high], dtype=torch.float64) - loc) / scale
    lo, hi = torch.special.ndtr(a), torch.special.ndtr(b)
    u = lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=generator)
    return loc + scale * torch.special.ndtri(u)


class MAR(nn.Module):
    def __init__(
        self,
        img_size: int = 256,
        vae_stride: int = 16,
        patch_size: int = 1,
        encoder_embed_dim: int = 1024,
        encoder_depth: int = 16,
        encoder_num_heads: int = 16,
        decoder_embed_dim: int = 1024,
        decoder_depth: int = 16,
        decoder_num_heads: int = 16,
        mlp_ratio: float = 4.0,
        vae_embed_dim: int = 16,
        mask_ratio_min: float = 0.7,
        label_drop_prob: float = 0.1,
        class_num: int = 1000,
        attn_dropout: float = 0.1,
        proj_dropout: float = 0.1,
        buffer_size: int = 64,
        diffloss_d: int = 3,
        diffloss_w: int = 1024,
        diffusion_batch_mul: int = 4,
    ) -> None:
        super().__init__()
        self.vae_embed_dim, self.patch_size = vae_embed_dim, patch_size
        self.seq_h = self.seq_w = img_size // vae_stride // patch_size
        self.seq_len = self.seq_h * self.seq_w
        self.token_embed_dim = vae_embed_dim * patch_size**2
        self.num_classes, self.label_drop_prob = class_num, label_drop_prob
        self.mask_ratio_min, self.buffer_size = mask_ratio_min, buffer_size
        self.diffusion_batch_mul = diffusion_batch_mul
        positions = self.seq_len + buffer_size

        self.class_emb = nn.Embedding(class_num, encoder_embed_dim)
        self.fake_latent = nn.Parameter(torch.zeros(1, encoder_embed_dim))  # the "no class" embedding

        self.z_proj = nn.Linear(self.token_embed_dim, encoder_embed_dim)
        self.z_proj_ln = nn.LayerNorm(encoder_embed_dim, eps=1e-6)
        self.encoder_pos_embed_learned = nn.Parameter(torch.zeros(1, positions, encoder_embed_dim))
        self.encoder_blocks = nn.ModuleList(
            Block(encoder_embed_dim, encoder_num_heads, mlp_ratio, attn_dropout, proj_dropout)
            for _ in range(encoder_depth))
        self.encoder_norm = nn.LayerNorm(encoder_embed_dim, eps=1e-6)

        self.decoder_embed = nn.Linear(encoder_embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed_learned = nn.Parameter(torch.zeros(1, positions, decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, attn_dropout, proj_dropout)
            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.diffusion_pos_embed_learned = nn.Parameter(torch.zeros(1, self.seq_len, decoder_embed_dim))
        self.initialize_weights()

        self.diffloss = DiffLoss(self.token_embed_dim, decoder_embed_dim, diffloss_d, diffloss_w)

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """The official initialisation of the transformer (the head initialises itself): small normal embeddings,
        Xavier-uniform linears with zero bias, LayerNorms at identity."""
        for p in (self.class_emb.weight, self.fake_latent, self.mask_token, self.encoder_pos_embed_learned,
                  self.decoder_pos_embed_learned, self.diffusion_pos_embed_learned):
            nn.init.normal_(p, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # --- tokens <-> latent images ---

    def patchify(self, latents: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, (H/p)(W/p), C p p], row-major over patches, channel-major inside one."""
        B, C, H, W = latents.shape
        p = self.patch_size
        x = latents.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(B, (H // p) * (W // p), C * p * p)

    def unpatchify(self, tokens: Tensor) -> Tensor:
        B, p, C = tokens.shape[0], self.patch_size, self.vae_embed_dim
        x = tokens.reshape(B, self.seq_h, self.seq_w, C, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(B, C, self.seq_h * p, self.seq_w * p)

    # --- the two transformer halves ---

    def forward_mae_encoder(self, tokens: Tensor, mask: Tensor, class_embedding: Tensor) -> Tensor:
        """tokens [B, L, C], mask [B, L] (1 = unknown, dropped) -> [B, buffer + #known, D_enc]; every row must
        know the same number of tokens."""
        x = self.z_proj(tokens)
        B, _, D = x.shape
        if self.training:  # drop the class for a random share of images, so the model also learns "no class"
            drop = (torch.rand(B, device=x.device) < self.label_drop_prob).unsqueeze(-1).to(x.dtype)
            class_embedding = drop * self.fake_latent + (1 - drop) * class_embedding
        buffer = class_embedding.unsqueeze(1).expand(B, self.buffer_size, D).to(x.dtype)
        x = self.z_proj_ln(torch.cat([buffer, x], dim=1) + self.encoder_pos_embed_learned)
        keep = torch.cat([mask.new_zeros(B, self.buffer_size), mask], dim=1) == 0
        x = x[keep].reshape(B, -1, D)
        for block in self.encoder_blocks:
            x = block(x)
        return self.encoder_norm(x)

    def forward_mae_decoder(self, encoded: Tensor, mask: Tensor) -> Tensor:
        """-> the condition z of every image position [B, L, D_dec]."""
        x = self.decoder_embed(encoded)
        B = x.shape[0]
        keep = torch.cat([mask.new_zeros(B, self.buffer_size), mask], dim=1) == 0
        full = self.mask_token.to(x.dtype).repeat(B, keep.shape[1], 1)
        full[keep] = x.reshape(-1, x.shape[-1])
        x = full + self.decoder_pos_embed_learned
        for block in self.decoder_blocks:
            x = block(x)
        x = self.decoder_norm(x)[:, self.buffer_size :]
        return x + self.diffusion_pos_embed_learned

    def condition(self, tokens: Tensor, mask: Tensor, class_embedding: Tensor) -> Tensor:
        return self.forward_mae_decoder(self.forward_mae_encoder(tokens, mask, class_embedding), mask)

    # --- training ---

    def random_mask(self, batch: int, device, generator: torch.Generator | None = None) -> Tensor:
        """[B, L] float mask: one random order per image, its first ceil(L * ratio) positions masked."""
        ratio = truncated_normal(1, self.mask_ratio_min, 1.0, 1.0, MASK_RATIO_STD, generator).item()
        num_masked = math.ceil(self.seq_len * ratio)
        orders = torch.rand(batch, self.seq_len, generator=generator).argsort(dim=-1).to(device)
        mask = torch.zeros(batch, self.seq_len, device=device)
        return mask.scatter(-1, orders[:, :num_masked], 1.0)

    def forward(self, latents: Tensor, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training loss for scaled VAE latents [B, C, H, W] and class labels [B]."""
        target = self.patchify(latents)
        mask = self.random_mask(target.shape[0], target.device, generator)
        z = self.condition(target, mask, self.class_emb(labels))
        B, L, _ = target.shape
        k = self.diffusion_batch_mul  # each token's diffusion loss is drawn k times, at independent timesteps
        return self.diffloss(target.reshape(B * L, -1).repeat(k, 1), z.reshape(B * L, -1).repeat(k, 1),
                             mask.reshape(B * L).repeat(k), generator)
