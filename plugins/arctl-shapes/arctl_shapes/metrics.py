"""How good are generated shapes? Class fidelity (the judge agrees with the requested class) and the
Fréchet distance between judge embeddings of generated and real images.

Images are float tensors [N, 3, 64, 64] in [0, 1] (what generators return) or world arrays
(uint8 [N, 64, 64, 3]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from arctl_shapes.judge import as_images, load_judge
from arctl_shapes.world import ShapesWorld


def judge_features(images: torch.Tensor | np.ndarray, batch_size: int = 500, device: str = "cpu") -> np.ndarray:
    """The judge's embedding of every image, float64 [N, D]."""
    judge, images = load_judge(device), as_images(images)
    with torch.inference_mode():
        chunks = [judge.features(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).double().numpy()


def class_fidelity(
    images: torch.Tensor | np.ndarray, requested_labels: Sequence[int], batch_size: int = 500, device: str = "cpu"
) -> float:
    """The share of images the judge assigns to the class they were generated for."""
    judge, images = load_judge(device), as_images(images)
    if len(images) != len(requested_labels):
        raise ValueError(f"{len(requested_labels)} requested labels for {len(images)} images")
    chunks = (images[i:i + batch_size].to(device) for i in range(0, len(images), batch_size))
    predicted = [p["class"] for chunk in chunks for p in judge.predict(chunk)]
    return float(np.mean(np.asarray(predicted) == np.asarray(requested_labels)))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues are rounding)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(Sa + Sb - 2 (Sa Sb)^1/2) between Gaussians fitted to two feature sets [N, D].

    Tr (Sa Sb)^1/2 = Tr (Sa^1/2 Sb Sa^1/2)^1/2, and that product is symmetric PSD: an eigen
    decomposition gives it stably, with no complex parts to discard.
    """
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    product = root_a @ cov_b @ root_a
    cross = np.linalg.eigvalsh((product + product.T) / 2).clip(min=0)
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(cross).sum()
    return float(max(value, 0.0))


def real_features(n: int, seed_offset: int, labels: Sequence[int] | None = None, world_seed: int = 0) -> np.ndarray:
    """Judge features of world images seed_offset .. seed_offset + n - 1, optionally forced to ``labels``
    (one per image, e.g. the classes a generator was asked for). Use index ranges the judge was not
    trained on (from 1_000_000 up) and two disjoint ranges for the real-vs-real floor."""
    world = ShapesWorld(world_seed)
    labels = [None] * n if labels is None else list(labels)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    images = np.stack([world.sample(seed_offset + i, label).image for i, label in enumerate(labels)])
    return judge_features(images)
