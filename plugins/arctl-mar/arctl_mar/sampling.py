"""MAR's generation: masked autoregression over continuous tokens in a random order.

Every image draws a random order of its L positions. Iteration k of K runs the transformer on what is
known, then predicts the next group of positions in the order, so that after the iteration
floor(L cos(pi/2 (k+1)/K)) positions remain unknown (at least one until the last iteration, which
predicts the rest). Each predicted token is sampled by the diffusion head from its condition vector z.

Every diffusion call goes through the sampling seam: the sampler decides the number of denoising steps
(MAR's default: the generator's ``num_sampling_steps``, 100), the timestep clip and the noise temperature
for this iteration (``StepContext(step=k, num_steps=K)``). With guidance, the batch is doubled with the
"no class" embedding and the CFG schedule gives the weight; ``ctx.extra`` carries how many tokens are known
after the iteration ("known") out of "total", which MAR's linear schedule reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from arctl.sampling import StepContext
from arctl_mar.diffusion import NUM_TRAIN_STEPS, GaussianDiffusion
from arctl_mar.model import MAR


def unknown_after(step: int, num_iter: int, seq_len: int, unknown_now: int) -> int:
    """How many positions stay unknown after iteration ``step`` (the cosine schedule, at least 1)."""
    planned = int(np.floor(seq_len * np.cos(math.pi / 2.0 * (step + 1) / num_iter)))
    return max(1, min(unknown_now - 1, planned))


class DiffusionChains:
    """Respaced chains, built once per (steps, clip) and reused across iterations and batches."""

    def __init__(self) -> None:
        self._chains: dict[tuple[int, int | None], GaussianDiffusion] = {}

    def get(self, steps: int, clip: float) -> GaussianDiffusion:
        cap = None if clip >= 1.0 else round(clip * NUM_TRAIN_STEPS)
        key = (int(steps), cap)
        if key not in self._chains:
            self._chains[key] = GaussianDiffusion.respaced(*key)
        return self._chains[key]


def sample_tokens(model: MAR, labels: Tensor | None, batch_size: int, num_iter: int, sampling, noise,
                  orders: Tensor, *, default_steps: int = 100, chains: DiffusionChains | None = None,
                  on_step: Callable[[StepContext], None] = lambda ctx: None) -> Tensor:
    """Latent images [B, C, h, w] (unscaled VAE latents times 0.2325). ``labels`` None means unconditional;
    ``sampling`` is an ``arctl.sampling.TokenSampling``; ``noise`` supplies the Gaussian draws; ``orders`` [B, L]
    is each image's generation order."""
    chains = chains or DiffusionChains()
    L, C = model.seq_len, model.token_embed_dim
    device = orders.device
    dtype = model.z_proj.weight.dtype
    unknown = torch.ones(batch_size, L, device=device)
    tokens = torch.zeros(batch_size, L, C, device=device, dtype=dtype)
    own = model.class_emb(labels) if labels is not None else model.fake_latent.repeat(batch_size, 1)
    guided = sampling.uses_guidance
    null = model.fake_latent.repeat(batch_size, 1)

    num_unknown = L
    for step in range(num_iter):
        remaining = unknown_after(step, num_iter, L, num_unknown)
        ctx = StepContext(step=step, num_steps=num_iter, extra={"known": L - remaining, "total": L})
        if guided:
            z = model.condition(torch.cat([tokens, tokens]), torch.cat([unknown, unknown]), torch.cat([own, null]))
        else:
            z = model.condition(tokens, unknown, own)

        still_unknown = torch.zeros_like(unknown).scatter(-1, orders[:, :remaining], 1.0)
        predict = unknown.bool() if step == num_iter - 1 else unknown.bool() ^ still_unknown.bool()
        rows = predict.nonzero(as_tuple=True)
        z = torch.cat([z[:batch_size][rows], z[batch_size:][rows]]) if guided else z[rows]

        chain = chains.get(sampling.diffusion_steps(ctx, default_steps), sampling.diffusion_clip(ctx))
        cfg = sampling.schedule.weight(ctx) if guided else None
        sampled = model.diffloss.sample(z, chain, noise, sampling.diffusion_temperature(ctx), cfg)
        tokens = tokens.clone()
        tokens[rows] = sampled[: len(rows[0])].to(dtype)  # with guidance the second half is a by-product
        unknown, num_unknown = still_unknown, remaining
        on_step(ctx)
    return model.unpatchify(tokens)
