"""LBW's defaults, as a user meets them: mark while generating on the shipped llamagen-shapes, then detect with no
-o at the default --fpr 0.01. docs/claims.md measures this configuration (gamma 0.45, hard mark, soft score):
0.990 of 200 marked images detected, clean images at the nominal 1%."""

import json

import pytest

from arctl.images import read_recipe

CLASSES = [str(c) for c in range(10)]  # every class of the shapes world, PER_CLASS images each
PER_CLASS, SEED = 4, 7


@pytest.fixture(scope="module")
def everything():
    from arctl.plugins import PluginManager

    manager = PluginManager()  # every installed plugin, as `arctl` itself loads them
    assert "llamagen-shapes" in {ref.checkpoint.name for ref in manager.registry.checkpoints()}, manager.errors
    return manager


def generate(arctl_cli, manager, out, *extra):
    classes = [arg for c in CLASSES for arg in ("--class", c)]
    result = arctl_cli.invoke(["generate", "llamagen-shapes", *classes, "--num", str(PER_CLASS), "--seed", str(SEED),
                               "--out", out, "--json", *extra], manager=manager)
    assert result.exit_code == 0, result.output
    return sorted(image["path"] for image in json.loads(result.stdout)["images"])


def test_the_defaults_detect_marked_images_and_pass_clean_ones(arctl_cli, everything, key_file, tmp_path):
    marked = generate(arctl_cli, everything, tmp_path / "marked", "--watermark", "lbw", "--key-file", key_file)
    clean = generate(arctl_cli, everything, tmp_path / "clean")
    assert len(marked) == len(clean) == 40
    result = arctl_cli.invoke(["detect", *marked, *clean, "--model", "llamagen-shapes", "--key-file", key_file,
                               "--json"], manager=everything)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    defaults = {o.name: o.default for o in everything.registry.get("watermarker", "lbw").options}
    assert report["fpr"] == 0.01 and report["options"] == defaults
    assert read_recipe(marked[0])["watermark"]["options"] == defaults  # what generation used with no -o
    flagged = {found["image"]: found["watermarked"] for found in report["images"]}
    assert sum(flagged[p] for p in marked) >= 0.95 * len(marked), report["images"][:40]  # measured: 40 of 40
    assert sum(flagged[p] for p in clean) <= 2, report["images"][40:]  # measured: 0 of 40
