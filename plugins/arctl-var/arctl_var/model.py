"""The VAR transformer: next-scale prediction over a pyramid of token maps.

Parameter and buffer names follow the official implementation (FoundationVision/VAR) exactly, so the
released var_d*.pth files load strictly. The model predicts every token of scale k at once from the
tokens of scales 1..k-1, each block conditioned on the class through adaptive layer norm (AdaLN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values of the scales seen so far, per attention layer (inference only)."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k = k if self.k is None else torch.cat((self.k, k), dim=2)
        self.v = v if self.v is None else torch.cat((self.v, v), dim=2)
        return self.k, self.v


class SelfAttention(nn.Module):
    """Multi-head attention; with ``attn_l2_norm`` q and k are unit vectors and each head learns a temperature."""

    def __init__(self, embed_dim: int, num_heads: int, attn_l2_norm: bool = True) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.attn_l2_norm = attn_l2_norm
        if attn_l2_norm:
            self.scale = 1.0
            # log(4) per head, capped at log(100) when used
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), math.log(4.0)))
            self.max_scale_mul = math.log(100.0)
        else:
            self.scale = 0.25 / math.sqrt(self.head_dim)
        self.mat_qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(embed_dim))
        self.v_bias = nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer("zero_k_bias", torch.zeros(embed_dim))  # keys get no bias, but it is saved
        self.proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        B, L, C = x.shape
        bias = torch.cat((self.q_bias, self.zero_k_bias, self.v_bias))
        qkv = F.linear(x, self.mat_qkv.weight, bias).view(B, L, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, L, head_dim]
        if self.attn_l2_norm:
            temperature = self.scale_mul_1H11.clamp_max(self.max_scale_mul).exp()
            q = F.normalize(q, dim=-1).mul(temperature)
            k = F.normalize(k, dim=-1)
        if cache is not None:
            k, v = cache.extend(k, v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(B, L, C))


class FFN(nn.Module):
    def __init__(self, embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SharedAdaLin(nn.Linear):
    """The d36 model's single AdaLN projection, shared by every block: [B, D] -> [B, 1, 6, C]."""

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return super().forward(cond).view(-1, 1, 6, self.weight.shape[0] // 6)


class AdaLNSelfAttn(nn.Module):
    """A transformer block whose layer norms are scaled, shifted and gated by the class condition."""

    def __init__(self, embed_dim: int, cond_dim: int, num_heads: int, mlp_ratio: float, norm_eps: float,
                 shared_aln: bool, attn_l2_norm: bool) -> None:
        super().__init__()
        self.C = embed_dim
        self.attn = SelfAttention(embed_dim, num_heads, attn_l2_norm)
        self.ffn = FFN(embed_dim, round(embed_dim * mlp_ratio))
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=norm_eps, elementwise_affine=False)
        self.shared_aln = shared_aln
        if shared_aln:
            self.ada_gss = nn.Parameter(torch.randn(1, 1, 6, embed_dim) / embed_dim**0.5)
        else:
            self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * embed_dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, attn_bias: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        # cond is the class embedding [B, D], or with shared AdaLN the shared projection [B, 1, 6, C]
        ada = (self.ada_gss + cond) if self.shared_aln else self.ada_lin(cond).view(-1, 1, 6, self.C)
        gamma1, gamma2, scale1, scale2, shift1, shift2 = ada.unbind(2)
        x = x + self.attn(self.ln_wo_grad(x).mul(scale1 + 1).add_(shift1), attn_bias, cache).mul_(gamma1)
        x = x + self.ffn(self.ln_wo_grad(x).mul(scale2 + 1).add_(shift2)).mul(gamma2)
        return x


class AdaLNBeforeHead(nn.Module):
    def __init__(self, embed_dim: int, cond_dim: int, norm_eps: float) -> None:
        super().__init__()
        self.C = embed_dim
        self.ln_wo_grad = nn.LayerNorm(embed_dim, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * embed_dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.ada_lin(cond).view(-1, 1, 2, self.C).unbind(2)
        return self.ln_wo_grad(x).mul(scale + 1).add_(shift)


class VAR(nn.Module):
    def __init__(
        self,
        Cvae: int = 32,
        vocab_size: int = 4096,
        num_classes: int = 1000,
        depth: int = 16,
        embed_dim: int = 1024,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        norm_eps: float = 1e-6,
        shared_aln: bool = False,
        cond_drop_rate: float = 0.1,
        attn_l2_norm: bool = True,
        patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
    ) -> None:
        super().__init__()
        self.Cvae, self.V, self.C, self.num_classes = Cvae, vocab_size, embed_dim, num_classes
        self.cond_drop_rate = cond_drop_rate
        self.patch_nums = tuple(patch_nums)
        self.L = sum(pn * pn for pn in self.patch_nums)
        self.first_l = self.patch_nums[0] ** 2
        std = math.sqrt(1 / embed_dim / 3)

        # Inputs: the start token comes from the class; later tokens are the (downsampled) VQVAE features.
        self.word_embed = nn.Linear(Cvae, embed_dim)
        self.class_emb = nn.Embedding(num_classes + 1, embed_dim)  # the extra row is the null class (CFG)
        self.pos_start = nn.Parameter(torch.randn(1, self.first_l, embed_dim) * std)
        # Every token knows its position inside the pyramid and its scale ("level").
        self.pos_1LC = nn.Parameter(torch.randn(1, self.L, embed_dim) * std)
        self.lvl_embed = nn.Embedding(len(self.patch_nums), embed_dim)

        self.shared_ada_lin = (
            nn.Sequential(nn.SiLU(), SharedAdaLin(embed_dim, 6 * embed_dim)) if shared_aln else nn.Identity()
        )
        self.blocks = nn.ModuleList(
            AdaLNSelfAttn(embed_dim, embed_dim, num_heads, mlp_ratio, norm_eps, shared_aln, attn_l2_norm)
            for _ in range(depth)
        )

        # Block-causal mask for teacher forcing: a token sees its own scale and every coarser one.
        level = torch.cat([torch.full((pn * pn,), i) for i, pn in enumerate(self.patch_nums)]).view(1, self.L, 1)
        self.register_buffer("lvl_1L", level.transpose(1, 2)[:, 0].contiguous())
        mask = torch.where(level >= level.transpose(1, 2), 0.0, -torch.inf).reshape(1, 1, self.L, self.L)
        self.register_buffer("attn_bias_for_masking", mask.contiguous())

        self.head_nm = AdaLNBeforeHead(embed_dim, embed_dim, norm_eps)
        self.head = nn.Linear(embed_dim, vocab_size)

    @torch.no_grad()
    def init_weights(self, init_adaln: float = 0.5, init_adaln_gamma: float = 1e-5, init_head: float = 0.02) -> None:
        """The official initialisation for training from scratch: small truncated-normal weights, a near-zero
        head, and AdaLN gates (gamma) near zero so every block starts close to the identity."""
        std = math.sqrt(1 / self.C / 3)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(module.weight, std=std)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
        self.head.weight.mul_(init_head)
        self.head.bias.zero_()
        self.head_nm.ada_lin[-1].weight.mul_(init_adaln)
        depth = len(self.blocks)
        for block in self.blocks:
            block.attn.proj.weight.div_(math.sqrt(2 * depth))
            block.ffn.fc2.weight.div_(math.sqrt(2 * depth))
            if block.shared_aln:
                block.ada_gss[:, :, 2:].mul_(init_adaln)
                block.ada_gss[:, :, :2].mul_(init_adaln_gamma)
            else:
                block.ada_lin[-1].weight[2 * self.C :].mul_(init_adaln)
                block.ada_lin[-1].weight[: 2 * self.C].mul_(init_adaln_gamma)

    # --- pieces shared by training and inference ---

    def level_positions(self) -> torch.Tensor:
        """Scale + position embedding of every token of the pyramid [1, L, C]."""
        return self.lvl_embed(self.lvl_1L) + self.pos_1LC

    def condition(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class embedding (the start token's content) and what the blocks' AdaLN reads."""
        cond = self.class_emb(labels)
        return cond, self.shared_ada_lin(cond)

    def start_tokens(self, cond: torch.Tensor, lvl_pos: torch.Tensor) -> torch.Tensor:
        return cond.unsqueeze(1).expand(-1, self.first_l, -1) + self.pos_start + lvl_pos[:, : self.first_l]

    def logits(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_nm(h.float(), cond).float()).float()

    def run_blocks(self, x: torch.Tensor, block_cond: torch.Tensor, attn_bias: torch.Tensor | None = None,
                   caches: Sequence[KVCache] | None = None) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, block_cond, attn_bias, caches[i] if caches is not None else None)
        return x

    # --- teacher forcing (training, parity checks) ---

    def forward(self, labels: torch.Tensor, x_BLCv_wo_first_l: torch.Tensor) -> torch.Tensor:
        """Logits [B, L, V] for every token given the ground-truth coarser scales (see quantizer.idx_to_var_input)."""
        if self.training and self.cond_drop_rate > 0:  # classifier-free guidance training: drop some labels
            drop = torch.rand(labels.shape[0], device=labels.device) < self.cond_drop_rate
            labels = torch.where(drop, self.num_classes, labels)
        cond, block_cond = self.condition(labels)
        lvl_pos = self.level_positions()
        sos = cond.unsqueeze(1).expand(-1, self.first_l, -1) + self.pos_start
        x = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.float())), dim=1) + lvl_pos
        x = self.run_blocks(x, block_cond, self.attn_bias_for_masking)
        return self.logits(x, cond)
