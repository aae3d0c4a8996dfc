"""Next-neighbour generation: a whole anti-diagonal per forward pass, 2n - 1 passes for an n x n grid.

Pass 0 feeds the class token and draws token (0, 0) from the average of both heads. Pass k >= 1
feeds the tokens of anti-diagonal k - 1 (top row first) and draws anti-diagonal k: the top token
of a new diagonal is the right neighbour of the previous top token, the bottom one the neighbour
below the previous bottom token, and every other token averages the right prediction of its left
neighbour with the below prediction of its upper neighbour. Each pass's keys and values go into the
KV cache, so every fed token attends exactly to what the proximity mask allows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from arctl.sampling import StepContext, TokenSampling
from arctl_llamagen.raster import split_guided, with_null_class
from arctl_nar.model import NARTransformer


def diagonal_cells(k: int, grid: int) -> list[tuple[int, int]]:
    """(row, column) of anti-diagonal k, top row first."""
    return [(r, k - r) for r in range(grid) if 0 <= k - r < grid]


def neighbour_logits(right: torch.Tensor, below: torch.Tensor, k: int, grid: int) -> torch.Tensor:
    """Logits of diagonal k from the heads' outputs at the fed tokens of diagonal k - 1 ([B, len, V] each)."""
    middle = (below[:, :-1] + right[:, 1:]) / 2
    if k < grid:  # the diagonal grows: it also gains a new top and a new bottom cell
        return torch.cat((right[:, :1], middle, below[:, -1:]), dim=1)
    return middle


@torch.no_grad()
def generate_neighbors(
    model: NARTransformer,
    labels: torch.Tensor,
    sampling: TokenSampling,
    *,
    on_step: Callable[[StepContext], None] = lambda ctx: None,
) -> torch.Tensor:
    """Token ids [B, grid * grid] in raster order."""
    B, g, cls = labels.shape[0], model.grid, model.cls_token_num
    passes = 2 * g - 1
    guided = sampling.uses_guidance
    cond = with_null_class(model, labels, guided)
    caches = model.new_caches(cond.shape[0], cls + g * g, device=labels.device)
    grid = torch.empty(B, g, g, dtype=torch.long, device=labels.device)

    h = model.embed(cond, None)
    positions = torch.arange(cls, device=labels.device)
    for k in range(passes):
        right, below = model.two_heads(h, model.rope(positions), caches=caches)
        logits = (right[:, -1:] + below[:, -1:]) / 2 if k == 0 else neighbour_logits(right, below, k, g)
        cells = diagonal_cells(k, g)
        cond_logits, uncond_logits = split_guided(logits, B, guided)
        for i, (r, c) in enumerate(cells):  # one draw per cell, top row first, as the official sampler does
            ctx = StepContext(step=k, num_steps=passes, position=(r, c))
            grid[:, r, c] = sampling.sample(cond_logits[:, i], ctx,
                                            None if uncond_logits is None else uncond_logits[:, i], replacement=False)
        on_step(StepContext(step=k, num_steps=passes, position=cells))
        if k == passes - 1:
            break
        fed = torch.stack([grid[:, r, c] for r, c in cells], dim=1)
        h = model.embed(None, fed.repeat(2, 1) if guided else fed)
        positions = torch.tensor([cls + r * g + c for r, c in cells], device=labels.device)
    return grid.reshape(B, g * g)
