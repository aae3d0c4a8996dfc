"""The var-shapes recipe: a small multi-scale VQVAE (8x8 tokens, scales 1,2,3,4,6,8), then a small VAR on its
tokens, both built from arctl-var's public classes and saved as the local repository zoo/var-shapes."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from arctl_shapes.architectures import VAR
from arctl_shapes.architectures import VAR_VAE as VAE
from arctl_shapes.training import (CodeRestarts, Progress, Timer, optimise, partial_checkpoints, reconstruction_loss,
                                   save_partial, save_repo, save_weights, stage_batches, stages, summary,
                                   tokenize_world, training_images, transformer_images)

CHECKPOINT_EVERY = 200
RESTART_EVERY = 100  # steps between dead-code restarts

RECIPE = {"seed": 0, "images": 20_000, "vae_steps": 1000, "vae_batch": 16, "vae_lr": 1e-3,
          "vae_refine_steps": 1500, "vae_refine_lr": 5e-4,
          "var_steps": 2500, "var_batch": 32, "var_lr": 2e-3, "var_refine_steps": 3000, "var_refine_lr": 1e-3,
          "var_extend_steps": [6000, 6000, 8000], "var_extend_lr": [7e-4, 5e-4, 4e-4],
          "var_extend_images": [80_000, 160_000, 160_000],
          "cond_drop_rate": 0.1}


def train_vqvae(images: torch.Tensor, recipe: dict, progress: Progress, out_dir: Path | None = None,
                vqvae=None, first_stage: int = 0):
    """Train (or, given ``vqvae`` and ``first_stage``, continue training) the tokenizer through its stages."""
    from arctl_var.vqvae import VQVAE

    torch.manual_seed(recipe["seed"])
    vqvae = vqvae or VQVAE(**VAE, test_mode=False)
    pixels = images * 2 - 1
    restarts = CodeRestarts(vqvae.quantize.embedding.weight.data, recipe["seed"])
    last = {}

    def loss_of(batch):
        x = pixels[batch]
        f = vqvae.img_to_f(x)
        f_hat, vq_loss, indices = vqvae.quantize(f)
        for idx in indices:  # a code counts as used at any scale
            restarts.saw(idx)
        last["f"] = f
        return reconstruction_loss(vqvae.decoder(vqvae.post_quant_conv(f_hat)), x) + vq_loss

    def maintain(step):
        restarts.restart(last["f"])
        if out_dir is not None and step % CHECKPOINT_EVERY == 0:
            save_partial(out_dir, "vae", vqvae, step)

    losses = []
    for index, stage in enumerate(stages(recipe, "vae")[first_stage:], first_stage):
        losses += optimise(vqvae, loss_of, stage_batches(stage, index, len(images), recipe["vae_batch"], recipe["seed"]),
                           steps=stage.steps, lr=stage.lr, progress=progress, every=maintain, every_steps=RESTART_EVERY)
    vqvae.requires_grad_(False)
    return vqvae, losses


@torch.no_grad()
def var_training_data(vqvae, images: torch.Tensor, chunk: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(target token ids [N, L], teacher-forcing inputs [N, L - 1, Cvae]) of images in [0, 1], all scales."""
    targets, inputs = [], []
    for i in range(0, len(images), chunk):
        idx = vqvae.img_to_idx(images[i : i + chunk] * 2 - 1)
        targets.append(torch.cat(idx, dim=1))
        inputs.append(vqvae.quantize.idx_to_var_input(idx))
    return torch.cat(targets), torch.cat(inputs)


def train_var(targets: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor, recipe: dict, progress: Progress,
              out_dir: Path | None = None):
    from arctl_var.model import VAR as VARModel

    torch.manual_seed(recipe["seed"])
    var = VARModel(Cvae=VAE["z_channels"], vocab_size=VAE["vocab_size"], cond_drop_rate=recipe["cond_drop_rate"], **VAR)
    var.init_weights()

    def loss_of(batch):
        logits = var(labels[batch], inputs[batch])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[batch].reshape(-1))

    losses = []
    for index, stage in enumerate(stages(recipe, "var")):
        losses += optimise(var, loss_of, stage_batches(stage, index, len(targets), recipe["var_batch"], recipe["seed"] + 1),
                           steps=stage.steps, lr=stage.lr, weight_decay=0.05, progress=progress,
                           every=partial_checkpoints(out_dir, "var", var), every_steps=CHECKPOINT_EVERY)
    return var, losses


def train(out_dir: Path, recipe: dict | None = None, progress: Progress = lambda step, steps, loss: None) -> dict:
    """Run the whole recipe and write out_dir/{vae.safetensors, var.safetensors, config.json}; returns the record."""
    recipe = {**RECIPE, **(recipe or {})}
    var_images = transformer_images(recipe, "var")  # checks the stages before the tokenizer's hour of training
    timer = Timer()
    images, _ = training_images(recipe["images"])
    vqvae, vae_losses = train_vqvae(images, recipe, progress, out_dir)
    save_weights(out_dir, {"vae.safetensors": vqvae.state_dict()})
    vae_seconds = timer.seconds
    del images  # the transformer's (larger) set is tokenized a chunk at a time
    chunks, labels = tokenize_world(lambda x: var_training_data(vqvae, x), var_images)
    targets, inputs = (torch.cat(parts) for parts in zip(*chunks))
    var, var_losses = train_var(targets, inputs, labels, recipe, progress, out_dir)
    record = {
        "family": "var", "vae": VAE, "var": VAR, "recipe": recipe, "resolution": 64,
        "vae_loss": summary(vae_losses), "var_loss": summary(var_losses),
        "seconds": {"vae": vae_seconds, "total": timer.seconds}, "threads": torch.get_num_threads(),
    }
    save_repo(out_dir, {"vae.safetensors": vqvae.state_dict(), "var.safetensors": var.state_dict()}, record)
    return record
