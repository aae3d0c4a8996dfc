"""Evaluating a generator on the shapes world: class fidelity, Fréchet distance to real images in the judge's
feature space (with the real-vs-real floor), speed, forward passes per image and peak memory."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from arctl_shapes.world import NUM_CLASSES

REAL_OFFSET = 2_000_000  # real reference images: far from the judge's and the zoo's training ranges
FLOOR_OFFSET = 3_000_000


@dataclass
class Evaluation:
    model: str
    images: int
    class_fidelity: float
    fd: float
    fd_floor: float
    images_per_second: float
    passes_per_image: int
    peak_memory_bytes: int | None
    device: str
    sampling: dict

    def describe(self) -> dict:
        return asdict(self)


def evaluate(manager, model: str, *, num: int = 200, seed: int = 0, device: str = "cpu", dtype: str = "auto",
             sampling: Mapping | None = None) -> Evaluation:
    """Generate ``num`` images (rounded up to a multiple of the class count, so every class gets as many), then
    judge them against real ones of the same classes."""
    import numpy as np
    import torch

    from arctl import generation
    from arctl_shapes.metrics import class_fidelity, frechet_distance, judge_features, real_features

    loaded = generation.load_model(manager, model, device=device, dtype=dtype)
    settings = generation.resolve_settings(manager.registry, loaded.spec, **dict(sampling or {}))
    per_class = math.ceil(num / NUM_CLASSES)
    loaded.accelerator.reset_peak_memory()
    start = time.perf_counter()
    results = generation.generate(manager, loaded, settings, classes=list(range(NUM_CLASSES)), num=per_class, seed=seed)
    loaded.accelerator.synchronize()
    seconds = time.perf_counter() - start
    labels = [r.recipe["condition"] for r in results]
    images = torch.from_numpy(np.stack([np.asarray(r.image) for r in results])).permute(0, 3, 1, 2).float().div(255)
    generated = judge_features(images)
    return Evaluation(
        model=model,
        images=len(results),
        class_fidelity=round(class_fidelity(images, labels), 4),
        fd=round(frechet_distance(generated, real_features(len(labels), REAL_OFFSET, labels)), 2),
        fd_floor=round(frechet_distance(real_features(len(labels), FLOOR_OFFSET, labels),
                                        real_features(len(labels), REAL_OFFSET, labels)), 2),
        images_per_second=round(len(results) / seconds, 3),
        passes_per_image=loaded.generator.num_steps(settings.generator_options),
        peak_memory_bytes=loaded.accelerator.peak_memory(),
        device=str(loaded.accelerator.device),
        sampling={**asdict(settings.sampling), **settings.options()},
    )


def ratios(base: Evaluation, other: Evaluation) -> dict:
    """other / base for the speed-like numbers, other - base for quality."""
    return {
        "images_per_second": round(other.images_per_second / base.images_per_second, 2),
        "passes_per_image": round(other.passes_per_image / base.passes_per_image, 3),
        "class_fidelity_difference": round(other.class_fidelity - base.class_fidelity, 4),
        "fd_difference": round(other.fd - base.fd, 2),
    }
