"""DiSA's step counts against the official code's (shared/golden/disa: 64 iterations, 50 -> 5 steps, every
strategy), the clipped chains they give MAR's diffusion, and the evaluations per image they imply."""

import json
from pathlib import Path

import pytest
from arctl_disa.annealing import STRATEGIES, schedule_index, steps_per_iteration
from arctl_disa.sampler import DiSASampler
from arctl_mar.sampling import DiffusionChains, unknown_after

from arctl.errors import UsageError
from arctl.sampling import StepContext

SCHEDULES = json.loads((Path(__file__).parent / "fixtures" / "disa_schedules.json").read_text())
PER_ITERATION = SCHEDULES["per_ar_iteration_num_iter64_upper50_lower5"]
CLIP = 0.95  # the official code's cap on timesteps (t <= 950)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_step_lists_match_the_official_code(strategy):
    expected = PER_ITERATION[strategy]
    assert steps_per_iteration(64, 50, 5, strategy) == expected["requested_steps"]
    assert [schedule_index(k, 64, 46, strategy) for k in range(64)] == expected["schedule_id"]
    sampler = DiSASampler(upper=50, lower=5, strategy=strategy, clip=CLIP)
    asked = [sampler.diffusion_steps(StepContext(k, 64), default=100) for k in range(64)]
    assert asked == expected["requested_steps"]  # the generator's default plays no part


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_clipped_chains_have_the_official_effective_steps(strategy):
    sampler, chains = DiSASampler(upper=50, lower=5, strategy=strategy, clip=CLIP), DiffusionChains()
    effective = [chains.get(sampler.diffusion_steps(StepContext(k, 64), 100), sampler.diffusion_clip(StepContext(k, 64)))
                 .num_timesteps for k in range(64)]
    assert effective == PER_ITERATION[strategy]["effective_steps_after_clip950"]


@pytest.mark.parametrize("steps", range(5, 51))
def test_clip_merges_the_noisiest_timesteps(steps):
    listed = SCHEDULES["timesteps_clip950_by_respacing"][str(steps)]
    chains = DiffusionChains()
    assert chains.get(steps, CLIP).timestep_map == listed["clipped_timestep_map"]
    assert chains.get(steps, 1.0).timestep_map == listed["unclipped_timestep_map"]
    assert chains.get(steps, CLIP).num_timesteps == listed["effective_num_steps"]


def test_the_clip_applied_to_the_training_chain_leaves_951_steps():
    # the official DiSA code also clips its training diffusion; only training would notice
    assert DiffusionChains().get(1000, 0.95).num_timesteps == SCHEDULES["train_diffusion_num_timesteps_in_DiSA"]


@pytest.mark.parametrize("setting", sorted(SCHEDULES["nfe"]))
def test_network_evaluations_per_image(setting):
    row = SCHEDULES["nfe"][setting]
    num_iter, guided = row["num_iter"], row["cfg"] != 1.0
    if setting.startswith("DiSA"):
        sampler = DiSASampler(upper=50, lower=5, strategy=setting.split("_")[1], clip=CLIP)
    else:
        sampler = DiSASampler(upper=100, lower=100, strategy="constant", clip=1.0)  # MAR's own: 100 unclipped steps
    chains, left, calls, rows = DiffusionChains(), 256, 0, 0
    for k in range(num_iter):
        after = unknown_after(k, num_iter, 256, left)
        tokens = left if k == num_iter - 1 else left - after
        ctx = StepContext(k, num_iter)
        steps = chains.get(sampler.diffusion_steps(ctx, 100), sampler.diffusion_clip(ctx)).num_timesteps
        calls, rows, left = calls + steps, rows + steps * tokens * (2 if guided else 1), after
    assert calls == row["diffusion_net_calls_per_image"]
    assert rows == row["diffusion_net_token_rows_per_image"]


def test_options_are_checked():
    with pytest.raises(UsageError, match="lower=9 is above -o upper=8"):
        DiSASampler(upper=8, lower=9, strategy="linear", clip=CLIP)
    with pytest.raises(ValueError, match="unknown strategy"):
        schedule_index(0, 4, 3, "quadratic")


def test_a_single_iteration_counts_as_the_first():
    for strategy in ("linear", "cosine", "two-stage"):
        assert steps_per_iteration(1, 50, 5, strategy) == [50]
    assert steps_per_iteration(1, 50, 5, "constant") == [5]


def test_it_still_draws_tokens_like_multinomial():
    sampler = DiSASampler(temperature=0.5, top_k=3, upper=8, lower=3, strategy="cosine", clip=1.0)
    assert sampler.describe() == {"temperature": 0.5, "top_k": 3, "top_p": 1.0, "upper": 8, "lower": 3,
                                  "strategy": "cosine", "clip": 1.0}
    assert sampler.diffusion_temperature(StepContext(0, 4)) == 0.5
