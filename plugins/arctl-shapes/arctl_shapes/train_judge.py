"""Train the judge on world images and ship it to zoo/judge (fp16 safetensors + config.json with the recipe).

The training images are rendered once into memory (about 1 ms each) and then degraded on the fly
(blur, colour shift, noise) so the judge also reads generated images, which are softer and slightly
off-colour. Accuracy is measured on a disjoint index range the judge never saw.

    PYTHONPATH=plugins/arctl-shapes python -m arctl_shapes.train_judge
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from arctl_shapes.judge import COOL, ZOO, Judge, targets
from arctl_shapes.world import ShapesWorld

WORLD_SEED = 0
TRAIN = (0, 40_000)  # [start, stop) of the training indices
HELD_OUT = (1_000_000, 1_002_000)
ARCHITECTURE = {"channels": [16, 32, 64, 64], "features": 128}
AUGMENTATION = "half blurred (sigma 0.3-1.5 px); gain 0.92-1.08; per-channel shift +-0.03; noise std 0-0.05"
POSITION_WEIGHT = 10.0  # positions are fractions of the image: scale their MSE up to matter next to the CEs


def render(start: int, stop: int, seed: int = WORLD_SEED) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """World images start .. stop - 1 as uint8 [N, 3, 64, 64], and the judge's targets for them."""
    samples = [ShapesWorld(seed).sample(i) for i in range(start, stop)]
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous()
    return images, targets([s.attributes for s in samples])


def degrade(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Blur half the batch (sigma 0.3..1.5 px), shift every image's colours a little and add some noise."""
    n = len(images)
    sigma = torch.where(torch.rand(n, generator=gen) < 0.5, 0.3 + 1.2 * torch.rand(n, generator=gen), 0.01)
    taps = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-taps**2 / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(3, 0)  # one kernel per image and channel
    x = F.pad(images.reshape(1, n * 3, *images.shape[2:]), (3, 3, 3, 3), mode="replicate")
    x = F.conv2d(x, kernel[:, None, :, None], groups=n * 3)
    x = F.conv2d(x, kernel[:, None, None, :], groups=n * 3).reshape(images.shape)
    gain = 1 + 0.08 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    shift = 0.03 * (2 * torch.rand(n, 3, 1, 1, generator=gen) - 1)
    noise = 0.05 * torch.rand(n, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    return (x * gain + shift + noise).clamp(0, 1)


def loss_of(out: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> torch.Tensor:
    classes = sum(F.cross_entropy(out[k], want[k]) for k in ("shape", "colour", "size"))
    return classes + POSITION_WEIGHT * F.mse_loss(out["position"], want["position"])


@torch.inference_mode()
def evaluate(
    judge: Judge, images: torch.Tensor, want: dict[str, torch.Tensor], batch_size: int = 500
) -> dict[str, float]:
    """Accuracies of every head (and of the class they imply) and the mean position error in pixels."""
    judge.eval()
    outs = [judge(images[i:i + batch_size].float() / 255) for i in range(0, len(images), batch_size)]
    out = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    pred = {k: out[k].argmax(-1) for k in ("shape", "colour", "size")}
    label = want["shape"] * 2 + COOL[want["colour"]]
    return {
        "class": (pred["shape"] * 2 + COOL[pred["colour"]] == label).float().mean().item(),
        **{k: (pred[k] == want[k]).float().mean().item() for k in pred},
        "position_error_px": ((out["position"] - want["position"]).norm(dim=1).mean() * images.shape[-1]).item(),
    }


def half_state(judge: Judge) -> dict[str, torch.Tensor]:
    """The state dict as shipped: floating tensors in fp16 (a few hundred KB)."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in judge.state_dict().items()}


def train_judge(
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    train: tuple[int, int] = TRAIN,
    held_out: tuple[int, int] = HELD_OUT,
    out_dir: Path = ZOO,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train, save judge.safetensors + config.json into ``out_dir`` and return that config: the recipe,
    ``held_out_accuracy`` (class, shape, colour, size, position_error_px) and ``seconds``."""
    from safetensors.torch import save

    from arctl.files import atomic_write

    started = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    images, want = render(*train)
    render_seconds = time.perf_counter() - started
    judge = Judge(**ARCHITECTURE)
    opt = torch.optim.AdamW(judge.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    judge.train()
    for step in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=gen)
        loss = loss_of(judge(degrade(images[idx].float() / 255, gen)), {k: v[idx] for k, v in want.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, steps, loss.item())
    train_seconds = time.perf_counter() - started - render_seconds

    state = half_state(judge)
    judge.load_state_dict(state)  # measure the weights exactly as shipped
    accuracy = evaluate(judge, *render(*held_out))
    config = {
        "family": "judge",
        "architecture": ARCHITECTURE,
        "heads": {"shape": "5-way", "colour": "6-way", "size": "3-way size word", "position": "centre (x, y) / 64"},
        "input": "RGB [N, 3, 64, 64] in [0, 1]",
        "recipe": {
            "world_seed": WORLD_SEED,
            "train_indices": list(train),
            "held_out_indices": list(held_out),
            "steps": steps,
            "batch_size": batch_size,
            "optimizer": "AdamW, weight decay 1e-4, one-cycle schedule (10% warm-up)",
            "lr": lr,
            "seed": seed,
            "augmentation": AUGMENTATION,
            "weights_dtype": "float16",
        },
        "held_out_accuracy": {k: round(v, 5) for k, v in accuracy.items()},
        "seconds": {k: round(v, 1) for k, v in
                    (("render", render_seconds), ("train", train_seconds), ("total", time.perf_counter() - started))},
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    out_dir = Path(out_dir)
    atomic_write(out_dir / "judge.safetensors", lambda tmp: tmp.write_bytes(save(state)))
    atomic_write(out_dir / "config.json", lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))
    return config


def main() -> None:
    def report(step: int, steps: int, loss: float) -> None:
        if step % 100 == 0 or step == steps:
            print(f"step {step}/{steps} loss {loss:.4f}", flush=True)

    print(json.dumps(train_judge(progress=report)["held_out_accuracy"], indent=2))


if __name__ == "__main__":
    main()
