"""How good are generated shapes? The shapes world's judge through the core's seam (``arctl.judges``): class
fidelity (the judge agrees with the requested class) and judge embeddings of generated and real images, which
``arctl.judges.frechet_distance`` compares.

Images are float tensors [N, 3, 64, 64] in [0, 1] (what generators return) or world arrays
(uint8 [N, 64, 64, 3]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from arctl.judges import Judge
from arctl_shapes.judge import as_images, load_judge
from arctl_shapes.world import ShapesWorld

BATCH = 500
# where reference draw k starts: real images far from the judge's and the zoo's training ranges; draw 1 is the
# second set of the real-vs-real floor
REFERENCE_OFFSETS = (2_000_000, 3_000_000)


class ShapesJudge(Judge):
    """The shipped judge (``arctl_shapes.judge``) on ``device``, scoring shapes-world images."""

    def __init__(self, device: str = "cpu", world_seed: int = 0) -> None:
        super().__init__(device)
        self.net = load_judge(device)
        self.world = ShapesWorld(world_seed)

    def _chunks(self, images: torch.Tensor | np.ndarray):
        images = as_images(images)
        return (images[i:i + BATCH].to(self.device) for i in range(0, len(images), BATCH))

    def features(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """The judge's embedding of every image, float64 [N, D]."""
        with torch.inference_mode():
            chunks = [self.net.features(chunk).cpu() for chunk in self._chunks(images)]
        return torch.cat(chunks).double().numpy()

    def class_fidelity(self, images: torch.Tensor | np.ndarray, labels: Sequence[int]) -> float:
        """The share of images the judge assigns to the class they were generated for."""
        if len(images) != len(labels):
            raise ValueError(f"{len(labels)} requested labels for {len(images)} images")
        predicted = [p["class"] for chunk in self._chunks(images) for p in self.net.predict(chunk)]
        return float(np.mean(np.asarray(predicted) == np.asarray(labels)))

    def reference_features(self, conditions: Sequence[int | None], draw: int = 0) -> np.ndarray:
        """Judge features of world images, one per condition (a class, or None for any class), from draw ``draw``."""
        if not 0 <= draw < len(REFERENCE_OFFSETS):
            raise ValueError(f"reference draw {draw}: the shapes judge has draws 0..{len(REFERENCE_OFFSETS) - 1}")
        return self.real_features(REFERENCE_OFFSETS[draw], conditions)

    def real_features(self, seed_offset: int, labels: Sequence[int | None]) -> np.ndarray:
        """Judge features of world images seed_offset .. seed_offset + len(labels) - 1, image i forced to
        ``labels[i]`` (None: its own class). Use index ranges the judge was not trained on (from 1_000_000 up) and
        two disjoint ranges for the real-vs-real floor."""
        images = np.stack([self.world.sample(seed_offset + i, label).image for i, label in enumerate(labels)])
        return self.features(images)
