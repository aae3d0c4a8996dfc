"""Image conditions at the boundary: what a generator declares, how files pair with conditions, what is refused."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from arctl.conditions import check_conditions, image_tensors
from arctl.errors import ArctlError, PluginError, UsageError
from arctl.registry import GeneratorSpec, ImageInput

FACTORY = "arctl_toy.generator:ToyGenerator"
EDITOR = GeneratorSpec("editor", "Edits.", FACTORY, num_classes=10, image_inputs=(
    ImageInput("image", "the source", "RGB", with_=("mask",)),
    ImageInput("mask", "white = regenerate", "L", with_=("image",)),
))
CONTROLLED = GeneratorSpec("controlled", "Text with a control image.", FACTORY, conditioning="text",
                           image_inputs=(ImageInput("control", "edges", "RGB", required=True, min_size=16),))


def picture(path, size=(32, 32), mode="RGB", value=128):
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = (size[1], size[0], channels) if channels else (size[1], size[0])
    dtype = np.uint16 if mode == "I;16" else np.uint8
    Image.fromarray(np.full(shape, value, dtype)).save(path)  # uint16 greyscale saves as a 16-bit PNG
    return path


def test_an_image_and_its_mask_become_one_null_condition(tmp_path):
    image, mask = picture(tmp_path / "in.png", mode="RGBA"), picture(tmp_path / "m.png", mode="L", value=255)
    [condition] = check_conditions(EDITOR, None, None, {"image": [image], "mask": [mask]})
    assert condition.value is None  # no class: the generator's null class
    assert condition.images["image"].picture.mode == "RGB" and condition.images["mask"].picture.mode == "L"
    assert condition.images["mask"].record() == {"path": str(mask.resolve()),
                                                 "sha256": hashlib.sha256(mask.read_bytes()).hexdigest()}
    with_class = check_conditions(EDITOR, [3, 4], None, {"image": [image], "mask": [mask]})
    assert [c.value for c in with_class] == [3, 4] and with_class[1].images["image"].path == image.resolve()


def test_one_file_for_every_condition_or_one_per_condition(tmp_path):
    a, b, c = (picture(tmp_path / f"{n}.png", value=v) for n, v in (("a", 10), ("b", 20), ("c", 30)))
    per = check_conditions(CONTROLLED, None, ["x", "y"], {"control": [a, b]})
    assert [c.images["control"].path.name for c in per] == ["a.png", "b.png"]
    shared = check_conditions(CONTROLLED, None, ["x", "y"], {"control": [c]})
    assert [c.images["control"].path.name for c in shared] == ["c.png", "c.png"]
    with pytest.raises(UsageError, match="given 3 times for 2 conditions"):
        check_conditions(CONTROLLED, None, ["x", "y"], {"control": [a, b, c]})


@pytest.mark.parametrize("given, message", [
    ({}, "controlled needs --image control=PATH"),
    ({"depth": ["x.png"]}, "takes no image input 'depth' \\(it takes: control\\)"),
])
def test_missing_or_unknown_inputs(given, message):
    with pytest.raises(UsageError, match=message):
        check_conditions(CONTROLLED, None, ["x"], given)


def test_inputs_that_go_together(tmp_path):
    image = picture(tmp_path / "in.png")
    with pytest.raises(UsageError, match="--image image=... goes with --image mask=PATH"):
        check_conditions(EDITOR, None, None, {"image": [image]})
    small = picture(tmp_path / "m.png", size=(16, 16), mode="L")
    with pytest.raises(UsageError, match="is 32x32 but --image mask=.* is 16x16; they must be the same size"):
        check_conditions(EDITOR, None, None, {"image": [image], "mask": [small]})


def test_files_that_cannot_be_used(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ArctlError, match="not a readable image") as broken:
        check_conditions(CONTROLLED, None, ["x"], {"control": [tmp_path / "broken.png"]})
    assert broken.value.exit_code == 1
    with pytest.raises(ArctlError, match="no such file"):
        check_conditions(CONTROLLED, None, ["x"], {"control": [tmp_path / "none.png"]})
    deep = picture(tmp_path / "deep.png", mode="I;16")
    with pytest.raises(UsageError, match="pixel format I;16 is not supported"):
        check_conditions(CONTROLLED, None, ["x"], {"control": [deep]})
    tiny = picture(tmp_path / "tiny.png", size=(15, 40))
    with pytest.raises(UsageError, match="15x40 is too small \\(at least 16x16\\)"):
        check_conditions(CONTROLLED, None, ["x"], {"control": [tiny]})


def test_tensors_at_the_generator_size_with_a_note(tmp_path):
    image = picture(tmp_path / "in.png", size=(40, 30), value=255)
    mask = picture(tmp_path / "m.png", size=(40, 30), mode="L", value=0)
    conditions = check_conditions(EDITOR, [1, 2], None, {"image": [image], "mask": [mask]})
    notes = []
    tensors = image_tensors(conditions, 16, notes)
    assert tensors["image"].shape == (2, 3, 16, 16) and tensors["mask"].shape == (2, 1, 16, 16)
    assert float(tensors["image"].min()) == 1.0 and float(tensors["mask"].max()) == 0.0
    assert any("is 40x30; resized to 16x16" in note for note in notes)


@pytest.mark.parametrize("inputs, message", [
    ((ImageInput("x", "one", "CMYK"),), "mode must be one of"),
    ((ImageInput("x", "one", with_=("y",)),), "unknown companion 'y'"),
    ((ImageInput("x", "one"), ImageInput("x", "two")), "names must be unique"),
    ((ImageInput("Bad Name", "one"),), "must match"),
])
def test_registration_checks_image_inputs(inputs, message):
    with pytest.raises(PluginError, match=message):
        GeneratorSpec("g", "G.", FACTORY, num_classes=2, image_inputs=inputs).validate()
