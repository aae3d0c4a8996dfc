"""mar-shapes' last stage: the diffusion head alone, taught the first step of MAR's sampling chain.

MAR samples every token with a chain that starts at t = 999. There the cosine schedule's alpha-bar is 2.4e-9,
and the step's predicted x_0 divides the noise prediction by its square root: an error e in the head's noise
prediction moves the mean of the 100-step chain's first step by 316 e, in units of the noise the step
adds. MAR's training draws timesteps uniformly, so t = 999 gets a thousandth of the head's rows. After
mar-shapes' 14,000 transformer steps the head's RMS error there was 0.015, enough to throw every token
several standard deviations off and every image into noise. (The official heads are trained for hundreds
of ImageNet epochs.)

This stage freezes the transformer and caches its conditions z: one random mask per image, with MAR's class
dropout, so that the unconditional half of guidance learns the step too. It then trains the head on MAR's
diffusion loss, with a share of the rows moved to t = 999 and their noise loss weighted up. The architecture
and the samplers are unchanged.
"""

from __future__ import annotations

import torch

from arctl_shapes.training import EMA, Progress, batches, optimise

FIRST_STEP = 999  # every respaced chain of the 1,000 training steps starts here (DiSA's clip skips it)


@torch.no_grad()
def head_rows(mar, posterior, labels: torch.Tensor, latent_scale: float, count: int, seed: int,
              chunk: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_0 [N, C], condition z [N, D]) of every masked token of the first ``count`` images, for one random mask
    and one posterior sample per image; the transformer runs in training mode so that its class dropout
    applies."""
    from arctl_mar.vae import DiagonalGaussian

    generator = torch.Generator().manual_seed(seed)
    was_training = mar.training
    mar.train()
    tokens, conditions = [], []
    for start in range(0, count, chunk):
        part = slice(start, min(start + chunk, count))
        latents = DiagonalGaussian(posterior.mean[part], posterior.logvar[part]).sample(generator) * latent_scale
        target = mar.patchify(latents)
        mask = mar.random_mask(len(target), target.device, generator)
        z = mar.condition(target, mask, mar.class_emb(labels[part]))
        masked = mask.reshape(-1) == 1
        tokens.append(target.reshape(-1, target.shape[-1])[masked])
        conditions.append(z.reshape(-1, z.shape[-1])[masked])
    mar.train(was_training)
    return torch.cat(tokens), torch.cat(conditions)


def train_head(mar, posterior, labels: torch.Tensor, latent_scale: float, recipe: dict,
               progress: Progress) -> list[float]:
    """Train ``mar.diffloss.net`` in place on the first ``mar_head_images`` images (its EMA is what remains);
    returns the loss of every step."""
    if recipe["mar_head_images"] > len(labels):
        raise ValueError(f"the head stage trains on {recipe['mar_head_images']} images, but only {len(labels)} were prepared")
    torch.manual_seed(recipe["seed"] + 2)  # the class dropout draws from the global generator
    tokens, conditions = head_rows(mar, posterior, labels, latent_scale, recipe["mar_head_images"], recipe["seed"] + 2)
    head, diffusion = mar.diffloss.net, mar.diffloss.train_diffusion
    draws = torch.Generator().manual_seed(recipe["seed"] + 3)
    share, weight = recipe["mar_head_first_share"], recipe["mar_head_first_weight"]

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        first = torch.rand(len(rows), generator=draws) < share
        t = torch.where(first, FIRST_STEP, torch.randint(0, diffusion.num_timesteps, (len(rows),), generator=draws))
        noise = torch.randn(tokens[rows].shape, generator=draws)
        losses = diffusion.training_losses(lambda x, ts: head(x, ts, conditions[rows]), tokens[rows], t, noise)
        return (losses["mse"] * torch.where(first, weight, 1.0) + losses["vb"]).mean()

    mar.requires_grad_(False)
    head.requires_grad_(True)
    ema = EMA(head, recipe["ema_decay"])
    losses = optimise(head, loss_of, batches(len(tokens), recipe["mar_head_batch"], recipe["seed"] + 4),
                      steps=recipe["mar_head_steps"], lr=recipe["mar_head_lr"], progress=progress,
                      after_step=ema.update)
    head.load_state_dict(ema.average)
    head.requires_grad_(False)
    return losses


@torch.no_grad()
def first_step_error(mar, tokens: torch.Tensor, conditions: torch.Tensor, seed: int = 0) -> float:
    """RMS error of the head's noise prediction at t = 999 on (x_0, z) rows: what the chain's first step
    multiplies."""
    diffusion = mar.diffloss.train_diffusion
    generator = torch.Generator().manual_seed(seed)
    t = torch.full((len(tokens),), FIRST_STEP)
    noise = torch.randn(tokens.shape, generator=generator)
    eps = mar.diffloss.net(diffusion.q_sample(tokens, t, noise), t, conditions)[:, : tokens.shape[1]]
    return (eps - noise).pow(2).mean().sqrt().item()
