"""MAR's generation loop against the official sample_tokens runs, with the official orders and noise replayed:
the condition z, the guidance weight and the sampled tokens of every iteration, and the final latents."""

from pathlib import Path

import pytest
import torch
from arctl_mar.guidance import MaskLinearCFG
from arctl_mar.noise import ReplayedNoise, SeededNoise
from arctl_mar.sampling import sample_tokens, unknown_after
from arctl_mar.testing import GoldenCase, assert_close_rows, official_orders, recorded_head_calls

from arctl.sampling import ConstantCFG, MultinomialSampler, StepContext, TokenSampling

CASE = GoldenCase(Path(__file__).parent / "fixtures")
CONFIG, INPUTS, OUTPUTS = CASE.config, CASE.inputs, CASE.outputs

ATOL = 1e-3  # observed: 1.1e-5 (tokens), 2.6e-6 (z)


def run(model, sampler, config: dict, name: str, noise=None):
    """sample_tokens for one recorded run; returns (latents, [(z, weight, sampled, chain) per iteration], noise)."""
    sampling = TokenSampling(sampler, MaskLinearCFG(config["cfg"]), torch.Generator())
    labels = torch.tensor(config["labels"]) if config["labels"] is not None else None
    noise = noise or ReplayedNoise(CASE.recorded_draws(name))
    orders = official_orders(config["seed"], config["bsz"], model.seq_len)
    with torch.no_grad(), recorded_head_calls(model) as calls:
        latents = sample_tokens(model, labels, config["bsz"], config["num_iter"], sampling, noise, orders)
    return latents, calls, noise


@pytest.mark.parametrize("j", range(len(CONFIG["sample_runs"])))
def test_sample_tokens_matches_the_official_runs(j):
    config = CONFIG["sample_runs"][j]
    name = f"sample_tokens/run{j}"
    latents, calls, noise = run(CASE.load_mar(), MultinomialSampler(temperature=config["temperature"]), config, name)
    assert noise.used == len(noise.draws)  # every recorded draw consumed, in order and shape
    assert torch.equal(official_orders(config["seed"], config["bsz"], 16), OUTPUTS[f"{name}/orders"])
    torch.testing.assert_close(latents, OUTPUTS[f"{name}/tokens"], atol=ATOL, rtol=0)
    assert len(calls) == config["num_iter"]
    for k, (z, weight, sampled, chain) in enumerate(calls):
        step = f"{name}/ar_step{k}"
        torch.testing.assert_close(z, OUTPUTS[f"{step}/z"], atol=1e-4, rtol=1e-4)
        assert (weight or 1.0) == OUTPUTS[f"{step}/cfg_iter"].item()  # float32 arithmetic, as official: exact
        assert chain.num_timesteps == 100 and chain.timestep_map[-1] == 999
        rows = len(sampled) // 2 if weight is not None else len(sampled)
        assert_close_rows(sampled, OUTPUTS[f"{step}/sampled_latents"], rows, ATOL)


def test_the_samplers_temperature_scales_the_diffusion_noise():
    config = {**CONFIG["sample_runs"][1], "num_iter": 2}
    model = CASE.load_mar()
    latents = [run(model, MultinomialSampler(temperature=t), config, "sample_tokens/run1",
                   noise=SeededNoise(torch.Generator().manual_seed(0)))[0] for t in (1.0, 0.5, 1.0)]
    assert torch.equal(latents[0], latents[2]) and not torch.allclose(latents[0], latents[1])


def test_unknown_positions_follow_the_cosine_schedule():
    left, counts = 256, []
    for step in range(64):
        after = unknown_after(step, 64, 256, left)
        counts.append(left - after if step < 63 else left)
        left = after
    assert sum(counts) == 256 and counts[:13] == [1] * 13 and counts[-1] == 6  # as the DiSA golden data lists
    assert [unknown_after(s, 4, 16, n) for s, n in ((0, 16), (1, 14), (2, 11), (3, 6))] == [14, 11, 6, 1]


def test_constant_schedule_guides_with_cfg_itself():
    sampling = TokenSampling(MultinomialSampler(), ConstantCFG(3.0), torch.Generator())
    assert sampling.schedule.weight(None) == 3.0 and sampling.uses_guidance
    assert MaskLinearCFG(0.5).uses_guidance and not MaskLinearCFG(1.0).uses_guidance


def test_mask_linear_reads_known_tokens_or_falls_back_to_progress():
    assert MaskLinearCFG(3.0).weight(StepContext(0, 4, extra={"known": 4, "total": 16})) == 1.5
    assert MaskLinearCFG(3.0).weight(StepContext(1, 3)) == 2.0  # a generator that does not count tokens
