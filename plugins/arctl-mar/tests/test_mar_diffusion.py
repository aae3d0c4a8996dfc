"""The diffusion head and its Gaussian diffusion against the official outputs: schedules, the head's forward,
training losses, p_mean_variance, and whole denoising loops with the official noise replayed."""

import json
from pathlib import Path

import pytest
import torch
from arctl_mar.diffusion import GaussianDiffusion
from arctl_mar.head import timestep_features
from arctl_mar.noise import ReplayedNoise
from arctl_mar.testing import GoldenCase, assert_close_rows

CASE = GoldenCase(Path(__file__).parent / "fixtures")
CONFIG, INPUTS, OUTPUTS = CASE.config, CASE.inputs, CASE.outputs
SCHEDULES = json.loads((CASE.folder / "diffusion_schedules.json").read_text())

TOL = {"atol": 1e-4, "rtol": 1e-4}  # observed: head 7e-6 (guided 2.5e-5), losses 6e-5
SAMPLE_ATOL = 1e-3  # observed: 3e-6 unguided, 1.2e-4 guided (conditional rows)
FIELDS = ("alphas_cumprod", "alphas_cumprod_prev", "betas", "posterior_log_variance_clipped", "posterior_mean_coef1",
          "posterior_mean_coef2", "posterior_variance", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
          "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod")


@pytest.fixture(scope="module")
def head():
    return CASE.load_mar().diffloss


@pytest.mark.parametrize("respacing", ["100", "50", "25", "5", "train1000"])
def test_schedules_are_exact(respacing):
    chain = GaussianDiffusion.respaced(1000 if respacing == "train1000" else int(respacing))
    assert chain.timestep_map == OUTPUTS[f"sched/{respacing}/timestep_map"].tolist()
    for field in FIELDS:
        torch.testing.assert_close(torch.from_numpy(getattr(chain, field)), OUTPUTS[f"sched/{respacing}/{field}"],
                                   atol=0, rtol=0)
    listed = SCHEDULES["1000(train,'')" if respacing == "train1000" else respacing]
    assert chain.num_timesteps == listed["num_timesteps"] and chain.timestep_map == listed["timestep_map"]


def test_timestep_features_and_embedding(head):
    t = INPUTS["diffloss/t"]
    # float32 sines of arguments up to ~1000 differ in the last place between vectorised kernels (ulp 6e-5)
    torch.testing.assert_close(timestep_features(t), OUTPUTS["diffloss/timestep_embedding_freq"], atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(head.net.time_embed(t), OUTPUTS["diffloss/time_embed"], **TOL)


def test_head_forward_and_guided_forward(head):
    with torch.no_grad():
        out = head.net(INPUTS["diffloss/x"], INPUTS["diffloss/t"], INPUTS["diffloss/c"])
        guided = head.net.forward_with_cfg(INPUTS["diffloss/cfg_x"], INPUTS["diffloss/cfg_t"], INPUTS["diffloss/cfg_c"],
                                           INPUTS["diffloss/cfg_scale"].item())
    torch.testing.assert_close(out, OUTPUTS["diffloss/net_out"], **TOL)
    torch.testing.assert_close(guided, OUTPUTS["diffloss/net_forward_with_cfg"], **TOL)


def test_training_losses(head):
    c = INPUTS["diffloss/c"]
    with torch.no_grad():
        losses = head.train_diffusion.training_losses(lambda x, t: head.net(x, t, c), INPUTS["diffloss/train_x_start"],
                                                      INPUTS["diffloss/train_t"], INPUTS["diffloss/train_noise"])
    for key in ("loss", "mse", "vb"):
        torch.testing.assert_close(losses[key], OUTPUTS[f"diffloss/training_losses_{key}"], **TOL)


def test_p_mean_variance(head):
    c = INPUTS["pmv/c"]
    with torch.no_grad():
        out = GaussianDiffusion.respaced(100).p_mean_variance(lambda x, t: head.net(x, t, c), INPUTS["pmv/x"],
                                                             INPUTS["pmv/t_index"])
    for key in ("variance", "log_variance"):
        torch.testing.assert_close(out[key], OUTPUTS[f"pmv/{key}"], **TOL)
    for key in ("mean", "pred_xstart"):  # up to 2e3 at t = 999: compared relative to their magnitude
        expected = OUTPUTS[f"pmv/{key}"]
        torch.testing.assert_close(out[key], expected, atol=1e-4 * expected.abs().max().item(), rtol=0)


@pytest.mark.parametrize(("name", "temperature"), [("loop/nocfg_T1.0", 1.0), ("loop/nocfg_T0.95", 0.95)])
def test_unguided_loop(head, name, temperature):
    c = INPUTS["loop/c"]
    with torch.no_grad():
        sample = GaussianDiffusion.respaced(100).p_sample_loop(lambda x, t: head.net(x, t, c), INPUTS["loop/noise"],
                                                               ReplayedNoise(CASE.recorded_draws(name)), temperature)
    torch.testing.assert_close(sample, OUTPUTS[f"{name}/sample"], atol=SAMPLE_ATOL, rtol=0)


def test_guided_loop(head):
    c = torch.cat([INPUTS["loop/c"], INPUTS["loop/c_uncond"]])
    noise, scale = INPUTS["loop/noise"], INPUTS["loop/cfg_scale"].item()
    with torch.no_grad():
        sample = GaussianDiffusion.respaced(100).p_sample_loop(
            lambda x, t: head.net.forward_with_cfg(x, t, c, scale), torch.cat([noise, noise]),
            ReplayedNoise(CASE.recorded_draws("loop/cfg_T1.0")))
    assert_close_rows(sample, OUTPUTS["loop/cfg_T1.0/sample"], 2, SAMPLE_ATOL)


@pytest.mark.parametrize("guided", [False, True])
def test_head_sample_draws_its_start_then_denoises(head, guided):
    name = "dlsample/cfg" if guided else "dlsample/nocfg"
    z = INPUTS["dlsample/z"] if guided else INPUTS["loop/c"]
    noise = ReplayedNoise(CASE.recorded_draws(name))
    with torch.no_grad():
        sample = head.sample(z, GaussianDiffusion.respaced(100), noise, 1.0,
                             INPUTS["loop/cfg_scale"].item() if guided else None)
    assert noise.used == len(noise.draws)
    assert_close_rows(sample, OUTPUTS[f"{name}/sample"], 2, SAMPLE_ATOL)


def test_training_loss_of_the_head_is_masked_mean(head):
    z, target = INPUTS["diffloss/c"], INPUTS["diffloss/train_x_start"]
    mask = torch.tensor([1.0, 0, 1, 0, 1, 0])
    loss = head(target, z, mask, torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    t = torch.randint(0, 1000, (6,), generator=generator)
    noise = torch.randn(target.shape, generator=generator)
    rows = head.train_diffusion.training_losses(lambda x, ts: head.net(x, ts, z), target, t, noise)["loss"]
    torch.testing.assert_close(loss, rows[mask.bool()].mean())
