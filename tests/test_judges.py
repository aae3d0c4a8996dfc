"""The judge seam: what a JudgeSpec may declare, finding the judge for a generator's domain and score, building
one from its spec, and the Fréchet distance every evaluation shares."""

import subprocess
import sys

import numpy as np
import pytest

import arctl
from arctl.errors import PluginError, UsageError
from arctl.judges import (
    FeatureStatistics, Judge, build_judge, frechet_distance, judge_for, no_judge, require_judge,
)
from arctl.registry import GeneratorSpec, JudgeSpec, Registry


class MeanColour(Judge):
    """Features: each image's mean colour. Class fidelity: class c is the image whose channel c is brightest."""

    def features(self, images):
        return np.asarray(images, dtype=np.float64).mean(axis=(2, 3))

    def class_fidelity(self, images, labels):
        return float(np.mean(self.features(images).argmax(1) == np.asarray(labels)))

    def reference_features(self, conditions, draw=0):
        rng = np.random.default_rng(draw)
        return np.stack([np.eye(3)[c] * 0.8 + rng.uniform(0, 0.1, 3) for c in conditions])


class Built:
    """A factory that records the device it was given."""

    devices = []

    def __new__(cls, device):
        cls.devices.append(device)
        return MeanColour(device)


def generator(name, domain):
    return GeneratorSpec(name, "A generator.", "builtins:dict", conditioning="class", num_classes=3, domain=domain)


def judge(name, scores=("class_fidelity", "features"), domains=("colours",), factory=MeanColour):
    return JudgeSpec(name, "A judge.", factory, scores=scores, domains=domains, plugin="tests")


@pytest.fixture
def registry():
    registry = Registry()
    for spec in (generator("painter", "colours"), generator("sketcher", "lines"), generator("anything", None),
                 judge("zeta"), judge("alpha", scores=("features",), domains=("colours", "lines")),
                 judge("captions", scores=("caption_fidelity",))):
        registry.add(spec)
    return registry


@pytest.mark.parametrize(("spec", "message"), [
    (judge("j", scores=()), "scores must be a non-empty subset"),
    (judge("j", scores=("fid",)), "scores must be a non-empty subset"),
    (judge("j", domains=()), "domains must name at least one generator domain"),
    (judge("j", domains=("",)), "domains must name at least one generator domain"),
    (judge("J"), "judge name 'J' must match"),
    (judge("j", factory="no-colon"), "factory must look like 'package.module:attr'"),
])
def test_registration_refuses_a_bad_judge_spec(spec, message):
    with pytest.raises(PluginError, match=message):
        Registry().add(spec)


def test_a_plugin_that_registers_a_bad_judge_is_reported(make_plugin_manager):
    class Broken:
        @arctl.hookimpl
        def register_judges(self, register):
            register(judge("broken", scores=("beauty",)))

    pm = make_plugin_manager(Broken())
    assert "scores must be a non-empty subset" in str(pm.errors["Broken"])
    assert pm.registry.names("judge") == []


def test_lookup_by_domain_and_score(registry):
    painter, sketcher = registry.get("generator", "painter"), registry.get("generator", "sketcher")
    assert judge_for(registry, painter, "class_fidelity").name == "zeta"
    assert judge_for(registry, painter, "features").name == "alpha"  # two give features: the first by name
    assert judge_for(registry, painter, "caption_fidelity").name == "captions"
    assert judge_for(registry, sketcher, "features").name == "alpha"
    assert judge_for(registry, sketcher, "class_fidelity") is None
    assert judge_for(registry, registry.get("generator", "anything"), "features") is None
    with pytest.raises(ValueError, match="unknown judge score 'fid'"):
        judge_for(registry, painter, "fid")


def test_no_judge_is_a_one_line_usage_error(registry):
    with pytest.raises(UsageError) as failure:
        require_judge(registry, registry.get("generator", "sketcher"), "class_fidelity")
    assert str(failure.value) == "no installed judge gives class fidelity for images of sketcher (domain 'lines')"
    assert no_judge(registry.get("generator", "anything"), "features") == (
        "anything names no image domain, so no judge can give its features")
    assert require_judge(registry, registry.get("generator", "painter"), "class_fidelity").name == "zeta"


def test_build_judge_passes_the_device_and_scores_images():
    made = build_judge(judge("built", factory=Built), "cuda:1")
    assert isinstance(made, MeanColour) and made.device == "cuda:1" and Built.devices[-1] == "cuda:1"
    images = np.zeros((4, 3, 2, 2))
    for i, c in enumerate([0, 1, 2, 1]):
        images[i, c] = 1.0
    assert made.class_fidelity(images, [0, 1, 2, 1]) == 1.0 and made.class_fidelity(images, [0, 0, 0, 0]) == 0.25
    assert made.features(images).shape == (4, 3)
    assert frechet_distance(made.features(images), made.reference_features([0, 1, 2, 1])) > 0


class OnlyFeatures(Judge):
    def features(self, images):
        return np.asarray(images)


def test_build_judge_refuses_what_breaks_the_contract():
    with pytest.raises(PluginError, match="factory returned dict, not an arctl.judges.Judge"):
        build_judge(judge("plain", factory=lambda device: {}))
    with pytest.raises(PluginError, match="declares class_fidelity, features but OnlyFeatures does not implement "
                                          "class_fidelity, reference_features"):
        build_judge(judge("half", factory=OnlyFeatures))
    unscored = Judge()
    with pytest.raises(arctl.errors.ArctlError, match="Judge does not judge caption fidelity"):
        unscored.caption_fidelity([], [])


def test_frechet_distance_of_two_gaussians_in_closed_form():
    # For 2x2 PSD matrices, Tr M^1/2 = sqrt(Tr M + 2 sqrt(det M)); Sa and Sb do not commute.
    cov_a, cov_b = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, -0.3], [-0.3, 0.5]])
    mean_a, mean_b = np.array([1.0, -2.0]), np.array([0.5, 0.0])
    product = cov_a @ cov_b
    cross = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
    expected = 0.25 + 4.0 + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    a, b = FeatureStatistics(mean_a, cov_a), FeatureStatistics(mean_b, cov_b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-12)
    # diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    diagonal = frechet_distance(FeatureStatistics(np.zeros(3), np.diag([4.0, 1.0, 9.0])),
                                FeatureStatistics(np.ones(3), np.diag([1.0, 1.0, 1.0])))
    assert diagonal == pytest.approx(3 + 1 + 0 + 4, rel=1e-12)


def test_frechet_distance_of_samples_approaches_the_gaussians_and_takes_statistics():
    rng = np.random.default_rng(0)
    cov_a, cov_b = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, -0.3], [-0.3, 0.5]])
    a = rng.multivariate_normal([1.0, -2.0], cov_a, size=200_000)
    b = rng.multivariate_normal([0.5, 0.0], cov_b, size=200_000)
    exact = frechet_distance(FeatureStatistics([1.0, -2.0], cov_a), FeatureStatistics([0.5, 0.0], cov_b))
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.01)
    # precomputed reference statistics (as Inception FID reads them) give the same number as the features
    stats = FeatureStatistics(b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(a, stats) == pytest.approx(frechet_distance(a, b), rel=1e-12)


def test_frechet_distance_basics():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.3
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, a + 1.0) == pytest.approx(16.0, rel=1e-9)  # same covariance: |shift|^2 only
    # The trace of (Sa Sb)^1/2 from the (real, non-negative) eigenvalues of the non-symmetric product.
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real.clip(min=0)).sum()
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="features of different widths: 16 and 3"):
        frechet_distance(a, a[:, :3])
    with pytest.raises(ValueError, match=r"features must be \[N >= 2, D\]"):
        frechet_distance(a[:1], a)


def test_importing_the_seam_does_not_import_torch():
    code = "import sys, arctl.judges; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
