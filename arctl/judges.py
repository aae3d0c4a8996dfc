"""The judge contract, the Fréchet distance, and finding the judge for a generator's images.

A judge scores generated images: how often they show the class asked for (``class_fidelity``), how well they
match their prompts (``caption_fidelity``), or an embedding for a Fréchet distance (``features``, with the
``reference_features`` of real images to compare against). A ``JudgeSpec`` declares which of these it gives
(``scores``) and for which generator domains (``GeneratorSpec.domain``); its factory is called as
``factory(device)`` with a torch device string ("cpu", "cuda:0") and returns a ``Judge``.

Evaluation code (``arctl shapes eval``, ``arctl lbw eval``) never imports a judge's plugin: it asks
``judge_for(registry, generator, score)`` and builds what it finds with ``build_judge``. A judge with
precomputed reference statistics (Inception FID against a dataset's published mean and covariance) returns
``FeatureStatistics`` from ``reference_features``; ``frechet_distance`` takes either. No torch import here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from arctl.errors import ArctlError, PluginError, UsageError
from arctl.registry import JUDGE_SCORES, GeneratorSpec, JudgeSpec

# One condition per image: a class id, a prompt, or None (unconditional).
Condition = int | str | None


class Judge:
    """Base class of what a judge factory returns. Override the scores the spec declares; images are float
    tensors [N, 3, H, W] in [0, 1], as generators return them (a judge resizes or batches as it needs)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def class_fidelity(self, images: Any, labels: Sequence[int]) -> float:
        """The share of images judged to show the class they were generated for (``labels[i]`` for image i)."""
        raise ArctlError(f"{type(self).__name__} does not judge class fidelity")

    def caption_fidelity(self, images: Any, prompts: Sequence[str]) -> float:
        """How well images match the prompts they were generated for, in [0, 1]."""
        raise ArctlError(f"{type(self).__name__} does not judge caption fidelity")

    def features(self, images: Any) -> np.ndarray:
        """The embedding a Fréchet distance compares, float [N, D]."""
        raise ArctlError(f"{type(self).__name__} gives no features")

    def reference_features(self, conditions: Sequence[Condition], draw: int = 0) -> np.ndarray | FeatureStatistics:
        """What generated images of these conditions (one per image) are compared with: the features [N, D] of
        real images of the same conditions, or precomputed ``FeatureStatistics`` of a reference set. ``draw``
        picks one of several disjoint real sets (draw 1 against draw 0 gives the real-vs-real floor)."""
        raise ArctlError(f"{type(self).__name__} has no reference images")


@dataclass(frozen=True)
class FeatureStatistics:
    """The Gaussian a Fréchet distance fits to a feature set: mean [D] and covariance [D, D]."""

    mean: np.ndarray
    cov: np.ndarray

    def __post_init__(self) -> None:  # float64 whatever was stored (a reference file may hold float32)
        mean, cov = np.asarray(self.mean, dtype=np.float64), np.asarray(self.cov, dtype=np.float64)
        if mean.ndim != 1 or cov.shape != (len(mean), len(mean)):
            raise ValueError(f"statistics need a mean [D] and a covariance [D, D], got {mean.shape} and {cov.shape}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)

    @classmethod
    def of(cls, features: np.ndarray | FeatureStatistics) -> FeatureStatistics:
        if isinstance(features, FeatureStatistics):
            return features
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}")
        return cls(features.mean(0), np.cov(features, rowvar=False))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues are rounding)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(a: np.ndarray | FeatureStatistics, b: np.ndarray | FeatureStatistics) -> float:
    """|mu_a - mu_b|^2 + Tr(Sa + Sb - 2 (Sa Sb)^1/2) between Gaussians fitted to two feature sets [N, D] (or
    given as ``FeatureStatistics``).

    Tr (Sa Sb)^1/2 = Tr (Sa^1/2 Sb Sa^1/2)^1/2, and that product is symmetric PSD: an eigen
    decomposition gives it stably, with no complex parts to discard.
    """
    a, b = FeatureStatistics.of(a), FeatureStatistics.of(b)
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"features of different widths: {a.mean.shape[0]} and {b.mean.shape[0]}")
    root_a = _sqrt_psd(a.cov)
    product = root_a @ b.cov @ root_a
    cross = np.linalg.eigvalsh((product + product.T) / 2).clip(min=0)
    value = ((a.mean - b.mean) ** 2).sum() + np.trace(a.cov) + np.trace(b.cov) - 2 * np.sqrt(cross).sum()
    return float(max(value, 0.0))


def _check_score(score: str) -> None:
    if score not in JUDGE_SCORES:
        raise ValueError(f"unknown judge score {score!r} (known: {', '.join(JUDGE_SCORES)})")


def judge_for(registry, generator: GeneratorSpec, score: str) -> JudgeSpec | None:
    """The judge that gives ``score`` for ``generator``'s domain (the first by name where several do), or None."""
    _check_score(score)
    if generator.domain is None:
        return None
    found = [spec for spec in registry.all("judge") if score in spec.scores and generator.domain in spec.domains]
    return min(found, key=lambda spec: spec.name, default=None)


def no_judge(generator: GeneratorSpec, score: str) -> str:
    """Why ``judge_for`` found nothing, in one line."""
    what = score.replace("_", " ")
    if generator.domain is None:
        return f"{generator.name} names no image domain, so no judge can give its {what}"
    return f"no installed judge gives {what} for images of {generator.name} (domain {generator.domain!r})"


def require_judge(registry, generator: GeneratorSpec, score: str) -> JudgeSpec:
    """``judge_for``, or a one-line usage error saying that there is none."""
    spec = judge_for(registry, generator, score)
    if spec is None:
        raise UsageError(no_judge(generator, score))
    return spec


def build_judge(spec: JudgeSpec, device: str = "cpu") -> Judge:
    """Call the spec's factory with the device; it must return a ``Judge`` that implements every declared score."""
    made = spec.load()(str(device))
    if not isinstance(made, Judge):
        raise PluginError(f"judge {spec.name!r} (plugin {spec.plugin}): factory returned {type(made).__name__}, "
                          "not an arctl.judges.Judge")
    missing = [s for s in spec.scores if getattr(type(made), s) is getattr(Judge, s)]
    if "features" in spec.scores and type(made).reference_features is Judge.reference_features:
        missing.append("reference_features")
    if missing:
        raise PluginError(f"judge {spec.name!r} (plugin {spec.plugin}) declares {', '.join(spec.scores)} but "
                          f"{type(made).__name__} does not implement {', '.join(missing)}")
    return made
