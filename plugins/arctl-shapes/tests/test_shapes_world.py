"""The shapes world: deterministic, labelled, captioned, with edge maps."""

import numpy as np
import pytest

from arctl_shapes.world import CLASS_NAMES, COLOURS, NUM_CLASSES, SHAPES, WARM, ShapesWorld, class_of


def test_samples_are_a_pure_function_of_seed_and_index():
    a, b = ShapesWorld(3).sample(17), ShapesWorld(3).sample(17)
    assert np.array_equal(a.image, b.image) and a.attributes == b.attributes
    assert not np.array_equal(a.image, ShapesWorld(4).sample(17).image)
    assert not np.array_equal(a.image, ShapesWorld(3).sample(18).image)


def test_attributes_labels_and_captions_agree():
    world = ShapesWorld(0)
    labels = []
    for i in range(300):
        s = world.sample(i)
        a = s.attributes
        assert s.image.shape == (64, 64, 3) and s.image.dtype == np.uint8
        assert a.shape in SHAPES and a.colour in COLOURS
        assert s.label == class_of(a.shape, a.colour) == SHAPES.index(a.shape) * 2 + (a.colour not in WARM)
        assert CLASS_NAMES[s.label].endswith(a.shape)
        assert a.radius + 1 <= a.x <= 63 - a.radius and a.radius + 1 <= a.y <= 63 - a.radius
        assert s.caption.startswith(f"a {a.size_word} {a.colour} {a.shape} ")
        labels.append(s.label)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    assert counts.min() > 15  # every class appears, roughly uniformly


@pytest.mark.parametrize("label", range(NUM_CLASSES))
def test_forced_classes_and_the_shape_is_drawn_in_its_colour(label):
    s = ShapesWorld(1).sample(5, label=label)
    assert s.label == label
    colour = np.array(COLOURS[s.attributes.colour])
    centre = s.image[int(s.attributes.y), int(s.attributes.x)].astype(int)
    if s.attributes.shape != "cross":  # a cross's centre is inside it too, but stars are thin: check the colour
        assert np.abs(centre - colour).max() <= 12
    assert s.edges.any() and s.edges.sum() < 64 * 64 / 4


def test_captions_name_the_place():
    world = ShapesWorld(0)
    places = {world.sample(i).attributes.place for i in range(300)}
    assert "in the centre" in places and "at the top left" in places and "at the bottom right" in places


def test_bad_class_is_rejected():
    with pytest.raises(ValueError, match="out of range"):
        ShapesWorld(0).sample(0, label=10)
