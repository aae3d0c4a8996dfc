"""`--erasure FILE` on the generation path: applied at load, recorded in the recipe, checked by reproduce."""

import json

import numpy as np
import pytest
from PIL import Image

import arctl
from arctl import generation
from arctl.erasers import build_eraser, erase_concept
from arctl.generation import Progress
from arctl.images import read_recipe


@pytest.fixture
def erasure(toy_manager, toy_weights, tmp_path):
    loaded = generation.load_model(toy_manager, "toy-tiny", device="cpu")
    spec = toy_manager.registry.get("eraser", "toy-forget")
    return erase_concept(toy_manager, loaded, build_eraser(spec), concepts=[2], replacements=[0],
                         out=tmp_path / "no-two.safetensors", resume_dir=tmp_path / "resume", progress=Progress())


def pixels(stdout):
    return [np.asarray(Image.open(p)) for p in stdout.split()]


def test_generate_applies_and_records_an_erasure(arctl_cli, toy_manager, erasure, tmp_path):
    args = ["generate", "toy-tiny", "-c", "2", "-n", "6", "--seed", "3"]
    plain = arctl_cli.invoke([*args, "--out", str(tmp_path / "plain")], manager=toy_manager)
    erased = arctl_cli.invoke([*args, "--out", str(tmp_path / "erased"), "--erasure", str(erasure)],
                              manager=toy_manager)
    assert plain.exit_code == 0 and erased.exit_code == 0, erased.output
    assert not any(np.array_equal(a, b) for a, b in zip(pixels(plain.stdout), pixels(erased.stdout)))
    recipe = read_recipe(erased.stdout.split()[4])
    assert recipe["erasure"]["file"] == str(erasure) and recipe["erasure"]["eraser"] == "toy-forget"
    assert recipe["erasure"]["concepts"] == [2] and "erasure" not in read_recipe(plain.stdout.split()[0])
    again = arctl_cli.invoke(["reproduce", erased.stdout.split()[4]], manager=toy_manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output
    from_python = arctl.load("toy-tiny", device="cpu", erasure=erasure, manager=toy_manager)(classes=[2], num=6, seed=3)
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(from_python, pixels(erased.stdout)))
    assert json.loads(from_python[0].info["arctl-recipe"])["erasure"]["sha256"] == recipe["erasure"]["sha256"]

    erasure.write_bytes(erasure.read_bytes()[:-1] + b" ")
    changed = arctl_cli.invoke(["reproduce", erased.stdout.split()[4]], manager=toy_manager)
    assert changed.exit_code == 1 and "has changed since the image was made" in changed.stderr


def test_a_file_that_is_no_erasure_is_one_line(arctl_cli, toy_manager, toy_weights, tmp_path):
    missing = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--erasure", str(tmp_path / "none.safetensors"),
                                "--out", str(tmp_path)], manager=toy_manager)
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    junk = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--erasure", str(tmp_path / "junk.safetensors"),
                             "--out", str(tmp_path)], manager=toy_manager)
    assert junk.exit_code == 1 and "not a readable safetensors" in junk.stderr
