"""mar-shapes: a few steps of each stage of its recipe reduce the loss, and the shipped model loads through the
normal path, generates offline (also with DiSA), fits its size budget and draws images the judge recognises."""

import json

import arctl_disa
import arctl_mar
import pytest
import torch

import arctl_shapes
import arctl_shapes.zoo
from arctl.images import read_recipe
from arctl.plugins import PluginManager
from arctl_mar.model import MAR as MARModel
from arctl_mar.vae import DiagonalGaussian
from arctl_shapes import train_mar
from arctl_shapes.architectures import MAR
from arctl_shapes.evaluate import evaluate
from arctl_shapes.train_mar_head import first_step_error, head_rows, train_head
from arctl_shapes.training import EMA, training_images

REPO = arctl_shapes.zoo.ZOO / "mar-shapes"
# A quick setting (16 iterations instead of 64; seed 1, 100 images) measures, with the shipped weights, class
# fidelity 0.38 and FD 137.0 with the default sampler (DiSA 50 -> 5), and 0.45 and FD 113.3 with MAR's own
# 100 steps from t = 999; each guard leaves two binomial standard errors (0.049) for other machines' float
# rounding. Chance is 0.1; images of noise score FD ~10,000. The 200-image numbers are in docs/claims.md.
QUICK = {"options": {"num_iter": "16"}}
MIN_QUICK_FIDELITY = {"disa": 0.28, "multinomial": 0.35}


def mean(values):
    return sum(values) / len(values)


def mar_manager():
    return PluginManager([arctl_mar, arctl_disa, arctl_shapes], entry_points=False)


def test_mar_recipe_stages_reduce_their_losses(tmp_path):
    torch.manual_seed(0)
    images, labels = training_images(64)
    recipe = {**train_mar.RECIPE, "images": 48, "vae_steps": 8, "vae_refine_steps": 4, "vae_batch": 8, "mar_steps": 20,
              "mar_batch": 16, "mar_extend_steps": 6, "mar_extend_lr": 5e-4, "mar_extend_images": 64}
    vae, vae_losses = train_mar.train_vae(images[:48], recipe, lambda *a: None, tmp_path)
    assert mean(vae_losses[-4:]) < 0.8 * mean(vae_losses[:4])
    posterior = train_mar.encode(vae, images)
    world_posterior, world_labels = train_mar.encode_world(vae, 64)  # rendered a chunk at a time
    assert torch.equal(world_posterior.mean, posterior.mean) and torch.equal(world_labels, labels)
    assert posterior.mean.shape == (64, 8, 8, 8)  # 8x downsampling, 8 channels
    scale = train_mar.measure_latent_scale(posterior, seed=0)
    assert (posterior.sample(torch.Generator().manual_seed(0)) * scale).std().item() == pytest.approx(1, abs=1e-3)
    mar, mar_losses = train_mar.train_mar(posterior, labels, scale, recipe, lambda *a: None, tmp_path)
    assert len(mar_losses) == 20 + 6  # the main stage, then an extension onto more images
    assert mean(mar_losses[-5:]) < 0.9 * mean(mar_losses[:5])
    assert not any(p.requires_grad for p in mar.parameters())
    assert not (tmp_path / "partial-mar.safetensors").exists()  # checkpoints only every CHECKPOINT_EVERY steps


def test_head_stage_teaches_the_first_step_and_leaves_the_transformer_alone():
    torch.manual_seed(0)
    mar = MARModel(**MAR)
    posterior = DiagonalGaussian(torch.randn(40, 8, 8, 8), torch.full((40, 8, 8, 8), -4.0))
    labels = torch.arange(40) % 10
    recipe = {**train_mar.RECIPE, "mar_head_steps": 40, "mar_head_lr": 1e-3, "mar_head_images": 32,
              "mar_head_batch": 256}
    held_tokens, held_conditions = head_rows(mar, posterior, labels, 1.0, count=40, seed=9)
    held_tokens, held_conditions = held_tokens[-300:], held_conditions[-300:]  # rows of images 32-39: not trained on
    before = first_step_error(mar, held_tokens, held_conditions)
    transformer = {k: v.clone() for k, v in mar.state_dict().items() if not k.startswith("diffloss.")}
    losses = train_head(mar, posterior, labels, 1.0, recipe, lambda *a: None)
    assert len(losses) == 40
    assert first_step_error(mar, held_tokens, held_conditions) < 0.5 * before
    assert all(torch.equal(v, mar.state_dict()[k]) for k, v in transformer.items())
    assert not any(p.requires_grad for p in mar.parameters())
    with pytest.raises(ValueError, match="only 40 were prepared"):
        train_head(mar, posterior, labels, 1.0, {**recipe, "mar_head_images": 41}, lambda *a: None)


def test_ema_ramps_its_decay_up():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.999)
    torch.nn.init.ones_(model.weight)
    ema.update()  # first update: decay (1 + 1) / (10 + 1), not 0.999
    assert ema.average["weight"].item() == pytest.approx(1 - 2 / 11)
    ema.updates = 10_000
    ema.update()  # late: the configured decay
    assert ema.average["weight"].item() == pytest.approx(1 - 2 / 11 * 0.999)


def test_shipped_mar_shapes_is_small_and_records_its_recipe(arctl_cli):
    size = sum(p.stat().st_size for p in REPO.iterdir() if p.is_file())
    assert size <= 4 * 2**20
    record = json.loads((REPO / "config.json").read_text())
    assert record["recipe"]["seed"] == 0 and record["resolution"] == 64 and record["family"] == "mar"
    info = json.loads(arctl_cli.invoke(["models", "mar-shapes", "--json"], manager=mar_manager()).stdout)
    assert info["cached"] == "shipped"
    assert info["config"]["latent_scale"] == record["latent_scale"] and info["config"]["mar"] == record["mar"]


def test_generate_mar_shapes_with_disa_offline_writes_a_judged_image(arctl_cli, tmp_path):
    pm = mar_manager()
    result = arctl_cli.invoke(["generate", "mar-shapes", "--class", "3", "--sampler", "disa", "--seed", "0",
                               "--out", str(tmp_path), "--json"], manager=pm, env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 0, result.output
    path = json.loads(result.stdout)["images"][0]["path"]
    recipe = read_recipe(path)
    assert recipe["model"] == "mar-shapes" and recipe["condition"] == 3 and recipe["sampling"]["sampler"] == "disa"
    assert recipe["options"]["upper"] == 50 and recipe["options"]["lower"] == 5
    judged = arctl_cli.invoke(["shapes", "judge", path, "--json"], manager=pm)
    assert judged.exit_code == 0, judged.output
    assert len(json.loads(judged.stdout)) == 1


@pytest.mark.parametrize("sampler", ["disa", "multinomial"])
def test_shipped_mar_shapes_class_fidelity(sampler):
    """The default (DiSA) and MAR's own chain from t = 999, which the head stage made usable."""
    row = evaluate(mar_manager(), "mar-shapes", num=100, seed=1, sampling={**QUICK, "sampler": sampler})
    assert row.images == 100 and row.passes_per_image == 16 and row.sampling["sampler"] == sampler
    assert row.class_fidelity >= MIN_QUICK_FIDELITY[sampler]
    assert row.fd_floor < row.fd < 400
