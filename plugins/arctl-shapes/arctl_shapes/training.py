"""What every zoo recipe shares: the rendered training set, the optimisation loop, and saving a model as a
local Hub-style repository (config.json + safetensors), atomically and with the recipe that made it."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from arctl.errors import UsageError
from arctl.files import atomic_write
from arctl_shapes.world import ShapesWorld, to_tensor

WORLD_SEED = 0
TRAIN_START = 0  # recipes train on image indices from here up (at most 80,000); evaluation uses 1,000,000 and up

Progress = Callable[[int, int, float], None]  # (step, steps, loss)


def training_images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 3, 64, 64] in [0, 1], labels [N]) rendered once and kept in memory (~2 ms per image)."""
    images, labels = ShapesWorld(WORLD_SEED).arrays(TRAIN_START, count)
    return to_tensor(images), torch.from_numpy(labels)


def transformer_images(recipe: dict, prefix: str) -> int:
    """How many training images a transformer's stages need (the tokenizer trains on ``recipe["images"]``)."""
    return max(stage.images for stage in stages(recipe, prefix))


def tokenize_world(encode: Callable[[torch.Tensor], Any], count: int, chunk: int = 5000) -> tuple[list, torch.Tensor]:
    """``encode`` (of images [n, 3, 64, 64] in [0, 1]) applied to the first ``count`` training images, rendered a
    chunk at a time so that a large set never sits in memory as pixels; returns (the outputs per chunk, labels)."""
    world, outputs, labels = ShapesWorld(WORLD_SEED), [], []
    for start in range(TRAIN_START, TRAIN_START + count, chunk):
        images, chunk_labels = world.arrays(start, min(chunk, TRAIN_START + count - start))
        with torch.no_grad():
            outputs.append(encode(to_tensor(images)))
        labels.append(torch.from_numpy(chunk_labels))
    return outputs, torch.cat(labels)


def batches(count: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless shuffled index batches over ``count`` items."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def cosine_lr(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def optimise(
    model: torch.nn.Module,
    loss_of_batch: Callable[[torch.Tensor], torch.Tensor],
    indices: Iterator[torch.Tensor],
    *,
    steps: int,
    lr: float,
    warmup: int = 100,
    weight_decay: float = 0.0,
    progress: Progress = lambda step, steps, loss: None,
    every: Callable[[int], None] | None = None,
    every_steps: int = 0,
    after_step: Callable[[], None] | None = None,
) -> list[float]:
    """AdamW with warm-up and cosine decay; returns the loss of every step. ``after_step`` runs after every
    optimiser step (e.g. an EMA update)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                  weight_decay=weight_decay, betas=(0.9, 0.95))
    model.train()
    warmup = min(warmup, max(1, steps // 10))  # short runs (tests, quick variants) warm up proportionally
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup)
        loss = loss_of_batch(next(indices))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
        if after_step is not None:
            after_step()
        losses.append(loss.item())
        progress(step + 1, steps, losses[-1])
        if every is not None and every_steps and (step + 1) % every_steps == 0 and step + 1 < steps:
            every(step + 1)
    model.eval()
    return losses


class EMA:
    """An exponential moving average of a model's weights: the copy a diffusion model is sampled with (MAR
    evaluates its EMA). The decay ramps up as (1 + n) / (10 + n), so that in a short run the random initial
    weights fade out instead of weighing on the average."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.model, self.decay, self.updates = model, decay, 0
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in self.model.state_dict().items():
            self.average[k].lerp_(v, 1 - decay)


class Stage(NamedTuple):
    steps: int
    lr: float  # peak learning rate
    images: int  # the stage draws its batches from the first ``images`` training images


def stages(recipe: dict, prefix: str) -> list[Stage]:
    """A model's training stages: the main run; then, where the recipe has ``{prefix}_refine_*`` keys, a
    refinement at a lower peak rate (a second warm-up and cosine decay with a fresh optimiser); then, where it
    has ``{prefix}_extend_*`` keys, extensions on larger sets of images (one value each, or a list with one per
    extension). For a tokenizer the refinement settles codebook and decoder together; for a transformer it is
    a second, longer descent, and an extension a further one on images it has never seen (the held-out loss
    showed the first 20,000 images being memorised)."""
    found = [Stage(recipe[f"{prefix}_steps"], recipe[f"{prefix}_lr"], recipe["images"])]
    if f"{prefix}_refine_steps" in recipe:
        found.append(Stage(recipe[f"{prefix}_refine_steps"], recipe[f"{prefix}_refine_lr"], recipe["images"]))
    keys = [f"{prefix}_extend_{what}" for what in ("steps", "lr", "images")]
    extensions = [recipe.get(key, []) for key in keys]
    extensions = [value if isinstance(value, list) else [value] for value in extensions]
    if len({len(value) for value in extensions}) > 1:
        raise UsageError(f"recipe: {', '.join(keys)} need one value per extension (got {', '.join(map(str, extensions))})")
    return found + [Stage(*values) for values in zip(*extensions)]


def stage_batches(stage: Stage, index: int, available: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Batches of stage number ``index`` over its images (``available`` of them were prepared)."""
    if stage.images > available:
        raise ValueError(f"stage {index} trains on {stage.images} images, but only {available} were prepared")
    return batches(stage.images, batch_size, seed + 10 * index)


def reconstruction_loss(rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + MSE on pixels plus L1 on horizontal and vertical pixel differences: the difference term makes a
    blurred edge or a rounded corner cost as much as a wrong colour, which plain pixel losses do not."""
    def diffs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]

    (rx, ry), (tx, ty) = diffs(rec), diffs(target)
    return (torch.nn.functional.l1_loss(rec, target) + torch.nn.functional.mse_loss(rec, target)
            + torch.nn.functional.l1_loss(rx, tx) + torch.nn.functional.l1_loss(ry, ty))


class CodeRestarts:
    """Dead-code restarts for VQ training: codewords no latent chose since the last restart are re-seeded with
    latents of the current batch (plus a little noise), so the whole codebook stays in use."""

    def __init__(self, codebook: torch.Tensor, seed: int) -> None:
        self.codebook = codebook  # the [V, C] embedding weight, updated in place
        self.used = torch.zeros(len(codebook), dtype=torch.bool)
        self.generator = torch.Generator().manual_seed(seed)

    def saw(self, indices: torch.Tensor) -> None:
        self.used[indices.flatten()] = True

    @torch.no_grad()
    def restart(self, latents: torch.Tensor) -> int:
        """Re-seed the unused codes from ``latents`` [B, C, h, w]; returns how many there were."""
        dead = (~self.used).nonzero().flatten()
        if len(dead):
            pool = latents.detach().permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
            picks = pool[torch.randint(len(pool), (len(dead),), generator=self.generator)]
            self.codebook[dead] = picks + 0.01 * torch.randn(picks.shape, generator=self.generator)
        self.used.zero_()
        return len(dead)


def save_partial(directory: Path, name: str, model: torch.nn.Module, step: int) -> None:
    """A periodic checkpoint of a stage in progress (float32), so a long run can be inspected or resumed."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / f"partial-{name}.safetensors",
                 lambda tmp: save_file(state, str(tmp), metadata={"step": str(step)}))


def partial_checkpoints(directory: Path | None, name: str, model: torch.nn.Module) -> Callable[[int], None]:
    """An ``every`` callback for ``optimise`` that saves ``model`` with save_partial (nothing without a directory)."""
    def checkpoint(step: int) -> None:
        if directory is not None:
            save_partial(directory, name, model, step)

    return checkpoint


def save_weights(directory: Path, weights: dict[str, dict[str, torch.Tensor]], dtype: torch.dtype = torch.float16) -> None:
    """Write ``{filename: state_dict}`` (floats cast to ``dtype``) into a local Hub-style repo, atomically."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    for filename, state in weights.items():
        cast = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
        atomic_write(directory / filename, lambda tmp, cast=cast: save_file(cast, str(tmp)))


def save_repo(directory: Path, weights: dict[str, dict[str, torch.Tensor]], config: dict[str, Any],
              dtype: torch.dtype = torch.float16) -> None:
    """The finished repository: the weights (see save_weights) and config.json, the record of how they were made;
    the partial checkpoints of its stages are removed."""
    save_weights(directory, weights, dtype)
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    atomic_write(directory / "config.json", lambda tmp: tmp.write_text(text))
    for partial in directory.glob("partial-*.safetensors"):
        partial.unlink()


def summary(losses: list[float]) -> list[float]:
    """[first step's loss, mean of the last 50]: what a recipe's record keeps of a loss curve."""
    return [round(losses[0], 4), round(sum(losses[-50:]) / len(losses[-50:]), 4)]


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 1)
