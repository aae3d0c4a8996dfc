"""Evaluating a class-conditional generator with the judge registered for its domain (the shapes judge for the
zoo): class fidelity, Fréchet distance to real images in the judge's feature space (with the real-vs-real
floor), speed, forward passes per image and peak memory."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from arctl.errors import UsageError
from arctl.generation import generator_ref
from arctl.judges import require_judge


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
    judges: dict  # score -> the registered judge that gave it

    def describe(self) -> dict:
        return asdict(self)


def judges_for(registry, model: str):
    """The judge specs for ``model``'s class fidelity and features (a one-line usage error when there are none)."""
    spec = generator_ref(registry, model).owner
    if spec.conditioning != "class":
        raise UsageError(f"{model} is not class-conditional; arctl shapes eval measures class fidelity")
    return spec, require_judge(registry, spec, "class_fidelity"), require_judge(registry, spec, "features")


def evaluate(manager, model: str, *, num: int = 200, seed: int = 0, device: str = "cpu", dtype: str = "auto",
             sampling: Mapping | None = None) -> Evaluation:
    """Generate ``num`` images (rounded up to a multiple of the class count, so every class gets as many), then
    judge them against real ones of the same classes."""
    import numpy as np
    import torch

    from arctl import generation
    from arctl.judges import build_judge, frechet_distance

    spec, fidelity_spec, features_spec = judges_for(manager.registry, model)
    loaded = generation.load_model(manager, model, device=device, dtype=dtype)
    settings = generation.resolve_settings(manager.registry, loaded.spec, **dict(sampling or {}))
    per_class = math.ceil(num / spec.num_classes)
    loaded.accelerator.reset_peak_memory()
    start = time.perf_counter()
    results = generation.generate(manager, loaded, settings, classes=list(range(spec.num_classes)), num=per_class,
                                  seed=seed)
    loaded.accelerator.synchronize()
    seconds = time.perf_counter() - start
    labels = [r.recipe["condition"] for r in results]
    images = torch.from_numpy(np.stack([np.asarray(r.image) for r in results])).permute(0, 3, 1, 2).float().div(255)
    judge_device = str(loaded.accelerator.device)
    fidelity_judge = build_judge(fidelity_spec, judge_device)
    features_judge = fidelity_judge if features_spec is fidelity_spec else build_judge(features_spec, judge_device)
    real = features_judge.reference_features(labels)
    return Evaluation(
        model=model,
        images=len(results),
        class_fidelity=round(fidelity_judge.class_fidelity(images, labels), 4),
        fd=round(frechet_distance(features_judge.features(images), real), 2),
        fd_floor=round(frechet_distance(features_judge.reference_features(labels, draw=1), real), 2),
        images_per_second=round(len(results) / seconds, 3),
        passes_per_image=loaded.generator.num_steps(settings.generator_options),
        peak_memory_bytes=loaded.accelerator.peak_memory(),
        device=str(loaded.accelerator.device),
        sampling={**asdict(settings.sampling), **settings.options()},
        judges={"class_fidelity": fidelity_spec.name, "features": features_spec.name},
    )


def ratios(base: Evaluation, other: Evaluation) -> dict:
    """other / base for the speed-like numbers, other - base for quality."""
    return {
        "images_per_second": round(other.images_per_second / base.images_per_second, 2),
        "passes_per_image": round(other.passes_per_image / base.passes_per_image, 3),
        "class_fidelity_difference": round(other.class_fidelity - base.class_fidelity, 4),
        "fd_difference": round(other.fd - base.fd, 2),
    }
