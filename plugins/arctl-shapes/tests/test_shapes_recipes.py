"""A few steps of every zoo recipe reduce its loss, and the saved repository loads through arctl."""

import json
import os

import pytest
import torch

from arctl_shapes import train_llamagen, train_mar, train_nar, train_var
from arctl_shapes.training import training_images


def mean(values):
    return sum(values) / len(values)


def test_var_recipe_steps_reduce_both_losses(tmp_path):
    torch.manual_seed(0)
    images, labels = training_images(128)
    recipe = {**train_var.RECIPE, "images": 96, "vae_steps": 8, "vae_refine_steps": 8, "vae_batch": 8, "var_steps": 12,
              "var_refine_steps": 8, "var_extend_steps": [4, 4, 4], "var_extend_images": [112, 128, 128], "var_batch": 16}
    vqvae, vae_losses = train_var.train_vqvae(images[:96], recipe, lambda *a: None, tmp_path)
    assert mean(vae_losses[-4:]) < 0.8 * mean(vae_losses[:4])
    targets, inputs = train_var.var_training_data(vqvae, images)
    assert targets.shape == (128, 130) and inputs.shape == (128, 129, train_var.VAE["z_channels"])
    var, var_losses = train_var.train_var(targets, inputs, labels, recipe, lambda *a: None, tmp_path)
    assert len(var_losses) == 12 + 8 + 4 + 4 + 4  # main, refinement and three extension stages
    assert mean(var_losses[-4:]) < 0.9 * mean(var_losses[:4])


def test_llamagen_and_nar_recipe_steps_reduce_their_losses(tmp_path):
    images, labels = training_images(128)
    recipe = {**train_llamagen.RECIPE, **train_nar.RECIPE, "images": 128, "vq_steps": 8, "vq_refine_steps": 8,
              "vq_batch": 8, "gpt_steps": 12, "gpt_refine_steps": 8, "gpt_extend_steps": 4, "gpt_extend_images": 128,
              "gpt_batch": 16, "nar_steps": 12, "nar_refine_steps": 8, "nar_extend_steps": 4, "nar_extend_images": 128,
              "nar_batch": 16}
    vq, vq_losses = train_llamagen.train_vq(images, recipe, lambda *a: None, tmp_path)
    assert mean(vq_losses[-4:]) < 0.8 * mean(vq_losses[:4])
    tokens, world_labels = train_llamagen.world_tokens(vq, 128)
    assert torch.equal(tokens, train_llamagen.tokenize(vq, images)) and torch.equal(world_labels, labels)
    assert tokens.shape == (128, 64) and tokens.max() < vq.quantize.embedding.num_embeddings
    gpt, gpt_losses = train_llamagen.train_gpt(tokens, labels, recipe, lambda *a: None, tmp_path)
    assert mean(gpt_losses[-4:]) < 0.9 * mean(gpt_losses[:4])
    nar, nar_losses = train_nar.train_nar(tokens, labels, recipe, lambda *a: None, tmp_path)
    assert mean(nar_losses[-4:]) < 0.9 * mean(nar_losses[:4])
    assert (tmp_path / "partial-vq.safetensors").exists() is False  # checkpoints only every CHECKPOINT_EVERY steps


def test_stages_extend_onto_more_images_and_check_they_were_prepared():
    from arctl.errors import UsageError
    from arctl_shapes.training import Stage, stage_batches, stages, transformer_images

    recipe = {"images": 100, "x_steps": 5, "x_lr": 1e-3}
    assert stages(recipe, "x") == [Stage(5, 1e-3, 100)]  # a refinement is optional too
    recipe.update({"x_refine_steps": 6, "x_refine_lr": 5e-4})
    assert stages(recipe, "x") == [Stage(5, 1e-3, 100), Stage(6, 5e-4, 100)]
    recipe.update({"x_extend_steps": 7, "x_extend_lr": 2e-4, "x_extend_images": 400})
    assert stages(recipe, "x")[2] == Stage(7, 2e-4, 400) and transformer_images(recipe, "x") == 400
    first = next(stage_batches(stages(recipe, "x")[0], 0, 400, 50, seed=1))
    extension = [next(stage_batches(stages(recipe, "x")[2], 2, 400, 400, seed=1))]
    assert first.max() < 100 and sorted(extension[0].tolist()) == list(range(400))  # a stage keeps to its images
    with pytest.raises(ValueError, match="400 images, but only 300"):
        stage_batches(stages(recipe, "x")[2], 2, 300, 50, seed=1)
    recipe.update({"x_extend_steps": [7, 9], "x_extend_lr": [2e-4, 1e-4], "x_extend_images": [400, 800]})
    assert stages(recipe, "x")[2:] == [Stage(7, 2e-4, 400), Stage(9, 1e-4, 800)] and transformer_images(recipe, "x") == 800
    recipe["x_extend_lr"] = [2e-4]
    with pytest.raises(UsageError, match="one value per extension"):
        stages(recipe, "x")


def test_code_restarts_reseed_only_unused_codes():
    from arctl_shapes.training import CodeRestarts

    codebook = torch.zeros(6, 2)
    restarts = CodeRestarts(codebook, seed=0)
    restarts.saw(torch.tensor([0, 2, 2]))
    latents = torch.full((1, 2, 2, 2), 5.0)
    assert restarts.restart(latents) == 4
    assert codebook[[0, 2]].abs().max() == 0 and (codebook[[1, 3, 4, 5]] - 5).abs().max() < 0.1
    assert restarts.restart(latents) == 6  # nothing was seen since the last restart


def test_reconstruction_loss_charges_blurred_edges():
    from arctl_shapes.training import reconstruction_loss

    sharp = torch.zeros(1, 1, 8, 8)
    sharp[..., 4:] = 1
    blurred = torch.nn.functional.avg_pool2d(sharp, (1, 3), stride=1, padding=(0, 1), count_include_pad=False)
    assert reconstruction_loss(sharp, sharp) == 0
    pixel_only = (blurred - sharp).abs().mean() + ((blurred - sharp) ** 2).mean()
    assert reconstruction_loss(blurred, sharp) > 1.5 * pixel_only


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


def test_train_rejects_a_malformed_recipe_before_training(arctl_cli, tmp_path):
    tiny = [f"-o{key}=2" for key in ("images", "vae_steps", "vae_refine_steps", "var_steps", "var_refine_steps")]
    # four extensions' steps against three rates and two image counts (tiny, should the check ever fail to stop it)
    result = arctl_cli.invoke(["shapes", "train", "var", "--out", tmp_path / "v", *tiny, "-o",
                               "var_extend_steps=[2,2,2,2]", "-o", "var_extend_images=[16,16]"])
    assert result.exit_code == 2 and "one value per extension" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "v").exists()
    result = arctl_cli.invoke(["shapes", "train", "var", "--out", tmp_path / "v", "-o", "var_stpes=5"])
    assert result.exit_code == 2 and "unknown recipe key 'var_stpes'" in result.stderr


@pytest.mark.parametrize("model, recipe_module", [("var-shapes", train_var), ("llamagen-shapes", train_llamagen),
                                                  ("nar-shapes", train_nar), ("mar-shapes", train_mar)])
def test_shipped_models_record_the_recipe_that_retrains_them(model, recipe_module):
    """`arctl shapes train` runs the recipe in the code; the shipped weights must be what that recipe makes."""
    from arctl_shapes.zoo import ZOO

    assert json.loads((ZOO / model / "config.json").read_text())["recipe"] == recipe_module.RECIPE
