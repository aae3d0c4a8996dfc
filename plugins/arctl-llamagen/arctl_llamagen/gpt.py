"""LlamaGen's class-conditional GPT: a LLaMA-style decoder over VQ tokens in raster order.

Pre-norm blocks (RMSNorm), SwiGLU feed-forward, no biases, and 2-D rotary position embeddings: half
of each head's rotation pairs turn with the token's row, half with its column. The class token(s)
come first and get a rotation of zero (cos = sin = 0), exactly as the official table does, which
zeroes their queries and keys. Parameter names follow FoundationVision/LlamaGen so the released
c2i_*.pt files load strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def find_multiple(n: int, k: int) -> int:
    return n if n % k == 0 else n + k - n % k


def rope_table_2d(grid: int, head_dim: int, base: float, cls_token_num: int) -> torch.Tensor:
    """[cls_token_num + grid * grid, head_dim // 2, 2] of (cos, sin); zero rows for the class tokens."""
    half = head_dim // 2
    freqs = 1.0 / (base ** (torch.arange(0, half, 2)[: half // 2].float() / half))
    angles = torch.outer(torch.arange(grid).float(), freqs)  # [grid, half // 2]
    grid_angles = torch.cat(
        (angles[:, None, :].expand(-1, grid, -1), angles[None, :, :].expand(grid, -1, -1)), dim=-1
    )  # row frequencies first, then column frequencies
    table = torch.stack((grid_angles.cos(), grid_angles.sin()), dim=-1).flatten(0, 1)
    return torch.cat((torch.zeros(cls_token_num, half, 2), table))


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of x [B, T, H, D] by rope [T, D/2, 2], in float32."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    rope = rope.view(1, pairs.shape[1], 1, pairs.shape[3], 2)
    cos, sin = rope[..., 0], rope[..., 1]
    rotated = torch.stack(
        (pairs[..., 0] * cos - pairs[..., 1] * sin, pairs[..., 1] * cos + pairs[..., 0] * sin), dim=-1
    )
    return rotated.flatten(3).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt((xf * xf).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x), hidden width 8/3 * dim rounded up to a multiple."""

    def __init__(self, dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> None:
        super().__init__()
        hidden = int(2 * 4 * dim / 3)
        if ffn_dim_multiplier is not None:
            hidden = int(ffn_dim_multiplier * hidden)
        hidden = find_multiple(hidden, multiple_of)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class KVCache:
    """Keys and values of every token fed so far, in feeding order (preallocated, inference only)."""

    def __init__(self, batch: int, heads: int, length: int, head_dim: int, dtype, device) -> None:
        self.k = torch.zeros(batch, heads, length, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.size = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.size + k.shape[2]
        self.k[:, :, self.size : end] = k
        self.v[:, :, self.size : end] = v
        self.size = end
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    def __init__(self, dim: int, n_head: int, n_kv_head: int | None) -> None:
        super().__init__()
        self.dim, self.n_head = dim, n_head
        self.n_kv_head = n_kv_head or n_head
        self.head_dim = dim // n_head
        self.wqkv = nn.Linear(dim, (n_head + 2 * self.n_kv_head) * self.head_dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Without a cache: causal over x, or ``mask`` (bool, True = may attend). With one: x attends to
        everything cached so far plus itself (the caller feeds tokens only once all they may see is cached)."""
        B, T, _ = x.shape
        kv = self.n_kv_head * self.head_dim
        q, k, v = self.wqkv(x).split([self.dim, kv, kv], dim=-1)
        q = apply_rope(q.view(B, T, self.n_head, self.head_dim), rope).transpose(1, 2)
        k = apply_rope(k.view(B, T, self.n_kv_head, self.head_dim), rope).transpose(1, 2)
        v = v.view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        if cache is not None:
            k, v = cache.append(k, v)
        repeat = self.n_head // self.n_kv_head  # grouped-query attention shares kv heads
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        causal = cache is None and mask is None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.wo(out.transpose(1, 2).reshape(B, T, self.dim))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, n_head: int, n_kv_head: int | None, multiple_of: int,
                 ffn_dim_multiplier: float | None, norm_eps: float) -> None:
        super().__init__()
        self.attention = Attention(dim, n_head, n_kv_head)
        self.feed_forward = FeedForward(dim, multiple_of, ffn_dim_multiplier)
        self.attention_norm = RMSNorm(dim, norm_eps)
        self.ffn_norm = RMSNorm(dim, norm_eps)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), rope, mask, cache)
        return h + self.feed_forward(self.ffn_norm(h))


class LabelEmbedder(nn.Module):
    """Class embedding; with CFG training (dropout_prob > 0) an extra last row is the null class."""

    def __init__(self, num_classes: int, dim: int, dropout_prob: float) -> None:
        super().__init__()
        self.num_classes, self.dropout_prob = num_classes, dropout_prob
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), dim)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(drop, self.num_classes, labels)
        return self.embedding_table(labels).unsqueeze(1)


class GPT(nn.Module):
    """The official ``Transformer`` with ``model_type='c2i'``; keyword names follow its ModelArgs."""

    def __init__(
        self,
        dim: int = 768,
        n_layer: int = 12,
        n_head: int = 12,
        n_kv_head: int | None = None,
        multiple_of: int = 256,
        ffn_dim_multiplier: float | None = None,
        rope_base: float = 10000,
        norm_eps: float = 1e-5,
        num_classes: int = 1000,
        class_dropout_prob: float = 0.1,
        vocab_size: int = 16384,
        cls_token_num: int = 1,
        block_size: int = 256,
    ) -> None:
        super().__init__()
        self.dim, self.n_head, self.n_layer = dim, n_head, n_layer
        self.num_classes, self.vocab_size, self.cls_token_num = num_classes, vocab_size, cls_token_num
        self.block_size, self.rope_base = block_size, rope_base
        self.grid = int(round(block_size**0.5))
        if self.grid * self.grid != block_size:
            raise ValueError(f"block_size {block_size} is not a square token grid")
        self._block_args = (dim, n_head, n_kv_head, multiple_of, ffn_dim_multiplier, norm_eps)

        self.cls_embedding = LabelEmbedder(num_classes, dim, class_dropout_prob)
        self.tok_embeddings = nn.Embedding(vocab_size, dim)
        self.layers = nn.ModuleList(self.new_block() for _ in range(n_layer))
        self.norm = RMSNorm(dim, norm_eps)
        self.output = nn.Linear(dim, vocab_size, bias=False)
        self._rope: dict[torch.device, torch.Tensor] = {}

    @torch.no_grad()
    def init_weights(self, std: float = 0.02) -> None:
        """The official initialisation for training from scratch: normal(0, std) linears and embeddings, zero
        biases, and a zero output head so training starts from uniform predictions."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, std)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
        self.output.weight.zero_()

    def new_block(self) -> TransformerBlock:
        return TransformerBlock(*self._block_args)

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_head

    def rope(self, positions: torch.Tensor) -> torch.Tensor:
        """Rotation rows for sequence positions (0..cls_token_num-1 are the class tokens), cached per device."""
        device = positions.device
        if device not in self._rope:  # built lazily: the model may have been created on the meta device
            self._rope[device] = rope_table_2d(self.grid, self.head_dim, self.rope_base, self.cls_token_num).to(device)
        return self._rope[device][positions]

    def embed(self, cond_idx: torch.Tensor | None, idx: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if cond_idx is not None:
            parts.append(self.cls_embedding(cond_idx)[:, : self.cls_token_num])
        if idx is not None:
            parts.append(self.tok_embeddings(idx))
        return torch.cat(parts, dim=1)

    def run_layers(self, h: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None = None,
                   caches: list[KVCache] | None = None, layers: slice = slice(None)) -> torch.Tensor:
        blocks = self.layers[layers]
        offset = layers.start or 0
        for i, block in enumerate(blocks):
            h = block(h, rope, mask, caches[offset + i] if caches is not None else None)
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.output(self.norm(h)).float()

    def forward(self, idx: torch.Tensor, cond_idx: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits [B, cls_token_num + T, V] for class tokens + tokens ``idx`` [B, T];
        position cls_token_num - 1 + t predicts token t."""
        h = self.embed(cond_idx, idx)
        rope = self.rope(torch.arange(h.shape[1], device=h.device))
        logits = self.head(self.run_layers(h, rope))
        return logits[:, self.cls_token_num - 1 :]

    def new_caches(self, batch: int, length: int, dtype=None, device=None) -> list[KVCache]:
        attn = self.layers[0].attention
        dtype = dtype or self.tok_embeddings.weight.dtype
        device = device or self.tok_embeddings.weight.device
        return [KVCache(batch, attn.n_kv_head, length, self.head_dim, dtype, device) for _ in self.layers]
