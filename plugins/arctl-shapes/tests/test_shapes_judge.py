"""The shipped judge, the metrics built on it and `arctl shapes judge`."""

import json

import numpy as np
import pytest
import torch
import typer
from PIL import Image, ImageFilter
from safetensors.torch import load_file
from typer.testing import CliRunner

from arctl.errors import ArctlError
from arctl_shapes.judge import CONFIG, COOL, WEIGHTS, load_judge
from arctl_shapes.judge_cmd import judge_images
from arctl_shapes.metrics import class_fidelity, frechet_distance, judge_features, real_features
from arctl_shapes.train_judge import HELD_OUT, TRAIN, evaluate, render
from arctl_shapes.world import CLASS_NAMES, NUM_CLASSES, ShapesWorld, class_of

FRESH = (HELD_OUT[1], HELD_OUT[1] + 1000)  # neither trained on nor looked at while choosing the recipe


@pytest.fixture(scope="module")
def fresh():
    return render(*FRESH)


def test_the_shipped_judge_reads_held_out_images(fresh):
    accuracy = evaluate(load_judge(), *fresh)
    assert accuracy["class"] >= 0.99
    assert accuracy["shape"] >= 0.98 and accuracy["colour"] >= 0.98
    assert accuracy["size"] >= 0.85  # size words have hard borders: a radius near 13 or 18 px is a coin toss
    assert accuracy["position_error_px"] < 3


def test_it_still_reads_blurred_images(fresh):
    images, want = fresh
    blur = ImageFilter.GaussianBlur(1)  # about what a small generator's softness looks like
    blurred = np.stack([np.asarray(Image.fromarray(im.permute(1, 2, 0).numpy()).filter(blur)) for im in images[:300]])
    labels = want["shape"] * 2 + COOL[want["colour"]]
    assert class_fidelity(blurred, labels[:300].tolist()) >= 0.97


def test_predictions_are_consistent_dicts(fresh):
    images, _ = fresh
    judge = load_judge()
    predictions = judge.predict(images[:8].float() / 255)
    for p in predictions:
        assert p["class"] == class_of(p["shape"], p["colour"]) and p["class_name"] == CLASS_NAMES[p["class"]]
        assert 0 < p["confidence"] <= p["shape_confidence"] <= 1 and p["size"] in ("small", "medium", "large")
        assert 0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 and p["place"]
    assert judge.features(images[:8].float() / 255).shape == (8, 128)
    assert load_judge("cpu") is judge  # loaded once per device


def test_the_config_records_the_recipe_and_the_weights_are_tiny():
    config = json.loads(CONFIG.read_text())
    recipe = config["recipe"]
    assert recipe["world_seed"] == 0
    assert recipe["train_indices"] == list(TRAIN) and recipe["held_out_indices"] == list(HELD_OUT)
    assert TRAIN[1] <= HELD_OUT[0] < FRESH[0]
    assert {"steps", "batch_size", "lr", "seed", "augmentation"} <= set(recipe)
    assert config["held_out_accuracy"]["class"] >= 0.995
    assert config["architecture"] == {"channels": [16, 32, 64, 64], "features": 128}
    assert WEIGHTS.stat().st_size < 500_000
    assert {t.dtype for t in load_file(WEIGHTS).values()} == {torch.float16, torch.int64}  # int64: BN step counts


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


def test_real_images_are_far_closer_to_each_other_than_to_one_class_or_noise():
    first, second = real_features(500, 1_010_000), real_features(500, 1_020_000)
    floor = frechet_distance(first, second)
    one_class = frechet_distance(first, real_features(500, 1_030_000, labels=[3] * 500))
    noise_images = torch.rand(500, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    noise = frechet_distance(first, judge_features(noise_images))
    assert first.shape == (500, 128)
    assert 10 * floor < one_class and 10 * floor < noise


def test_class_fidelity_is_perfect_on_real_images_and_low_on_shuffled_labels():
    world = ShapesWorld(0)
    labels = [i % NUM_CLASSES for i in range(200)]
    images = np.stack([world.sample(1_040_000 + i, label).image for i, label in enumerate(labels)])
    assert class_fidelity(images, labels) == 1.0
    assert class_fidelity(images, np.random.default_rng(0).permutation(labels).tolist()) < 0.3


@pytest.fixture
def saved(tmp_path):
    sample = ShapesWorld(0).sample(1_050_000)
    path = tmp_path / "shape.png"
    Image.fromarray(sample.image).save(path)
    return sample, path


def test_judge_command_names_the_class_of_a_saved_image(saved, tmp_path):
    sample, path = saved
    big = tmp_path / "big.png"
    Image.fromarray(sample.image).resize((128, 128), Image.BICUBIC).convert("RGBA").save(big)
    app = typer.Typer()
    app.command()(judge_images)
    result = CliRunner().invoke(app, [str(path), str(big), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["path"] for r in rows] == [str(path), str(big)]
    assert [r["class"] for r in rows] == [sample.label] * 2
    assert rows[0]["shape"] == sample.attributes.shape and rows[0]["colour"] == sample.attributes.colour
    assert "128x128, resized to 64x64" in result.stderr

    table = CliRunner().invoke(app, [str(path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and CLASS_NAMES[sample.label] in table.stdout


def test_judge_command_refuses_a_non_image_before_printing_anything(saved, tmp_path, capsys):
    _, path = saved
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with pytest.raises(ArctlError, match="notes.txt: not a readable image") as failure:
        judge_images([path, bad], as_json=True)
    assert "\n" not in str(failure.value) and capsys.readouterr().out == ""
