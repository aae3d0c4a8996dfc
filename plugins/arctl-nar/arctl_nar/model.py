"""NAR's model: the LlamaGen GPT plus one extra block and a second ("below") head.

Both heads read the same trunk: the "right" head R = output(norm(h)) after the regular blocks
predicts the token to the right of each position; the extra block feeds the "below" head
B = medusa_output(medusa_norm(h')), which predicts the token underneath. Tokens attend under a
proximity mask: a token sees every token whose Manhattan distance from the top-left corner is at
most its own, so a whole anti-diagonal can be decoded in one pass. Parameter names follow
ThisisBillhe/NAR (``layers.{n_layer}`` is the extra block; ``medusa_*`` the second head).
"""

from __future__ import annotations

import torch
from torch import nn

from arctl_llamagen.gpt import GPT, RMSNorm


def diagonal(grid: int) -> torch.Tensor:
    """Anti-diagonal index (row + column) of every raster position of a grid x grid map."""
    rows = torch.arange(grid).repeat_interleave(grid)
    return rows + torch.arange(grid).repeat(grid)


def proximity_mask(grid: int, cls_token_num: int) -> torch.Tensor:
    """Bool [cls + N, cls + N], True = may attend: class tokens causally among themselves; image tokens see
    the class tokens and every token on their own or an earlier anti-diagonal."""
    n = grid * grid
    mask = torch.tril(torch.ones(cls_token_num + n, cls_token_num + n, dtype=torch.bool))
    d = diagonal(grid)
    mask[cls_token_num:, cls_token_num:] = d[None, :] <= d[:, None]
    return mask


class NARTransformer(GPT):
    def __init__(self, medusa_attention_num: int = 1, **gpt_kwargs) -> None:
        super().__init__(**gpt_kwargs)
        for _ in range(medusa_attention_num):
            self.layers.append(self.new_block())
        self.medusa_norm = RMSNorm(self.dim, self.norm.eps)
        self.medusa_output = nn.Linear(self.dim, self.vocab_size, bias=False)

    @torch.no_grad()
    def init_weights(self, std: float = 0.02) -> None:
        super().init_weights(std)
        self.medusa_output.weight.zero_()  # the second head starts uniform like the first

    def two_heads(self, h: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None = None,
                  caches=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(right-neighbour logits, below-neighbour logits) at every input position."""
        h = self.run_layers(h, rope, mask, caches, layers=slice(0, self.n_layer))
        below = self.run_layers(h, rope, mask, caches, layers=slice(self.n_layer, None))
        return self.head(h), self.medusa_output(self.medusa_norm(below)).float()

    def forward(self, idx: torch.Tensor, cond_idx: torch.Tensor) -> torch.Tensor:
        """Teacher forcing on all N tokens: logits [B, N, V] in raster order, each token predicted from its
        left neighbour's R and its upper neighbour's B (averaged where it has both; (0, 0) from the class token)."""
        h = self.embed(cond_idx, idx)
        rope = self.rope(torch.arange(h.shape[1], device=h.device))
        mask = proximity_mask(self.grid, self.cls_token_num).to(h.device)
        right, below = self.two_heads(h, rope, mask)
        start = self.cls_token_num - 1  # the last class position predicts (0, 0)
        first = (right[:, start] + below[:, start]) / 2
        B, g, V = right.shape[0], self.grid, right.shape[-1]
        right = right[:, start + 1 :].reshape(B, g, g, V)  # R at (r, c) predicts (r, c + 1)
        below = below[:, start + 1 :].reshape(B, g, g, V)  # B at (r, c) predicts (r + 1, c)
        logits = torch.empty_like(right)
        logits[:, 0, 0] = first
        logits[:, 0, 1:] = right[:, 0, :-1]
        logits[:, 1:, 0] = below[:, :-1, 0]
        logits[:, 1:, 1:] = (right[:, 1:, :-1] + below[:, :-1, 1:]) / 2
        return logits.reshape(B, g * g, V)
