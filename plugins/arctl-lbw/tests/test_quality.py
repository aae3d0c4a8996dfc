"""Image quality of the two arms, measured only on shapes-world models (arctl-shapes is optional)."""

import numpy as np
import pytest

from arctl_lbw.quality import is_shapes_model, shapes_quality

shapes = pytest.importorskip("arctl_shapes")


def world_images(labels, offset):
    from arctl_shapes.world import ShapesWorld, to_tensor

    world = ShapesWorld(0)
    return to_tensor(np.stack([world.sample(offset + i, label).image for i, label in enumerate(labels)]))


def test_identical_arms_cost_nothing_and_the_judge_reads_the_classes():
    labels = [i % 10 for i in range(30)]
    images = world_images(labels, 5_000_000)
    quality = shapes_quality(images, images.clone(), labels)
    assert quality["class_fidelity_clean"] == quality["class_fidelity_watermarked"] > 0.9
    assert quality["fd_watermarked_vs_clean"] == pytest.approx(0, abs=1e-3)
    assert quality["fd_clean_vs_real"] == quality["fd_watermarked_vs_real"] > 0


def test_only_the_shapes_plugins_models_count(make_plugin_manager, manager):
    pm = make_plugin_manager(shapes)
    assert is_shapes_model(pm, pm.registry.model("var-shapes").owner)
    assert not is_shapes_model(manager, manager.registry.model("llamagen-b").owner)
