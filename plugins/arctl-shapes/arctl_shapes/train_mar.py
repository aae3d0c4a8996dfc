"""The mar-shapes recipe: MAR's KL VAE at 8x downsampling (an 8x8 grid of continuous 8-channel tokens), then a
small MAR with its diffusion head on the VAE's scaled latents, both built from arctl-mar's public classes and
saved as the local repository zoo/mar-shapes (vae.safetensors, mar.safetensors, and config.json, which also
records the latent scale the generator needs)."""

from __future__ import annotations

from pathlib import Path

import torch

from arctl_shapes.architectures import MAR, MAR_VAE
from arctl_shapes.train_mar_head import train_head
from arctl_shapes.training import (EMA, Progress, Timer, optimise, partial_checkpoints, reconstruction_loss, save_repo,
                                   save_weights, stage_batches, stages, summary, tokenize_world, training_images,
                                   transformer_images)

CHECKPOINT_EVERY = 200

# step counts fit the CPU budget (one thread: 0.6 s per VAE step, 0.65 s per MAR step)
RECIPE = {"seed": 0, "images": 20_000, "vae_steps": 1200, "vae_batch": 16, "vae_lr": 1e-3,
          "vae_refine_steps": 1100, "vae_refine_lr": 5e-4, "kl_weight": 1e-4,
          "mar_steps": 3000, "mar_batch": 64, "mar_lr": 1e-3, "ema_decay": 0.999,
          "mar_extend_steps": [4000, 7000], "mar_extend_lr": [5e-4, 4e-4], "mar_extend_images": [40_000, 80_000],
          # the head alone, taught the chain's first step (train_mar_head; 0.12 s per step)
          "mar_head_steps": 3000, "mar_head_lr": 3e-4, "mar_head_images": 10_000, "mar_head_batch": 4096,
          "mar_head_first_share": 0.25, "mar_head_first_weight": 300.0}


def kl_divergence(posterior) -> torch.Tensor:
    """KL(q(z | x) || N(0, 1)), averaged over latent elements (the reconstruction loss is a mean too)."""
    return 0.5 * (posterior.mean**2 + posterior.logvar.exp() - 1 - posterior.logvar).mean()


def train_vae(images: torch.Tensor, recipe: dict, progress: Progress, out_dir: Path | None = None):
    """The KL autoencoder through its stages, decoding a sample of the posterior (so the decoder learns to
    tolerate latents a little off the encoder's mean, as MAR's will be)."""
    from arctl_mar.vae import AutoencoderKL

    torch.manual_seed(recipe["seed"])
    vae = AutoencoderKL(**MAR_VAE)
    pixels = images * 2 - 1

    def loss_of(batch):
        x = pixels[batch]
        posterior = vae.encode(x)
        return reconstruction_loss(vae.decode(posterior.sample()), x) + recipe["kl_weight"] * kl_divergence(posterior)

    losses = []
    for index, stage in enumerate(stages(recipe, "vae")):
        losses += optimise(vae, loss_of, stage_batches(stage, index, len(images), recipe["vae_batch"], recipe["seed"]),
                           steps=stage.steps, lr=stage.lr, progress=progress,
                           every=partial_checkpoints(out_dir, "vae", vae), every_steps=CHECKPOINT_EVERY)
    vae.requires_grad_(False)
    return vae, losses


@torch.no_grad()
def encode(vae, images: torch.Tensor, chunk: int = 250):
    """The posterior of every training image (the VAE is frozen: encoded once; MAR draws from it at every step)."""
    from arctl_mar.vae import DiagonalGaussian

    parts = [vae.encode(images[i : i + chunk] * 2 - 1) for i in range(0, len(images), chunk)]
    return DiagonalGaussian(torch.cat([p.mean for p in parts]), torch.cat([p.logvar for p in parts]))


def measure_latent_scale(posterior, seed: int) -> float:
    """1 / std of sampled training latents, so that MAR models tokens of about unit variance (the role of MAR's
    0.2325 for KL-16); rounded, and the rounded value is the one training uses."""
    return round(1.0 / posterior.sample(torch.Generator().manual_seed(seed)).std().item(), 4)


def train_mar(posterior, labels: torch.Tensor, latent_scale: float, recipe: dict, progress: Progress,
              out_dir: Path | None = None):
    """MAR's own training forward (random masking, class dropout, diffusion loss on the masked tokens) on fresh
    posterior samples of the training latents, through the recipe's stages. Each stage averages its own EMA and
    hands the average on, so that a later stage starts from the weights an earlier one would have shipped.
    Returns the final EMA weights in a MAR and the loss of every step."""
    from arctl_mar.model import MAR as MARModel
    from arctl_mar.vae import DiagonalGaussian

    torch.manual_seed(recipe["seed"])
    mar = MARModel(**MAR)

    def loss_of(batch):
        latents = DiagonalGaussian(posterior.mean[batch], posterior.logvar[batch]).sample() * latent_scale
        return mar(latents, labels[batch])

    losses = []
    for index, stage in enumerate(stages(recipe, "mar")):
        ema = EMA(mar, recipe["ema_decay"])
        losses += optimise(mar, loss_of, stage_batches(stage, index, len(labels), recipe["mar_batch"], recipe["seed"] + 1),
                           steps=stage.steps, lr=stage.lr, weight_decay=0.02, progress=progress,
                           every=partial_checkpoints(out_dir, "mar", mar), every_steps=CHECKPOINT_EVERY,
                           after_step=ema.update)
        mar.load_state_dict(ema.average)
    return mar.requires_grad_(False), losses


def encode_world(vae, count: int):
    """The posterior of the first ``count`` training images, rendered and encoded a chunk at a time."""
    from arctl_mar.vae import DiagonalGaussian

    parts, labels = tokenize_world(lambda images: encode(vae, images), count)
    return DiagonalGaussian(torch.cat([p.mean for p in parts]), torch.cat([p.logvar for p in parts])), labels


def train(out_dir: Path, recipe: dict | None = None, progress: Progress = lambda step, steps, loss: None) -> dict:
    """Run the whole recipe and write out_dir/{vae.safetensors, mar.safetensors, config.json}; returns the record."""
    recipe = {**RECIPE, **(recipe or {})}
    # checks the stages before the VAE's hour of training
    mar_images = max(transformer_images(recipe, "mar"), recipe["mar_head_images"])
    timer = Timer()
    images, _ = training_images(recipe["images"])
    vae, vae_losses = train_vae(images, recipe, progress, out_dir)
    save_weights(out_dir, {"vae.safetensors": vae.state_dict()})
    vae_seconds = timer.seconds
    del images  # MAR trains on latents, of a set that may be larger
    posterior, labels = encode_world(vae, mar_images)
    latent_scale = measure_latent_scale(posterior, recipe["seed"])
    mar, mar_losses = train_mar(posterior, labels, latent_scale, recipe, progress, out_dir)
    head_losses = train_head(mar, posterior, labels, latent_scale, recipe, progress)
    record = {
        "family": "mar", "vae": MAR_VAE, "mar": MAR, "latent_scale": latent_scale, "recipe": recipe,
        "resolution": 64, "vae_loss": summary(vae_losses), "mar_loss": summary(mar_losses),
        "mar_head_loss": summary(head_losses),
        "seconds": {"vae": vae_seconds, "total": timer.seconds}, "threads": torch.get_num_threads(),
    }
    save_repo(out_dir, {"vae.safetensors": vae.state_dict(), "mar.safetensors": mar.state_dict()}, record)
    return record
