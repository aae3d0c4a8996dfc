"""The var-shapes recipe: a small multi-scale VQVAE (8x8 tokens, scales 1,2,3,4,6,8), then a small VAR on its
tokens, both built from arctl-var's public classes and saved as the local repository zoo/var-shapes."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from arctl_shapes.architectures import VAR
from arctl_shapes.architectures import VAR_VAE as VAE
from arctl_shapes.training import Progress, Timer, batches, optimise, save_partial, save_repo, training_images

CHECKPOINT_EVERY = 250

RECIPE = {"seed": 0, "images": 20_000, "vae_steps": 2500, "vae_batch": 16, "vae_lr": 1e-3,
          "var_steps": 3000, "var_batch": 48, "var_lr": 2e-3, "cond_drop_rate": 0.1}


def restart_dead_codes(vqvae, f: torch.Tensor, used: torch.Tensor, generator: torch.Generator) -> int:
    """Re-seed codewords no scale has used since the last check with latents of the current batch."""
    dead = (~used).nonzero().flatten()
    if len(dead):
        pool = f.detach().permute(0, 2, 3, 1).reshape(-1, f.shape[1])
        picks = torch.randint(len(pool), (len(dead),), generator=generator)
        vqvae.quantize.embedding.weight.data[dead] = pool[picks] + 0.01 * torch.randn_like(pool[picks])
    return len(dead)


def train_vqvae(images: torch.Tensor, recipe: dict, progress: Progress, out_dir: Path | None = None):
    from arctl_var.vqvae import VQVAE

    torch.manual_seed(recipe["seed"])
    vqvae = VQVAE(**VAE, test_mode=False)
    pixels = images * 2 - 1
    used = torch.zeros(VAE["vocab_size"], dtype=torch.bool)
    generator = torch.Generator().manual_seed(recipe["seed"])
    last_f = {}

    def loss_of(batch):
        x = pixels[batch]
        f = vqvae.img_to_f(x)
        f_hat, vq_loss, indices = vqvae.quantize(f)
        rec = vqvae.decoder(vqvae.post_quant_conv(f_hat))
        for idx in indices:
            used[idx.flatten()] = True
        last_f["f"] = f
        return F.l1_loss(rec, x) + F.mse_loss(rec, x) + vq_loss

    def every_50_steps(step):
        if step % 100 == 0:
            restart_dead_codes(vqvae, last_f["f"], used, generator)
            used.zero_()
        if out_dir is not None and step % CHECKPOINT_EVERY == 0:
            save_partial(out_dir, "vae", vqvae, step)

    losses = optimise(vqvae, loss_of, batches(len(images), recipe["vae_batch"], recipe["seed"]),
                      steps=recipe["vae_steps"], lr=recipe["vae_lr"], progress=progress,
                      every=every_50_steps, every_steps=50)
    vqvae.requires_grad_(False)
    return vqvae, losses


def train_var(images: torch.Tensor, labels: torch.Tensor, vqvae, recipe: dict, progress: Progress,
              out_dir: Path | None = None):
    from arctl_var.model import VAR as VARModel

    with torch.no_grad():  # the tokenizer is frozen: tokenize the training set once
        pixels = images * 2 - 1
        tokens = [torch.cat(parts) for parts in zip(*(vqvae.img_to_idx(pixels[i : i + 500])
                                                    for i in range(0, len(pixels), 500)))]
        inputs = torch.cat([vqvae.quantize.idx_to_var_input([t[i : i + 500] for t in tokens])
                            for i in range(0, len(pixels), 500)])
    targets = torch.cat(tokens, dim=1)  # [N, L]
    torch.manual_seed(recipe["seed"])
    var = VARModel(Cvae=VAE["z_channels"], vocab_size=VAE["vocab_size"], cond_drop_rate=recipe["cond_drop_rate"], **VAR)
    var.init_weights()

    def loss_of(batch):
        logits = var(labels[batch], inputs[batch])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[batch].reshape(-1))

    def checkpoint(step):
        if out_dir is not None:
            save_partial(out_dir, "var", var, step)

    losses = optimise(var, loss_of, batches(len(images), recipe["var_batch"], recipe["seed"] + 1),
                      steps=recipe["var_steps"], lr=recipe["var_lr"], weight_decay=0.05, progress=progress,
                      every=checkpoint, every_steps=CHECKPOINT_EVERY)
    return var, losses


def train(out_dir: Path, recipe: dict | None = None, progress: Progress = lambda step, steps, loss: None) -> dict:
    """Run the whole recipe and write out_dir/{vae.safetensors, var.safetensors, config.json}; returns the record."""
    recipe = {**RECIPE, **(recipe or {})}
    timer = Timer()
    images, labels = training_images(recipe["images"])
    vqvae, vae_losses = train_vqvae(images, recipe, progress, out_dir)
    vae_seconds = timer.seconds
    var, var_losses = train_var(images, labels, vqvae, recipe, progress, out_dir)
    record = {
        "family": "var", "vae": VAE, "var": VAR, "recipe": recipe, "resolution": 64,
        "vae_loss": [round(vae_losses[0], 4), round(sum(vae_losses[-50:]) / 50, 4)],
        "var_loss": [round(var_losses[0], 4), round(sum(var_losses[-50:]) / 50, 4)],
        "seconds": {"vae": vae_seconds, "total": timer.seconds}, "threads": torch.get_num_threads(),
    }
    save_repo(out_dir, {"vae.safetensors": vqvae.state_dict(), "var.safetensors": var.state_dict()}, record)
    for stage in ("vae", "var"):
        (out_dir / f"partial-{stage}.safetensors").unlink(missing_ok=True)
    return record
