"""The Python API end to end on the shipped zoo, as a user of the installed plugins would call it."""

import json

import numpy as np
import pytest
from PIL import Image

import arctl
from arctl.images import RECIPE_KEY, save_png
from arctl.plugins import PluginManager


@pytest.fixture(scope="module")
def manager():
    return PluginManager(strict=True)


@pytest.fixture(scope="module")
def pipe(manager):
    return arctl.load(device="cpu", manager=manager)  # no model: the installed default, var-shapes


def test_the_default_model_generates_and_reproduces(pipe, manager, tmp_path):
    assert repr(pipe) == "Pipeline('var-shapes', device='cpu', dtype='fp32')"
    images = pipe(classes=[3, 7], num=2, seed=0, cfg=3, top_k=50)
    assert [image.size for image in images] == [(64, 64)] * 4
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))
    recipe = json.loads(images[2].info[RECIPE_KEY])
    assert recipe["model"] == "var-shapes" and recipe["condition"] == 7 and recipe["sampling"]["top_k"] == 50
    again = pipe(classes=[3, 7], num=2, seed=0, cfg=3, top_k=50)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, again))
    verdict = arctl.reproduce(save_png(images[3], tmp_path / "seven.png"), manager=manager)
    assert verdict.identical, verdict.describe()


def test_editing_through_image_inputs(pipe, manager, tmp_path):
    [source] = pipe(classes=[1], seed=4)
    source.save(tmp_path / "source.png")
    hole = np.zeros((64, 64), np.uint8)
    hole[16:48, 16:48] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "black.png")
    kept = pipe(images={"image": tmp_path / "source.png", "mask": tmp_path / "black.png"}, seed=1)[0]
    assert any("nothing will be regenerated" in note for note in pipe.notes)
    tokenizer = pipe.loaded.generator.tokenizer
    from arctl.tokenizers import to_tensor

    expected = tokenizer.decode(tokenizer.encode(to_tensor([source])))
    assert (to_tensor([kept]) - expected).abs().max() <= 1 / 255 + 1e-6  # every token kept: the reconstruction
    edited = pipe(classes=[5], images={"image": tmp_path / "source.png", "mask": tmp_path / "hole.png"}, seed=2)[0]
    outside = np.ones((64, 64), bool)
    outside[8:56, 8:56] = False  # away from the hole's edge, where the decoder mixes kept and new tokens
    a, b = np.asarray(edited).astype(int), np.asarray(kept).astype(int)
    assert np.abs(a - b)[outside].mean() < np.abs(a - b)[~outside].mean()
    assert json.loads(edited.info[RECIPE_KEY])["inputs"]["mask"][0]["path"].endswith("hole.png")
    assert arctl.reproduce(save_png(edited, tmp_path / "edited.png"), manager=manager).identical
