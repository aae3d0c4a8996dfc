"""Image quality of the two arms, from whatever judges are registered for the generator's domain (arctl.judges):
tiny test judges registered by a test plugin stand in for the shapes judge, which arctl-lbw does not know."""

import dataclasses
import json

import numpy as np
import pytest
import torch

import arctl
import arctl_lbw
import arctl_llamagen
import arctl_var
from arctl import GeneratorSpec, JudgeSpec, generation
from arctl.judges import Judge, frechet_distance
from arctl.keys import load_key
from arctl.watermark import build_watermark
from arctl_lbw.evaluate import conditions_for, generate_arm
from arctl_lbw.quality import arm_quality
from arctl_lbw.report import quality_table, quality_title


class MeanColour(Judge):
    """Features: each image's mean and spread per channel. Class c: the images whose channel c % 3 is brightest.
    Real images of class c: a fixed colour per class with seeded noise, one draw per seed."""

    def features(self, images):
        images = images.double()
        return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], 1).numpy()

    def class_fidelity(self, images, labels):
        return float(np.mean(images.mean(dim=(2, 3)).argmax(1).numpy() == np.asarray(labels) % 3))

    def reference_features(self, conditions, draw=0):
        rng = np.random.default_rng([draw, len(conditions)])
        return np.stack([np.r_[np.eye(3)[(c or 0) % 3] * 0.5 + 0.2, 0.1, 0.1, 0.1] + rng.normal(0, 0.05, 6)
                         for c in conditions])


class Thumbnails(MeanColour):
    """Features only (as Inception FID would be)."""

    class_fidelity = Judge.class_fidelity


class TinyJudges:
    @arctl.hookimpl
    def register_judges(self, register):
        register(JudgeSpec("mean-colour", "Mean colours.", MeanColour, scores=("class_fidelity", "features"),
                           domains=("tiny",)))
        register(JudgeSpec("thumbnails", "Features only.", Thumbnails, scores=("features",), domains=("thumbs",)))


def spec(domain, conditioning="class"):
    return GeneratorSpec("gen", "A generator.", "builtins:dict", conditioning=conditioning,
                         num_classes=10 if conditioning == "class" else None, domain=domain)


@pytest.fixture
def judges(make_plugin_manager):
    pm = make_plugin_manager(TinyJudges())
    assert pm.errors == {}
    return pm.registry


def arms(seed=0, n=12):
    """A clean arm and a darker "watermarked" one."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=generator), torch.rand(n, 3, 8, 8, generator=generator) * 0.8


def test_both_arms_are_scored_by_the_domains_judge(judges):
    clean, marked = arms()
    classes = [i % 10 for i in range(12)]
    quality = arm_quality(judges, spec("tiny"), clean, marked, classes, 12)
    judge, real = MeanColour(), MeanColour().reference_features(classes)
    assert quality.judges == {"class_fidelity": "mean-colour", "features": "mean-colour"} and quality.notes == []
    assert quality.numbers == {
        "class_fidelity_clean": round(judge.class_fidelity(clean, classes), 4),
        "class_fidelity_watermarked": round(judge.class_fidelity(marked, classes), 4),
        "fd_clean_vs_real": round(frechet_distance(judge.features(clean), real), 2),
        "fd_watermarked_vs_real": round(frechet_distance(judge.features(marked), real), 2),
        "fd_watermarked_vs_clean": round(frechet_distance(judge.features(marked), judge.features(clean)), 2),
    }
    assert quality.numbers["fd_clean_vs_real"] > 0 and quality.numbers["fd_watermarked_vs_clean"] > 0


def test_identical_arms_cost_nothing(judges):
    clean, _ = arms()
    quality = arm_quality(judges, spec("tiny"), clean, clean.clone(), [3] * 12, 12).numbers
    assert quality["class_fidelity_clean"] == quality["class_fidelity_watermarked"]
    assert quality["fd_watermarked_vs_clean"] == 0 and quality["fd_clean_vs_real"] == quality["fd_watermarked_vs_real"]


def test_what_no_judge_gives_is_left_out_with_a_note(judges):
    clean, marked = arms()
    features_only = arm_quality(judges, spec("thumbs"), clean, marked, [0] * 12, 12)
    assert set(features_only.numbers) == {"fd_clean_vs_real", "fd_watermarked_vs_real", "fd_watermarked_vs_clean"}
    assert features_only.judges == {"features": "thumbnails"}
    assert features_only.notes == ["no class fidelity: no installed judge gives class fidelity for images of gen "
                                   "(domain 'thumbs')"]
    for domain, reason in ((None, "gen names no image domain, so no judge can give its class fidelity"),
                           ("photos", "no installed judge gives class fidelity for images of gen (domain 'photos')")):
        nothing = arm_quality(judges, spec(domain), clean, marked, [0] * 12, 12)
        assert nothing.numbers is None and nothing.judges == {} and nothing.notes == [f"no image-quality numbers: "
                                                                                     f"{reason}"]


def test_unconditional_arms_get_distances_to_unconditioned_references(judges):
    clean, marked = arms()
    quality = arm_quality(judges, spec("tiny", conditioning="none"), clean, marked, None, 12)
    real = MeanColour().reference_features([None] * 12)
    assert set(quality.numbers) == {"fd_clean_vs_real", "fd_watermarked_vs_real", "fd_watermarked_vs_clean"}
    assert quality.numbers["fd_clean_vs_real"] == round(frechet_distance(MeanColour().features(clean), real), 2)
    assert quality.notes == []


@pytest.fixture
def judged_manager(make_plugin_manager, manager):
    """The tiny generators of ``manager`` again (same checkpoints, files already cached), as domain "tiny"."""
    tiny = [dataclasses.replace(s, domain="tiny") for s in manager.registry.all("generator")
            if s.plugin == "TinyModels"]

    class TinyJudgedModels(TinyJudges):
        @arctl.hookimpl
        def register_tokenizers(self, register):
            register(arctl_llamagen.VQ_TOKENIZER)

        @arctl.hookimpl
        def register_generators(self, register):
            for generator in tiny:
                register(generator)

    pm = make_plugin_manager(arctl_var, arctl_lbw, TinyJudgedModels())
    assert pm.errors == {} and len(tiny) == 3
    return pm


def test_lbw_eval_reports_the_judges_numbers_for_the_arms_it_generated(arctl_cli, judged_manager, key_file):
    result = arctl_cli.invoke(["lbw", "eval", "--model", "llamagen-b", "--num", "6", "--attacks", "none",
                               "--key-file", key_file, "-o", "mode=hard", "--json"], manager=judged_manager)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["quality_judges"] == {"class_fidelity": "mean-colour", "features": "mean-colour"}
    assert not any("image-quality" in note for note in report["notes"])
    # the same arms, generated here, give the same numbers: the judge saw the evaluation's images and conditions
    loaded = generation.load_model(judged_manager, "llamagen-b", device="cpu")
    settings = generation.resolve_settings(judged_manager.registry, loaded.spec)
    classes, per_class = conditions_for(loaded.spec, 6)
    watermark = build_watermark(judged_manager.registry.get("watermarker", "lbw"), load_key(key_file),
                                {**report["options"]})
    clean, marked = (generate_arm(judged_manager, loaded, settings, classes, per_class, 0, generation.Progress(), mark)
                     for mark in (None, watermark))
    expected = arm_quality(judged_manager.registry, loaded.spec, clean, marked, classes, 6).numbers
    assert report["quality"] == expected and expected["fd_watermarked_vs_clean"] > 0


def test_quality_table_shows_what_the_judges_gave():
    class Report:
        quality = {"fd_clean_vs_real": 10.0, "fd_watermarked_vs_real": 12.5, "fd_watermarked_vs_clean": 3.3}
        quality_judges = {"features": "thumbnails"}

    header, rows = quality_table(Report)
    assert header == ("images", "FD vs real", "FD vs clean")
    assert rows == [["clean", "10.0", "0"], ["watermarked", "12.5", "3.3"], ["difference", "+2.5", ""]]
    Report.quality = {"class_fidelity_clean": 0.9, "class_fidelity_watermarked": 0.85, **Report.quality}
    Report.quality_judges = {"class_fidelity": "a", "features": "b"}
    header, rows = quality_table(Report)
    assert header == ("images", "class fidelity", "FD vs real", "FD vs clean")
    assert rows[2] == ["difference", "-0.050", "+2.5", ""]
    assert quality_title(Report) == "Image quality (judges class fidelity: a, features: b), no attack"
    Report.quality = None
    assert quality_table(Report) is None

