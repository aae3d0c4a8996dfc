"""`arctl generate llamagen-b` end to end from an offline Hub cache holding tiny models in the official formats."""

import json

import numpy as np
from PIL import Image

import arctl_llamagen
from arctl.images import read_recipe


def test_generate_llamagen_b_end_to_end(arctl_cli, manager, tmp_path):
    result = arctl_cli.invoke(["generate", "llamagen-b", "--class", "207", "--num", "2", "--seed", "0",
                               "--out", str(tmp_path), "--json"], manager=manager)
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    first = Image.open(images[0]["path"])
    assert first.size == (16, 16)
    assert not np.array_equal(np.asarray(first), np.asarray(Image.open(images[1]["path"])))
    recipe = read_recipe(images[1]["path"])
    assert recipe["sampling"] == {"sampler": "multinomial", "cfg": 4.0, "cfg_schedule": "constant", "top_k": 2000,
                                  "top_p": 1.0, "temperature": 1.0}
    assert [recipe["files"][role]["filename"] for role in ("model", "vq")] == ["c2i_B_256.pt", "vq_ds16_c2i.pt"]
    again = arctl_cli.invoke(["reproduce", images[1]["path"]], manager=manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output


def test_interval_schedule_and_greedy(arctl_cli, manager, tmp_path):
    result = arctl_cli.invoke(["generate", "llamagen-b", "-c", "1", "--cfg-schedule", "interval", "-o", "cfg_cutoff=0.5",
                               "--sampler", "greedy", "--out", str(tmp_path)], manager=manager)
    assert result.exit_code == 0, result.output
    assert read_recipe(result.stdout.strip())["options"] == {"cfg_cutoff": 0.5}


def test_real_checkpoints_are_registered(arctl_cli, make_plugin_manager):
    pm = make_plugin_manager(arctl_llamagen)
    rows = {r["name"]: r for r in json.loads(arctl_cli.invoke(["models", "--json"], manager=pm).stdout)}
    assert set(rows) == {"llamagen-b", "llamagen-l", "llamagen-xl", "llamagen-xxl", "llamagen-3b", "llamagen-vq16"}
    assert rows["llamagen-3b"]["files"]["model"]["container"] == "bare"
    assert rows["llamagen-xl"]["config"]["gpt"]["block_size"] == 576
