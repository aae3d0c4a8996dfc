"""The shipped judge, the metrics built on it (registered as the shapes domain's judge) and `arctl shapes judge`."""

import json

import numpy as np
import pytest
import torch
import typer
from PIL import Image, ImageFilter
from safetensors.torch import load_file
from typer.testing import CliRunner

import arctl_shapes
from arctl.errors import ArctlError
from arctl.judges import build_judge, frechet_distance, judge_for
from arctl_shapes.judge import CONFIG, COOL, WEIGHTS, load_judge
from arctl_shapes.judge_cmd import judge_images
from arctl_shapes.metrics import REFERENCE_OFFSETS, ShapesJudge
from arctl_shapes.train_judge import HELD_OUT, TRAIN, evaluate, render
from arctl_shapes.world import CLASS_NAMES, NUM_CLASSES, ShapesWorld, class_of

FRESH = (HELD_OUT[1], HELD_OUT[1] + 1000)  # neither trained on nor looked at while choosing the recipe


@pytest.fixture(scope="module")
def fresh():
    return render(*FRESH)


@pytest.fixture(scope="module")
def judge():
    return ShapesJudge()


def test_the_shipped_judge_reads_held_out_images(fresh):
    accuracy = evaluate(load_judge(), *fresh)
    assert accuracy["class"] >= 0.99
    assert accuracy["shape"] >= 0.98 and accuracy["colour"] >= 0.98
    assert accuracy["size"] >= 0.85  # size words have hard borders: a radius near 13 or 18 px is a coin toss
    assert accuracy["position_error_px"] < 3


def test_it_still_reads_blurred_images(fresh, judge):
    images, want = fresh
    blur = ImageFilter.GaussianBlur(1)  # about what a small generator's softness looks like
    blurred = np.stack([np.asarray(Image.fromarray(im.permute(1, 2, 0).numpy()).filter(blur)) for im in images[:300]])
    labels = want["shape"] * 2 + COOL[want["colour"]]
    assert judge.class_fidelity(blurred, labels[:300].tolist()) >= 0.97


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


def test_real_images_are_far_closer_to_each_other_than_to_one_class_or_noise(judge):
    first, second = judge.real_features(1_010_000, [None] * 500), judge.real_features(1_020_000, [None] * 500)
    floor = frechet_distance(first, second)
    one_class = frechet_distance(first, judge.real_features(1_030_000, [3] * 500))
    noise_images = torch.rand(500, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    noise = frechet_distance(first, judge.features(noise_images))
    assert first.shape == (500, 128) and first.dtype == np.float64
    assert 10 * floor < one_class and 10 * floor < noise


def test_class_fidelity_is_perfect_on_real_images_and_low_on_shuffled_labels(judge):
    world = ShapesWorld(0)
    labels = [i % NUM_CLASSES for i in range(200)]
    images = np.stack([world.sample(1_040_000 + i, label).image for i, label in enumerate(labels)])
    assert judge.class_fidelity(images, labels) == 1.0
    assert judge.class_fidelity(images, np.random.default_rng(0).permutation(labels).tolist()) < 0.3
    with pytest.raises(ValueError, match="199 requested labels for 200 images"):
        judge.class_fidelity(images, labels[:-1])


def test_the_zoos_domain_finds_this_judge_through_the_seam(make_plugin_manager):
    pm = make_plugin_manager(arctl_shapes)
    var_shapes = pm.registry.model("var-shapes").owner
    assert var_shapes.domain == "shapes"
    spec = judge_for(pm.registry, var_shapes, "class_fidelity")
    assert spec is judge_for(pm.registry, var_shapes, "features") and spec.name == "shapes"
    assert judge_for(pm.registry, var_shapes, "caption_fidelity") is None
    built = build_judge(spec, "cpu")
    assert isinstance(built, ShapesJudge) and built.net is load_judge("cpu")


def test_reference_draws_are_the_evaluations_disjoint_real_sets(judge):
    labels = [0, 3, None, 9]
    for draw, offset in enumerate(REFERENCE_OFFSETS):
        assert np.array_equal(judge.reference_features(labels, draw=draw), judge.real_features(offset, labels))
    assert not np.array_equal(judge.reference_features(labels), judge.reference_features(labels, draw=1))
    with pytest.raises(ValueError, match="reference draw 2: the shapes judge has draws 0..1"):
        judge.reference_features(labels, draw=2)


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
