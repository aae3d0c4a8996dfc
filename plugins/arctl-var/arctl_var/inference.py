"""Next-scale prediction at inference time: coarse to fine, one forward pass per scale.

At scale k the transformer sees the start token and the upsampled-then-downsampled VQVAE features
of scales 1..k-1, predicts all pn x pn tokens of scale k in parallel, and the tokens' embeddings are
added into the running feature map f_hat through the quantizer's residual path. With a KV cache each
pass only processes the new scale's tokens; without it, the whole prefix is recomputed under the
block-causal mask (the baseline the benchmark compares against).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from arctl.sampling import StepContext, TokenSampling
from arctl_var.model import VAR, KVCache
from arctl_var.vqvae import VQVAE


@dataclass
class ForcedTokens:
    """Zero-shot editing: tokens of a given image kept wherever ``keep`` (a [B, H, W] map in [0, 1] at the
    finest token resolution, one per image) is set; the rest is generated."""

    tokens: Sequence[torch.Tensor]  # per scale [B, pn * pn]
    keep: torch.Tensor

    @classmethod
    def from_mask(cls, tokens: Sequence[torch.Tensor], mask: torch.Tensor, grid: int) -> ForcedTokens:
        """Keep the finest-scale tokens whose patch of ``mask`` ([B, 1, H, W], white = regenerate) is mostly black."""
        regenerate = F.interpolate(mask.float(), size=(grid, grid), mode="area")[:, 0]
        return cls(tokens, (regenerate < 0.5).float())

    def apply(self, generated: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
        pn = generated.shape[-1]
        keep = F.interpolate(self.keep[:, None].float().to(generated.device), size=(pn, pn), mode="bilinear",
                             align_corners=False).gt(0.5).to(generated.dtype)
        if pn * pn <= 3:  # the coarsest scales carry the global layout: always take them from the image
            keep.fill_(1)
        return given * keep + generated * (1 - keep)


def gumbel_soft_tokens(logits: torch.Tensor, tau: float, rng: torch.Generator) -> torch.Tensor:
    """Soft one-hot token weights (Gumbel-softmax, drawn from the run's generator): VAR's ``more_smooth``."""
    gumbels = -torch.empty_like(logits).exponential_(generator=rng).log()
    return ((logits + gumbels) / tau).softmax(dim=-1)


@torch.no_grad()
def generate_scales(
    var: VAR,
    vqvae: VQVAE,
    labels: torch.Tensor,
    sampling: TokenSampling,
    *,
    on_step: Callable[[StepContext], None] = lambda ctx: None,
    kv_cache: bool = True,
    more_smooth: bool = False,
    forced: ForcedTokens | None = None,
) -> torch.Tensor:
    """Images [B, 3, H, W] in [0, 1] for class ``labels`` (the null class num_classes is allowed)."""
    B = labels.shape[0]
    quant = vqvae.quantize
    patch_nums = var.patch_nums
    num_scales = len(patch_nums)
    guided = sampling.uses_guidance
    # Guidance runs the conditional and the null-class batch together: [cond; uncond].
    all_labels = torch.cat((labels, torch.full_like(labels, var.num_classes))) if guided else labels
    cond, block_cond = var.condition(all_labels)
    lvl_pos = var.level_positions()

    caches = [KVCache() for _ in var.blocks] if kv_cache else None
    prefix: list[torch.Tensor] = []  # every scale's input so far, for the no-cache path
    next_input = var.start_tokens(cond, lvl_pos)
    f_hat = cond.new_zeros(B, var.Cvae, patch_nums[-1], patch_nums[-1])
    seen = 0
    for si, pn in enumerate(patch_nums):
        ctx = StepContext(step=si, num_steps=num_scales, scale=si, position=(pn, pn))
        if kv_cache:
            h = var.run_blocks(next_input, block_cond, caches=caches)
        else:
            prefix.append(next_input)
            seen_now = seen + pn * pn
            mask = var.attn_bias_for_masking[:, :, :seen_now, :seen_now]
            h = var.run_blocks(torch.cat(prefix, dim=1), block_cond, attn_bias=mask)[:, seen:]
        seen += pn * pn

        logits = var.logits(h, cond)
        cond_logits, uncond_logits = (logits[:B], logits[B:]) if guided else (logits, None)
        processed = sampling.process(cond_logits, ctx, uncond_logits)
        idx = sampling.draw(processed, replacement=True)  # [B, pn * pn]
        if more_smooth:  # blend codewords by Gumbel-softmax weights (sharper at finer scales)
            tau = max(0.27 * (1 - ctx.progress * 0.95), 0.005)
            soft = gumbel_soft_tokens(processed.mul(1 + ctx.progress), tau, sampling.rng)
            h_map = (soft @ quant.embedding.weight.unsqueeze(0)).transpose(1, 2).reshape(B, var.Cvae, pn, pn)
        else:
            h_map = quant.lookup(idx, pn, pn)
        if forced is not None:
            h_map = forced.apply(h_map, quant.lookup(forced.tokens[si], pn, pn))

        f_hat, next_map = quant.next_autoregressive_input(si, f_hat, h_map)
        if si < num_scales - 1:
            nxt = patch_nums[si + 1]
            next_input = var.word_embed(next_map.flatten(2).transpose(1, 2)) + lvl_pos[:, seen : seen + nxt * nxt]
            if guided:
                next_input = next_input.repeat(2, 1, 1)
        on_step(ctx)
    return vqvae.fhat_to_img(f_hat).add(1).mul(0.5)
