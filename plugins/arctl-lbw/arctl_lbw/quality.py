"""What the mark costs in image quality, measured by the judges registered for the generator's domain.

arctl-lbw imports no judge: ``arctl.judges`` finds the one that gives class fidelity and the one that gives
features for the model at hand (the shapes judge for shapes-world models). They score the clean and watermarked
images of the same seeds: class fidelity of each (class-conditional models), the Fréchet distance of each to real
images of the same conditions, and the Fréchet distance between the two arms. What no judge gives is left out,
and a note says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from arctl.judges import build_judge, frechet_distance, judge_for, no_judge

MISSING = {"class_fidelity": "class fidelity", "features": "Fréchet distances"}


@dataclass
class Quality:
    """The numbers (None when no judge gave any), the judge behind each score, and why anything is missing."""

    numbers: dict[str, float] | None
    judges: dict[str, str]
    notes: list[str]


def arm_quality(registry, generator, clean: torch.Tensor, marked: torch.Tensor, classes: Sequence[int] | None,
                num: int, device: str = "cpu") -> Quality:
    """Judge numbers for the clean and watermarked arms ([N, 3, H, W] in [0, 1]); ``classes`` are the classes
    image i of both arms was generated for (None: unconditional, ``num`` images)."""
    wanted = ("class_fidelity", "features") if classes is not None else ("features",)
    found = {score: spec for score in wanted if (spec := judge_for(registry, generator, score)) is not None}
    judges = {spec.name: build_judge(spec, device) for spec in found.values()}  # one judge may give both
    numbers = {}
    if "class_fidelity" in found:
        judge = judges[found["class_fidelity"].name]
        numbers["class_fidelity_clean"] = round(judge.class_fidelity(clean, classes), 4)
        numbers["class_fidelity_watermarked"] = round(judge.class_fidelity(marked, classes), 4)
    if "features" in found:
        judge = judges[found["features"].name]
        real = judge.reference_features(list(classes) if classes is not None else [None] * num)
        clean_features, marked_features = judge.features(clean), judge.features(marked)
        numbers["fd_clean_vs_real"] = round(frechet_distance(clean_features, real), 2)
        numbers["fd_watermarked_vs_real"] = round(frechet_distance(marked_features, real), 2)
        numbers["fd_watermarked_vs_clean"] = round(frechet_distance(marked_features, clean_features), 2)
    missing = [score for score in wanted if score not in found]
    if not found:
        notes = [f"no image-quality numbers: {no_judge(generator, missing[0])}"]
    else:
        notes = [f"no {MISSING[score]}: {no_judge(generator, score)}" for score in missing]
    return Quality(numbers or None, {score: spec.name for score, spec in found.items()}, notes)
