"""The short Python API, `arctl.load(...)(...)` and `arctl.reproduce(path)`, on the example plugin."""

import json

import numpy as np
import pytest

import arctl
from arctl.errors import UsageError
from arctl.images import RECIPE_KEY, read_recipe, save_png
from arctl.keys import WatermarkKey


@pytest.fixture
def pipe(toy_manager, toy_weights):
    return arctl.load("toy-tiny", device="cpu", manager=toy_manager)


def test_a_call_gives_pil_images_carrying_their_recipe(pipe):
    images = pipe(classes=[1, 3], num=2, seed=7, cfg=3, top_k=5, patch=4)
    assert [image.size for image in images] == [(16, 16)] * 4
    recipe = json.loads(images[3].info[RECIPE_KEY])
    assert recipe["command"] == "generate" and recipe["conditions"] == [1, 3] and recipe["item"] == 3
    assert recipe["sampling"]["cfg"] == 3.0 and recipe["sampling"]["top_k"] == 5 and recipe["options"] == {"patch": 4}
    assert repr(pipe) == "Pipeline('toy-tiny', device='cpu', dtype='fp32')"


def test_the_same_images_as_the_command_line(pipe, arctl_cli, toy_manager, tmp_path):
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "2", "-n", "5", "--seed", "11", "--top-k", "3",
                               "-o", "patch=2", "--out", str(tmp_path)], manager=toy_manager)
    assert result.exit_code == 0, result.output
    from_python = pipe(classes=[2], num=5, seed=11, top_k=3, options={"patch": 2})
    from_cli = [np.asarray(read_png(p)) for p in result.stdout.split()]
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(from_python, from_cli))
    assert json.loads(from_python[4].info[RECIPE_KEY])["seed"] == read_recipe(result.stdout.split()[4])["seed"]


def read_png(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def test_reproduce_from_python(pipe, toy_manager, tmp_path):
    [image] = pipe(classes=[0], seed=5)
    path = save_png(image, tmp_path / "one.png")  # the recipe the image carries goes into the file
    verdict = arctl.reproduce(path, manager=toy_manager)
    assert verdict.identical and verdict.max_abs_pixel_diff == 0 and verdict.version_changes == []
    changed = np.asarray(image).copy()
    changed[0, 0] = 255 - changed[0, 0]
    from PIL import Image

    save_png(Image.fromarray(changed), tmp_path / "two.png", read_recipe(path))
    assert not arctl.reproduce(tmp_path / "two.png", manager=toy_manager).identical


@pytest.mark.parametrize("call, message", [
    (dict(classes=[9]), r"--class 9: out of range for toy \(0..3\)"),
    (dict(classes=[1], patch=0), "option patch=0: must be >= 1"),
    (dict(classes=[1], patch="wide"), "option patch='wide': expected int"),
    (dict(classes=[1], patch=2.5), "option patch=2.5: expected int"),
    (dict(classes=[1], nope=1), "unknown option 'nope' for toy"),
    (dict(classes=[1], top_k=1.5), r"--top-k 1.5: expected int"),
    (dict(classes=[1], cfg="strong"), "--cfg 'strong': expected float"),
    (dict(prompts=["a cat"]), "class-conditional: use --class, not --prompt"),
    (dict(classes=[1], images={"mask": "m.png"}), "takes no image input 'mask'"),
    (dict(classes=[1], watermark="none-such", key=WatermarkKey(bytes(32))), "unknown watermarker 'none-such'"),
    (dict(classes=[1], key=WatermarkKey(bytes(32))), "--key-file is only used with --watermark"),
])
def test_the_same_validation_as_the_command_line(pipe, call, message):
    with pytest.raises(UsageError, match=message):
        pipe(**call)


def test_load_refuses_what_is_not_a_generator(toy_manager):
    with pytest.raises(UsageError, match="unknown model 'nope'"):
        arctl.load("nope", manager=toy_manager)
