"""A few steps of every zoo recipe reduce its loss, and the saved repository loads through arctl."""

import json

import torch

from arctl_shapes import train_var
from arctl_shapes.training import training_images


def mean(values):
    return sum(values) / len(values)


def test_var_recipe_steps_reduce_both_losses(tmp_path):
    torch.manual_seed(0)
    images, labels = training_images(256)
    recipe = {**train_var.RECIPE, "vae_steps": 24, "vae_batch": 8, "var_steps": 30, "var_batch": 16}
    vqvae, vae_losses = train_var.train_vqvae(images, recipe, lambda *a: None)
    assert mean(vae_losses[-6:]) < 0.8 * mean(vae_losses[:6])
    var, var_losses = train_var.train_var(images, labels, vqvae, recipe, lambda *a: None)
    assert mean(var_losses[-6:]) < 0.9 * mean(var_losses[:6])
