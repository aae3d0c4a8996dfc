"""A few steps of every zoo recipe reduce its loss, and the saved repository loads through arctl."""

import json
import os

import torch

from arctl_shapes import train_var
from arctl_shapes.training import training_images


def mean(values):
    return sum(values) / len(values)


def test_var_recipe_steps_reduce_both_losses(tmp_path):
    torch.manual_seed(0)
    images, labels = training_images(128)
    recipe = {**train_var.RECIPE, "vae_steps": 16, "vae_batch": 8, "var_steps": 20, "var_batch": 16}
    vqvae, vae_losses = train_var.train_vqvae(images, recipe, lambda *a: None, tmp_path)
    assert mean(vae_losses[-4:]) < 0.8 * mean(vae_losses[:4])
    var, var_losses = train_var.train_var(images, labels, vqvae, recipe, lambda *a: None, tmp_path)
    assert mean(var_losses[-4:]) < 0.9 * mean(var_losses[:4])


def test_saved_repository_loads_in_float32(tmp_path):
    from arctl.hub import load_state_dict
    from arctl_shapes.training import save_repo

    state = {"w": torch.randn(3, 3), "step": torch.tensor(7)}
    save_repo(tmp_path, {"m.safetensors": state}, {"family": "x"})
    loaded = load_state_dict(tmp_path / "m.safetensors")
    assert loaded["w"].dtype == torch.float16 and loaded["step"].dtype == torch.int64
    assert json.loads((tmp_path / "config.json").read_text()) == {"family": "x"}
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any output
