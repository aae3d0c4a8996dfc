"""`arctl generate mar-b` end to end from an offline Hub cache holding a tiny MAR in the official formats."""

import json

import arctl_mar
import numpy as np
from arctl_mar.testing import official_training_checkpoint, random_state_dicts
from PIL import Image

from arctl.images import read_recipe


def test_generate_mar_b_end_to_end(arctl_cli, mar_manager, tmp_path):
    result = arctl_cli.invoke(["generate", "mar-b", "--class", "207", "--num", "2", "--seed", "0", "-o", "num_iter=4",
                               "-o", "num_sampling_steps=10", "--out", str(tmp_path), "--json"], manager=mar_manager)
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    first = Image.open(images[0]["path"])
    assert first.size == (16, 16) and first.mode == "RGB"
    assert not np.array_equal(np.asarray(first), np.asarray(Image.open(images[1]["path"])))
    recipe = read_recipe(images[1]["path"])
    assert recipe["sampling"] == {"sampler": "multinomial", "cfg": 2.9, "cfg_schedule": "mask-linear", "top_k": 0,
                                  "top_p": 1.0, "temperature": 1.0}
    assert recipe["options"] == {"num_iter": 4, "num_sampling_steps": 10}
    assert recipe["files"]["model"]["filename"] == "mar-base.safetensors"
    assert recipe["files"]["vae"]["filename"] == "kl16.safetensors"
    again = arctl_cli.invoke(["reproduce", images[1]["path"]], manager=mar_manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output


def test_classes_and_the_guidance_schedule_change_the_image(arctl_cli, mar_manager, tmp_path):
    runs = iter(range(100))

    def pixels(*extra):
        out = tmp_path / f"run{next(runs)}.png"
        result = arctl_cli.invoke(["generate", "mar-b", "--seed", "3", "-o", "num_iter=2", "-o", "num_sampling_steps=5",
                                   "--out", str(out), *extra], manager=mar_manager)
        assert result.exit_code == 0, result.output
        return np.asarray(Image.open(result.stdout.strip()))

    base = pixels("-c", "1")
    assert not np.array_equal(base, pixels("-c", "2"))
    assert not np.array_equal(base, pixels("-c", "1", "--cfg-schedule", "constant"))
    assert np.array_equal(base, pixels("-c", "1"))


def test_official_training_checkpoint_through_weights_loads_the_ema(arctl_cli, mar_manager, tmp_path):
    pth = tmp_path / "checkpoint-last.pth"
    cached_weights = random_state_dicts(mar_manager.registry.model("mar-b").checkpoint)["model"]  # seeded: the same
    pth.write_bytes(official_training_checkpoint(cached_weights))
    args = ["generate", "mar-b", "-c", "5", "--seed", "1", "-o", "num_iter=2", "-o", "num_sampling_steps=5"]
    cached = arctl_cli.invoke([*args, "--out", str(tmp_path / "a")], manager=mar_manager)
    local = arctl_cli.invoke([*args, "--weights", str(pth), "--out", str(tmp_path / "b")], manager=mar_manager)
    assert cached.exit_code == 0 and local.exit_code == 0, local.output
    assert np.array_equal(np.asarray(Image.open(cached.stdout.strip())), np.asarray(Image.open(local.stdout.strip())))


def test_too_many_iterations_is_a_usage_error(arctl_cli, mar_manager, tmp_path):
    result = arctl_cli.invoke(["generate", "mar-b", "-c", "1", "-o", "num_iter=65", "--out", str(tmp_path)],
                              manager=mar_manager)
    assert result.exit_code == 2 and "at most 64" in result.stderr


def test_real_checkpoints_are_registered(arctl_cli, make_plugin_manager):
    pm = make_plugin_manager(arctl_mar)
    rows = {r["name"]: r for r in json.loads(arctl_cli.invoke(["models", "--json"], manager=pm).stdout)}
    assert set(rows) == {"mar-b", "mar-l", "mar-h"}
    assert rows["mar-h"]["files"]["model"] == {"repo_id": "jadechoghari/mar", "filename": "mar-huge.safetensors",
                                               "revision": "main", "container": "model_ema", "size": 3_769_676_360}
    assert rows["mar-l"]["config"]["mar"]["diffloss_w"] == 1280
    options = json.loads(arctl_cli.invoke(["models", "mar-b", "--options", "--json"], manager=pm).stdout)
    assert [o["name"] for o in options["options"]] == ["num_iter", "num_sampling_steps"]
    assert options["sampling_defaults"]["cfg_schedule"] == "mask-linear"
