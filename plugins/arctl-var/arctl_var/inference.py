"""Next-scale prediction at inference time: coarse to fine, one forward pass per scale.

At scale k the transformer sees the start token and the upsampled-then-downsampled VQVAE features
of scales 1..k-1, predicts all pn x pn tokens of scale k in parallel, and the tokens' embeddings are
added into the running feature map f_hat through the quantizer's residual path. With a KV cache each
pass only processes the new scale's tokens; without it, the whole prefix is recomputed under the
block-causal mask (the baseline the benchmark compares against).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from arctl.sampling import StepContext, TokenSampling
from arctl_var.model import VAR, KVCache
from arctl_var.quantizer import MultiScaleQuantizer
from arctl_var.vqvae import VQVAE


@dataclass
class ForcedTokens:
    """Zero-shot editing: at every scale, the source image's residual tokens wherever its kept region reaches.

    VAR's f_hat is a sum over scales of upsampled code maps, so the kept region reproduces the source only if every
    scale's contribution there is the source's. Hence the rule: a token of any scale is kept when any part of its
    footprint is kept (area pooling of the pixel keep map, not bilinear point samples, which at 2x2 miss a kept
    centre entirely). And the kept tokens are the nearest codes of the residual the running f_hat leaves of the
    source's latent, as the VQVAE's encoder picks them: where a generated neighbour's upsampled code bleeds into the
    kept region, the finer kept scales absorb it. With every token kept this is the plain VQVAE encoding.

    The price: a white area is regenerated at a scale only where it covers whole tokens of that scale, so coarse
    layout next to kept pixels stays the source's. Freeing those tokens does not pay: with a 32 px kept centre on
    var-shapes, a border generated from 2x2 on leaves ~17/255 in the centre through the decoder even when the
    centre's latent is exactly the source's (docs/var.md).
    """

    latent: torch.Tensor  # the source image's VQVAE latent f [B, Cvae, h, w]
    keep: torch.Tensor  # [B, H, W]: 1 where the image is kept, at pixel (or any finer-than-token) resolution

    @classmethod
    def from_mask(cls, latent: torch.Tensor, mask: torch.Tensor) -> ForcedTokens:
        """``mask`` [B, 1, H, W] in [0, 1]: white (> 0.5) is regenerated, the rest is kept."""
        return cls(latent, mask[:, 0].lt(0.5).float())

    def keep_at(self, pn: int) -> torch.Tensor:
        """[B, 1, pn, pn] bool: the tokens of a pn x pn scale that are taken from the image."""
        footprint = F.interpolate(self.keep[:, None].to(self.latent), size=(pn, pn), mode="area")
        if pn * pn <= 3:  # the coarsest scales carry the global layout: always take them from the image
            return torch.ones_like(footprint, dtype=torch.bool)
        return footprint > 0

    def apply(self, quant: MultiScaleQuantizer, f_hat: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        """A scale's code map [B, Cvae, pn, pn]: the source's residual codes where kept, ``generated`` elsewhere;
        ``f_hat`` is the running sum of the coarser scales."""
        B, C, pn = *generated.shape[:2], generated.shape[-1]
        rest = self.latent - f_hat
        if pn != rest.shape[-1]:  # every scale but the last sees the residual area-downsampled, as in encoding
            rest = F.interpolate(rest, size=(pn, pn), mode="area")
        codes = quant.code_distances(rest.permute(0, 2, 3, 1).reshape(-1, C)).argmin(dim=1).view(B, pn * pn)
        return torch.where(self.keep_at(pn), quant.lookup(codes, pn, pn), generated)


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
            h_map = forced.apply(quant, f_hat, h_map)

        f_hat, next_map = quant.next_autoregressive_input(si, f_hat, h_map)
        if si < num_scales - 1:
            nxt = patch_nums[si + 1]
            next_input = var.word_embed(next_map.flatten(2).transpose(1, 2)) + lvl_pos[:, seen : seen + nxt * nxt]
            if guided:
                next_input = next_input.repeat(2, 1, 1)
        on_step(ctx)
    return vqvae.fhat_to_img(f_hat).add(1).mul(0.5)
