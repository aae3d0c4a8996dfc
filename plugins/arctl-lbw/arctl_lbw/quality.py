"""What the mark costs in image quality, where it can be measured: on shapes-world models, with its judge.

arctl-lbw does not depend on arctl-shapes. When the evaluated generator is registered by the arctl_shapes
package (and so that package is installed), the judge scores the clean and watermarked images of the same
seeds: class fidelity of each, the Fréchet distance of each to real images of the same classes, and the
Fréchet distance between the two arms. Any other model gets no quality numbers, and a note says why.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

SHAPES_PACKAGE = "arctl_shapes"


def is_shapes_model(manager, spec) -> bool:
    """Whether the generator ``spec`` comes from the arctl_shapes package (its plugin object is that module)."""
    plugin = manager.pm.get_plugin(spec.plugin) if spec.plugin else None
    return getattr(plugin, "__name__", None) == SHAPES_PACKAGE


def shapes_quality(clean: torch.Tensor, marked: torch.Tensor, labels: Sequence[int]) -> dict[str, float]:
    """Judge numbers for the clean and watermarked arms ([N, 3, 64, 64] in [0, 1], generated for ``labels``)."""
    from arctl_shapes.evaluate import REAL_OFFSET
    from arctl_shapes.metrics import class_fidelity, frechet_distance, judge_features, real_features

    real = real_features(len(labels), REAL_OFFSET, labels)
    clean_features, marked_features = judge_features(clean), judge_features(marked)
    return {
        "class_fidelity_clean": round(class_fidelity(clean, labels), 4),
        "class_fidelity_watermarked": round(class_fidelity(marked, labels), 4),
        "fd_clean_vs_real": round(frechet_distance(clean_features, real), 2),
        "fd_watermarked_vs_real": round(frechet_distance(marked_features, real), 2),
        "fd_watermarked_vs_clean": round(frechet_distance(marked_features, clean_features), 2),
    }
