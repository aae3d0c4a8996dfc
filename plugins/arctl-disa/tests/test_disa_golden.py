"""DiSA on MAR against the official DiSA code's outputs (shared/golden/disa/public), with the official noise
replayed: the chains it builds, whole denoising loops, DiffLoss.sample at chosen iterations and complete
sample_tokens runs with the linear and constant strategies."""

import json
from pathlib import Path

import pytest
import torch
from arctl_disa.sampler import DiSASampler
from arctl_mar.guidance import MaskLinearCFG
from arctl_mar.noise import ReplayedNoise
from arctl_mar.sampling import DiffusionChains, sample_tokens
from arctl_mar.testing import GoldenCase, assert_close_rows, official_orders, recorded_head_calls

from arctl.sampling import StepContext, TokenSampling

CASE = GoldenCase(Path(__file__).parent / "fixtures")
CONFIG, INPUTS, OUTPUTS = CASE.config, CASE.inputs, CASE.outputs
USED = json.loads((CASE.folder / "schedules_used.json").read_text())
KWARGS = CONFIG["mar_constructor"]["kwargs"]
UPPER, LOWER = KWARGS["diff_upper_steps"], KWARGS["diff_lower_steps"]
ATOL = 1e-3  # observed: 4.5e-5 at most (conditional rows)
TOL = {"atol": 1e-4, "rtol": 1e-4}
CLIP = 0.95  # the official code's cap on timesteps (t <= 950)


@pytest.fixture(scope="module")
def mar():
    return CASE.load_mar()


def chain(steps: int):
    return DiffusionChains().get(steps, CLIP)


@pytest.mark.parametrize("steps", range(3, 9))
def test_the_chains_are_the_official_ones(steps):
    listed = USED["gen_diffusion_list"][str(steps)]
    built = chain(steps)
    assert built.timestep_map == listed["timestep_map"]
    torch.testing.assert_close(torch.from_numpy(built.betas), torch.tensor(listed["betas"], dtype=torch.float64),
                               atol=1e-15, rtol=0)
    torch.testing.assert_close(torch.from_numpy(built.alphas_cumprod),
                               torch.tensor(listed["alphas_cumprod"], dtype=torch.float64), atol=1e-15, rtol=0)


def test_head_forward(mar):
    with torch.no_grad():
        out = mar.diffloss.net(INPUTS["diffloss/x"], INPUTS["diffloss/t"], INPUTS["diffloss/c"])
    torch.testing.assert_close(out, OUTPUTS["diffloss/net_out"], **TOL)


@pytest.mark.parametrize(("j", "guided"), [(0, False), (0, True), (5, False), (5, True)])
def test_loops(mar, j, guided):
    name = f"loop/sched{j}_{'cfg' if guided else 'nocfg'}"
    c, noise = INPUTS["loop/c"], INPUTS["loop/noise"]
    if guided:
        cond, scale = torch.cat([c, INPUTS["loop/c_uncond"]]), INPUTS["loop/cfg_scale"].item()
        model, start = (lambda x, t: mar.diffloss.net.forward_with_cfg(x, t, cond, scale)), torch.cat([noise, noise])
    else:
        model, start = (lambda x, t: mar.diffloss.net(x, t, c)), noise
    with torch.no_grad():
        sample = chain(LOWER + j).p_sample_loop(model, start, ReplayedNoise(CASE.recorded_draws(name)))
    assert_close_rows(sample, OUTPUTS[f"{name}/sample"], 2, ATOL)


@pytest.mark.parametrize("step", CONFIG["dl_steps"])
@pytest.mark.parametrize("guided", [False, True])
def test_head_sample_at_an_iteration(mar, step, guided):
    name = f"dlsample/step{step}_{'cfg' if guided else 'nocfg'}"
    sampler = DiSASampler(upper=UPPER, lower=LOWER, strategy=KWARGS["diff_annealing_strategy"], clip=CLIP)
    ctx = StepContext(step, CONFIG["dl_ar_num_iter"])
    steps = sampler.diffusion_steps(ctx, 100)
    assert steps == USED["observed_schedule_choices"][name][0]["num_steps"]
    chosen = DiffusionChains().get(steps, sampler.diffusion_clip(ctx))
    z = INPUTS["dlsample/z"] if guided else INPUTS["loop/c"]
    noise = ReplayedNoise(CASE.recorded_draws(name))
    with torch.no_grad():
        sample = mar.diffloss.sample(z, chosen, noise, 1.0, INPUTS["loop/cfg_scale"].item() if guided else None)
    assert noise.used == len(noise.draws)
    assert_close_rows(sample, OUTPUTS[f"{name}/sample"], 2, ATOL)


@pytest.mark.parametrize("j", range(len(CONFIG["sample_runs"])))
def test_sample_tokens_with_annealing(mar, j):
    config, name = CONFIG["sample_runs"][j], f"sample_tokens/run{j}"
    sampler = DiSASampler(temperature=config["temperature"], upper=UPPER, lower=LOWER, strategy=config["strategy"],
                          clip=CLIP)
    sampling = TokenSampling(sampler, MaskLinearCFG(config["cfg"]), torch.Generator())
    labels = torch.tensor(config["labels"]) if config["labels"] is not None else None
    noise = ReplayedNoise(CASE.recorded_draws(name))
    orders = official_orders(config["seed"], config["bsz"], mar.seq_len)
    with torch.no_grad(), recorded_head_calls(mar) as calls:
        latents = sample_tokens(mar, labels, config["bsz"], config["num_iter"], sampling, noise, orders)
    assert noise.used == len(noise.draws)
    torch.testing.assert_close(latents, OUTPUTS[f"{name}/tokens"], atol=ATOL, rtol=0)
    for k, (z, weight, sampled, used_chain) in enumerate(calls):
        step = f"{name}/ar_step{k}"
        assert used_chain.timestep_map == USED["observed_schedule_choices"][name][k]["timestep_map"]
        torch.testing.assert_close(z, OUTPUTS[f"{step}/z"], **TOL)
        assert (weight or 1.0) == OUTPUTS[f"{step}/cfg_iter"].item()
        assert_close_rows(sampled, OUTPUTS[f"{step}/sampled_latents"], len(sampled) // (2 if weight else 1), ATOL)
