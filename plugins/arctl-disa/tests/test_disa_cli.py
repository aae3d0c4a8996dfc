"""`arctl generate ... --sampler disa` end to end: on a tiny MAR in the official file layout, and on a toy
generator that knows nothing of MAR."""

import json

import numpy as np
from arctl_disa.annealing import steps_per_iteration
from PIL import Image

from arctl.images import read_recipe


def test_generate_mar_b_with_disa(arctl_cli, manager, tmp_path):
    result = arctl_cli.invoke(["generate", "mar-b", "--class", "207", "--sampler", "disa", "-o", "upper=50",
                               "-o", "lower=5", "-o", "strategy=linear", "--seed", "0", "--out", str(tmp_path),
                               "--json"], manager=manager)
    assert result.exit_code == 0, result.output
    path = json.loads(result.stdout)["images"][0]["path"]
    assert Image.open(path).size == (16, 16)
    recipe = read_recipe(path)
    assert recipe["sampling"]["sampler"] == "disa" and recipe["condition"] == 207
    assert recipe["options"] == {"upper": 50, "lower": 5, "strategy": "linear", "clip": 0.95, "num_iter": 64,
                                 "num_sampling_steps": 100}
    again = arctl_cli.invoke(["reproduce", path], manager=manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output
    plain = arctl_cli.invoke(["generate", "mar-b", "--class", "207", "--seed", "0", "-o", "num_iter=64",
                              "--out", str(tmp_path / "plain")], manager=manager)
    assert plain.exit_code == 0, plain.output
    assert not np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(plain.stdout.strip())))


def toy_rows(arctl_cli, manager, tmp_path, *args):
    result = arctl_cli.invoke(["generate", "seam-toy", "--seed", "1", "--out", str(tmp_path), *args], manager=manager)
    assert result.exit_code == 0, result.output
    pixels = np.asarray(Image.open(result.stdout.strip())).astype(int)
    return pixels[0, :, 0].tolist(), pixels[1, :, 0].tolist(), pixels[2, :, 0].tolist()


def test_disa_drives_any_generator_with_the_seam(arctl_cli, manager, tmp_path):
    steps, clip, temperature = toy_rows(arctl_cli, manager, tmp_path / "a", "--sampler", "disa", "-o", "upper=30",
                                        "-o", "lower=6", "-o", "strategy=cosine", "-o", "clip=1", "--temperature", "0.8")
    assert steps == steps_per_iteration(8, 30, 6, "cosine") == [30, 28, 25, 20, 15, 10, 7, 6]
    assert clip == [255] * 8 and temperature == [204] * 8
    two_stage, clip, _ = toy_rows(arctl_cli, manager, tmp_path / "b", "--sampler", "disa", "-o", "strategy=two-stage")
    assert two_stage == [50] * 4 + [5] * 4 and clip == [round(0.95 * 255)] * 8


def test_without_disa_the_generator_keeps_its_default(arctl_cli, manager, tmp_path):
    steps, clip, temperature = toy_rows(arctl_cli, manager, tmp_path)
    assert steps == [20] * 8 and clip == [255] * 8 and temperature == [255] * 8


def test_bad_options_are_usage_errors(arctl_cli, manager, tmp_path):
    result = arctl_cli.invoke(["generate", "seam-toy", "--sampler", "disa", "-o", "strategy=fast", "--out",
                               str(tmp_path)], manager=manager)
    assert result.exit_code == 2 and "must be one of linear, cosine, two-stage, constant" in result.stderr
    result = arctl_cli.invoke(["generate", "seam-toy", "--sampler", "disa", "-o", "upper=4", "-o", "lower=8",
                               "--out", str(tmp_path)], manager=manager)
    assert result.exit_code == 2 and "lower=8 is above -o upper=4" in result.stderr
