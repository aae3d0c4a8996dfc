"""Raster-order generation: one token per forward pass, left to right, top to bottom, with a KV cache.

The class token is fed first (prefill) and predicts the first image token; every later pass feeds the
token just drawn. With guidance the batch is [cond; null class] and both halves are fed the
conditional branch's token, as the official sampler does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from arctl.sampling import StepContext, TokenSampling
from arctl_llamagen.gpt import GPT


def split_guided(logits: torch.Tensor, batch: int, guided: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[cond; uncond] logits -> (cond, uncond), or (logits, None) without guidance."""
    return (logits[:batch], logits[batch:]) if guided else (logits, None)


def with_null_class(gpt: GPT, labels: torch.Tensor, guided: bool) -> torch.Tensor:
    return torch.cat((labels, torch.full_like(labels, gpt.num_classes))) if guided else labels


@torch.no_grad()
def generate_raster(
    gpt: GPT,
    labels: torch.Tensor,
    sampling: TokenSampling,
    *,
    on_step: Callable[[StepContext], None] = lambda ctx: None,
) -> torch.Tensor:
    """Token ids [B, grid * grid] in raster order for class ``labels`` [B]."""
    B, n = labels.shape[0], gpt.block_size
    guided = sampling.uses_guidance
    cond = with_null_class(gpt, labels, guided)
    caches = gpt.new_caches(cond.shape[0], gpt.cls_token_num + n, device=labels.device)

    h = gpt.embed(cond, None)
    positions = torch.arange(gpt.cls_token_num, device=labels.device)
    tokens = []
    for t in range(n):
        ctx = StepContext(step=t, num_steps=n, position=(t // gpt.grid, t % gpt.grid))
        logits = gpt.head(gpt.run_layers(h, gpt.rope(positions), caches=caches))[:, -1]
        cond_logits, uncond_logits = split_guided(logits, B, guided)
        token = sampling.sample(cond_logits, ctx, uncond_logits, replacement=False)  # LlamaGen draws without
        tokens.append(token)
        on_step(ctx)
        h = gpt.embed(None, token.repeat(2 if guided else 1)[:, None])
        positions = torch.tensor([gpt.cls_token_num + t], device=labels.device)
    return torch.stack(tokens, dim=1)
