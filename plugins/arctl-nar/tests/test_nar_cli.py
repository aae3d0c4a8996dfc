"""`arctl generate nar-b` end to end from an offline Hub cache holding tiny models in the official formats."""

import json

import numpy as np
from PIL import Image

from arctl.images import read_recipe
from arctl_llamagen.testing import random_state_dicts
from arctl_nar.model import NARTransformer


def test_generate_nar_b_end_to_end(arctl_cli, manager, tmp_path):
    result = arctl_cli.invoke(["generate", "nar-b", "--class", "207", "--num", "3", "--seed", "0", "--out", str(tmp_path),
                               "--json"], manager=manager)
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    assert Image.open(images[0]["path"]).size == (16, 16)
    assert len({np.asarray(Image.open(i["path"])).tobytes() for i in images}) == 3
    assert read_recipe(images[0]["path"])["files"]["model"]["filename"] == "last_version.pt"
    assert arctl_cli.invoke(["reproduce", images[2]["path"]], manager=manager).exit_code == 0


def test_weights_from_another_hub_file(arctl_cli, manager, hub_cache, tmp_path):
    checkpoint = manager.registry.model("nar-b").checkpoint
    states = random_state_dicts(checkpoint, NARTransformer, seed=1)
    hub_cache.add("chenfeng1271/NAR-imagenet-256-L", "nar_l_final.pt", states["model"], container="module")
    result = arctl_cli.invoke(["generate", "nar-b", "-c", "5", "--weights", "hf://chenfeng1271/NAR-imagenet-256-L/nar_l_final.pt",
                               "--out", str(tmp_path)], manager=manager)
    assert result.exit_code == 0, result.output
    recipe = read_recipe(result.stdout.strip())
    assert recipe["files"]["model"]["filename"] == "nar_l_final.pt"
    assert arctl_cli.invoke(["reproduce", result.stdout.strip()], manager=manager).exit_code == 0
