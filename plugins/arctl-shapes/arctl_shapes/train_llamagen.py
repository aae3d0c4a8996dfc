"""The llamagen-shapes recipe: LlamaGen's VQ tokenizer at 8x downsampling (8x8 tokens), then a small raster GPT on
its tokens, both built from arctl-llamagen's public classes and saved as the local repository zoo/llamagen-shapes.
``train_token_model`` is shared with the NAR recipe, which reuses this tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from arctl_shapes.architectures import LLAMAGEN_GPT, LLAMAGEN_VQ
from arctl_shapes.training import (CodeRestarts, Progress, Timer, optimise, partial_checkpoints, reconstruction_loss,
                                   save_partial, save_repo, save_weights, stage_batches, stages, summary,
                                   tokenize_world, training_images, transformer_images)

CHECKPOINT_EVERY = 200
RESTART_EVERY = 100  # steps between dead-code restarts

RECIPE = {"seed": 0, "images": 20_000, "vq_steps": 1000, "vq_batch": 16, "vq_lr": 1e-3,
          "vq_refine_steps": 1500, "vq_refine_lr": 5e-4,
          "gpt_steps": 2000, "gpt_batch": 48, "gpt_lr": 1e-3, "gpt_refine_steps": 4000, "gpt_refine_lr": 7e-4,
          "gpt_extend_steps": 8000, "gpt_extend_lr": 5e-4, "gpt_extend_images": 80_000, "class_dropout_prob": 0.1}


def train_vq(images: torch.Tensor, recipe: dict, progress: Progress, out_dir: Path | None = None, vq=None,
             first_stage: int = 0):
    """Train (or, given ``vq`` and ``first_stage``, continue training) the tokenizer through its stages."""
    from arctl_llamagen.vq import VQModel

    torch.manual_seed(recipe["seed"])
    vq = vq or VQModel(**LLAMAGEN_VQ)
    pixels = images * 2 - 1
    restarts = CodeRestarts(vq.quantize.embedding.weight.data, recipe["seed"])
    last = {}

    def loss_of(batch):
        x = pixels[batch]
        rec, vq_loss, indices, last["latents"] = vq.training_step(x)
        restarts.saw(indices)
        return reconstruction_loss(rec, x) + vq_loss

    def maintain(step):
        restarts.restart(last["latents"])
        if out_dir is not None and step % CHECKPOINT_EVERY == 0:
            save_partial(out_dir, "vq", vq, step)

    losses = []
    for index, stage in enumerate(stages(recipe, "vq")[first_stage:], first_stage):
        losses += optimise(vq, loss_of, stage_batches(stage, index, len(images), recipe["vq_batch"], recipe["seed"]),
                           steps=stage.steps, lr=stage.lr, progress=progress, every=maintain, every_steps=RESTART_EVERY)
    vq.requires_grad_(False)
    return vq, losses


@torch.no_grad()
def tokenize(vq, images: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """Raster token ids [N, h*w] of the training images (the tokenizer is frozen: done once)."""
    return torch.cat([vq.img_to_indices(images[i : i + chunk] * 2 - 1).flatten(1) for i in range(0, len(images), chunk)])


def world_tokens(vq, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(token ids [count, h*w], labels [count]) of the first ``count`` training images."""
    chunks, labels = tokenize_world(lambda images: tokenize(vq, images), count)
    return torch.cat(chunks), labels


def train_token_model(model, name: str, tokens: torch.Tensor, labels: torch.Tensor,
                      logits_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], recipe: dict, prefix: str,
                      progress: Progress, out_dir: Path | None = None) -> list[float]:
    """Cross-entropy training of a token model, ``logits_of(tokens, labels)`` -> [B, N, V] predicting ``tokens``,
    through the recipe's stages (see training.stages)."""
    def loss_of(batch):
        logits = logits_of(tokens[batch], labels[batch])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[batch].reshape(-1))

    losses = []
    for index, stage in enumerate(stages(recipe, prefix)):
        indices = stage_batches(stage, index, len(tokens), recipe[f"{prefix}_batch"], recipe["seed"] + 1)
        losses += optimise(model, loss_of, indices, steps=stage.steps, lr=stage.lr, weight_decay=0.05,
                           progress=progress, every=partial_checkpoints(out_dir, name, model),
                           every_steps=CHECKPOINT_EVERY)
    return losses


def train_gpt(tokens: torch.Tensor, labels: torch.Tensor, recipe: dict, progress: Progress,
              out_dir: Path | None = None):
    from arctl_llamagen.gpt import GPT

    torch.manual_seed(recipe["seed"])
    gpt = GPT(**LLAMAGEN_GPT, class_dropout_prob=recipe["class_dropout_prob"])
    gpt.init_weights()
    # position cls - 1 + t predicts token t: feed all but the last token
    losses = train_token_model(gpt, "gpt", tokens, labels, lambda t, c: gpt(t[:, :-1], c), recipe, "gpt",
                               progress, out_dir)
    return gpt, losses


def train(out_dir: Path, recipe: dict | None = None, progress: Progress = lambda step, steps, loss: None) -> dict:
    """Run the whole recipe and write out_dir/{vq.safetensors, gpt.safetensors, config.json}; returns the record.
    The tokenizer is written as soon as it is trained, so the NAR recipe can start on it."""
    recipe = {**RECIPE, **(recipe or {})}
    gpt_images = transformer_images(recipe, "gpt")  # checks the stages before the tokenizer's hour of training
    timer = Timer()
    images, _ = training_images(recipe["images"])
    vq, vq_losses = train_vq(images, recipe, progress, out_dir)
    save_weights(out_dir, {"vq.safetensors": vq.state_dict()})
    vq_seconds = timer.seconds
    del images  # the transformer's (larger) set is tokenized a chunk at a time
    gpt, gpt_losses = train_gpt(*world_tokens(vq, gpt_images), recipe, progress, out_dir)
    record = {
        "family": "llamagen", "vq": LLAMAGEN_VQ, "gpt": LLAMAGEN_GPT, "recipe": recipe, "resolution": 64,
        "vq_loss": summary(vq_losses), "gpt_loss": summary(gpt_losses),
        "seconds": {"vq": vq_seconds, "total": timer.seconds}, "threads": torch.get_num_threads(),
    }
    save_repo(out_dir, {"vq.safetensors": vq.state_dict(), "gpt.safetensors": gpt.state_dict()}, record)
    return record
