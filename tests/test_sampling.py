"""The sampling seam: top-k / top-p / temperature semantics, CFG schedules, the processor chain and seeded draws.

The semantics pinned here are the official samplers' (VAR quirk 9, LlamaGen's ``sample()``): top-k keeps every logit
>= the k-th largest, top-p is VAR's ascending-cumsum version that never drops the best token, the temperature is
floored at 1e-5, and draws consume the run's ``torch.Generator`` exactly like a direct ``torch.multinomial`` call.
"""

from __future__ import annotations

import math

import pytest
import torch

from arctl.sampling import (
    CFGSchedule,
    ConstantCFG,
    GreedySampler,
    HalfLinearCFG,
    IntervalCFG,
    LinearCFG,
    MultinomialSampler,
    Sampler,
    StepContext,
    Temperature,
    TokenSampling,
    TopK,
    TopP,
)

NEG_INF = float("-inf")


def ctx(step: int = 0, num_steps: int = 1) -> StepContext:
    return StepContext(step=step, num_steps=num_steps)


def kept(logits: torch.Tensor) -> list:
    return torch.isfinite(logits).tolist()


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- top-k ---------------------------------------------------------------------------------------


def test_top_k_keeps_the_k_largest_and_sets_the_rest_to_minus_inf():
    logits = torch.tensor([1.0, 5.0, 3.0, -2.0, 4.0, 0.0])
    out = TopK(3)(logits)
    assert kept(out) == [False, True, True, False, True, False]
    # Kept logits are untouched, removed ones are exactly -inf (not a large negative number).
    assert out[[1, 2, 4]].tolist() == [5.0, 3.0, 4.0]
    assert out[[0, 3, 5]].tolist() == [NEG_INF] * 3


def test_top_k_ties_with_the_kth_largest_survive():
    logits = torch.tensor([2.0, 7.0, 2.0, 5.0, 2.0, 1.0])
    # The 2nd largest is 5, the 3rd largest is 2 (three of them): every logit >= 2 survives.
    assert kept(TopK(2)(logits)) == [False, True, False, True, False, False]
    assert kept(TopK(3)(logits)) == [True, True, True, True, True, False]


@pytest.mark.parametrize("k", [0, 6, 7, 1000])
def test_top_k_zero_or_at_least_the_vocab_keeps_everything(k):
    logits = torch.tensor([0.5, -1.0, 3.0, 2.0, -7.0, 0.0])
    out = TopK(k)(logits)
    assert torch.equal(out, logits)
    assert torch.isfinite(out).all()


def test_top_k_one_keeps_only_the_argmax():
    logits = torch.tensor([[0.1, 0.9, 0.3], [4.0, -1.0, 2.0]])
    assert kept(TopK(1)(logits)) == [[False, True, False], [True, False, False]]


def test_top_k_is_row_wise_on_three_dimensional_logits():
    g = seeded(0)
    logits = torch.randn(3, 4, 50, generator=g)
    out = TopK(5)(logits)
    assert out.shape == logits.shape
    for b in range(3):
        for position in range(4):
            row = logits[b, position]
            fifth = row.sort(descending=True).values[4]
            assert torch.equal(torch.isfinite(out[b, position]), row >= fifth)
            assert torch.isfinite(out[b, position]).sum().item() == 5


# --- top-p ---------------------------------------------------------------------------------------

PROBS = torch.tensor([0.5, 0.3, 0.15, 0.05])


def test_top_p_one_keeps_everything():
    logits = torch.randn(2, 3, 17, generator=seeded(1))
    assert torch.equal(TopP(1.0)(logits), logits)


def test_top_p_tiny_keeps_only_the_argmax():
    logits = torch.randn(8, 64, generator=seeded(2))
    out = TopP(1e-6)(logits)
    assert torch.equal(torch.isfinite(out), torch.nn.functional.one_hot(logits.argmax(-1), 64).bool())
    # The survivor keeps its value.
    assert torch.equal(out.max(-1).values, logits.max(-1).values)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.8, [True, True, False, False]),  # 0.05 + 0.15 = 0.2 <= 1 - 0.8: both dropped
        (0.81, [True, True, True, False]),  # 0.2 > 0.19: the 0.15 token stays
        (0.75, [True, True, False, False]),
        (0.5, [True, False, False, False]),  # 0.05 + 0.15 + 0.3 = 0.5 <= 0.5: only the best is left
        (0.51, [True, True, False, False]),
        (0.96, [True, True, True, True]),
        (0.9, [True, True, True, False]),
    ],
)
def test_top_p_hand_computed(p, expected):
    logits = PROBS.log()
    out = TopP(p)(logits)
    assert kept(out) == expected
    assert out[torch.tensor(expected)].tolist() == logits[torch.tensor(expected)].tolist()
    assert all(v == NEG_INF for v, keep in zip(out.tolist(), expected) if not keep)


def test_top_p_ignores_the_order_of_the_vocabulary():
    order = torch.tensor([2, 0, 3, 1])  # probabilities 0.15, 0.5, 0.05, 0.3
    logits = PROBS.log()[order]
    assert kept(TopP(0.8)(logits)) == [False, True, False, True]
    assert kept(TopP(0.81)(logits)) == [True, True, False, True]


def test_top_p_never_removes_the_best_token_even_when_it_is_dominated_by_the_mass_threshold():
    # A flat distribution: every cumulative sum is <= 1 - p for all but the last sorted entry.
    logits = torch.zeros(5, 10)
    logits[torch.arange(5), torch.tensor([0, 3, 9, 4, 4])] = 1e-3
    out = TopP(1e-9)(logits)
    assert torch.isfinite(out).sum(-1).tolist() == [1] * 5
    assert out.argmax(-1).tolist() == [0, 3, 9, 4, 4]


@pytest.mark.parametrize("p", [1e-9, 1e-6, 0.3])
def test_top_p_keeps_the_best_token_when_it_holds_all_the_mass(p):
    # The cumulative sum reaches 1.0, which is <= 1 - p in float32 for tiny p: only the explicit guard keeps the best.
    peaked = torch.tensor([[-200.0, 0.0, -150.0], [0.0, -300.0, -300.0]])
    out = TopP(p)(peaked)
    assert kept(out) == [[False, True, False], [True, False, False]]
    single = TopP(p)(torch.tensor([[1.5]]))
    assert single.tolist() == [[1.5]]


def test_top_p_is_row_wise_on_three_dimensional_logits():
    rows = [
        [0.5, 0.3, 0.15, 0.05],
        [0.05, 0.15, 0.3, 0.5],
        [0.35, 0.3, 0.25, 0.1],
        [0.97, 0.01, 0.01, 0.01],
        [0.15, 0.05, 0.5, 0.3],
        [0.4, 0.3, 0.2, 0.1],
    ]
    logits = torch.tensor(rows).log().view(2, 3, 4)
    out = TopP(0.7)(logits)
    assert out.shape == (2, 3, 4)
    expected = torch.stack([torch.isfinite(TopP(0.7)(torch.tensor(r).log())) for r in rows]).view(2, 3, 4)
    assert torch.equal(torch.isfinite(out), expected)
    assert torch.isfinite(out).view(6, 4).tolist() == [
        [True, True, False, False],
        [False, False, True, True],
        [True, True, True, False],
        [True, False, False, False],
        [False, False, True, True],
        [True, True, False, False],
    ]


# --- temperature ---------------------------------------------------------------------------------


def test_temperature_divides_the_logits():
    logits = torch.tensor([2.0, -4.0, 1.0])
    assert torch.equal(Temperature(2.0)(logits), torch.tensor([1.0, -2.0, 0.5]))
    assert torch.allclose(Temperature(0.5)(logits), torch.tensor([4.0, -8.0, 2.0]))


def test_temperature_one_is_the_identity():
    logits = torch.randn(3, 11, generator=seeded(3))
    assert torch.equal(Temperature(1.0)(logits), logits)


@pytest.mark.parametrize("t", [0.0, 1e-9, -1.0])
def test_temperature_is_floored_at_1e_5(t):
    proc = Temperature(t)
    assert proc.temperature == 1e-5
    logits = torch.tensor([1.0, 0.5, -0.25], dtype=torch.float64)
    assert torch.allclose(proc(logits), logits / 1e-5)
    assert torch.isfinite(proc(logits)).all()


# --- CFG schedules -------------------------------------------------------------------------------


@pytest.fixture
def branches():
    g = seeded(4)
    return torch.randn(2, 32, generator=g) * 3, torch.randn(2, 32, generator=g) * 3


@pytest.mark.parametrize("w", [0.0, 1.5, 4.0, 7.25])
def test_constant_cfg_merge(branches, w):
    cond, uncond = branches
    schedule = ConstantCFG(w)
    for step in range(4):
        c = ctx(step, 4)
        assert schedule.weight(c) == w
        assert torch.allclose(schedule.merge(cond, uncond, c), uncond + w * (cond - uncond), atol=1e-6)


def test_cfg_schedule_base_is_the_constant_schedule(branches):
    cond, uncond = branches
    assert torch.equal(CFGSchedule(2.5).merge(cond, uncond, ctx(1, 3)), ConstantCFG(2.5).merge(cond, uncond, ctx(1, 3)))


def test_linear_cfg_is_vars_formula(branches):
    cond, uncond = branches
    schedule = LinearCFG(3.0)
    num_steps = 5
    for step in range(num_steps):
        c = ctx(step, num_steps)
        t = 3.0 * step / (num_steps - 1)
        assert schedule.weight(c) == pytest.approx(1.0 + t)
        expected = (1 + t) * cond - t * uncond
        assert torch.allclose(schedule.merge(cond, uncond, c), expected, atol=1e-6)
    # The first step (progress 0) is exactly the conditional logits.
    assert torch.equal(schedule.merge(cond, uncond, ctx(0, num_steps)), cond)
    # The last step uses 1 + cfg.
    assert torch.allclose(schedule.merge(cond, uncond, ctx(4, 5)), 4.0 * cond - 3.0 * uncond, atol=1e-5)


def test_uses_guidance():
    assert LinearCFG(0.0).uses_guidance is False
    assert LinearCFG(1.0).uses_guidance is True
    assert LinearCFG(4.0).uses_guidance is True
    assert ConstantCFG(1.0).uses_guidance is False
    assert ConstantCFG(0.0).uses_guidance is False  # LlamaGen guides only when cfg > 1
    assert ConstantCFG(0.5).uses_guidance is False
    assert ConstantCFG(4.0).uses_guidance is True
    assert HalfLinearCFG(1.0).uses_guidance is False
    assert IntervalCFG(1.0, cfg_cutoff=0.5).uses_guidance is False
    assert IntervalCFG(2.0, cfg_cutoff=0.5).uses_guidance is True
    # Without guidance no step asks for the unconditional branch.
    assert not any(ConstantCFG(1.0).active(ctx(s, 4)) for s in range(4))
    assert not any(LinearCFG(0.0).active(ctx(s, 4)) for s in range(4))


def test_half_linear_cfg_weights(branches):
    schedule = HalfLinearCFG(5.0)
    assert schedule.weight(StepContext(0, 9)) == 1.0
    assert schedule.weight(StepContext(2, 9)) == pytest.approx(3.0)  # progress 0.25: midway between 1 and 5
    assert schedule.weight(StepContext(4, 9)) == pytest.approx(5.0)  # progress 0.5
    assert schedule.weight(StepContext(6, 9)) == pytest.approx(5.0)
    assert schedule.weight(StepContext(8, 9)) == pytest.approx(5.0)
    assert schedule.weight(StepContext(1, 9)) == pytest.approx(2.0)
    cond, uncond = branches
    assert torch.allclose(schedule.merge(cond, uncond, StepContext(2, 9)), uncond + 3.0 * (cond - uncond), atol=1e-5)


def test_interval_cfg_active_up_to_the_cutoff(branches):
    schedule = IntervalCFG(4.0, cfg_cutoff=0.5)
    active = [schedule.active(ctx(s, 5)) for s in range(5)]  # progress 0, .25, .5, .75, 1
    assert active == [True, True, True, False, False]
    assert [schedule.weight(ctx(s, 5)) for s in range(5)] == [4.0, 4.0, 4.0, 1.0, 1.0]
    cond, uncond = branches
    assert torch.allclose(schedule.merge(cond, uncond, ctx(1, 5)), uncond + 4.0 * (cond - uncond), atol=1e-5)
    assert torch.allclose(schedule.merge(cond, uncond, ctx(3, 5)), cond, atol=1e-5)
    # Through the pipeline an inactive step is the conditional logits, bit for bit (LlamaGen's cfg_flag=False).
    pipeline = TokenSampling(GreedySampler(), schedule, seeded(0))
    assert pipeline.guidance_active(ctx(2, 5)) and not pipeline.guidance_active(ctx(3, 5))
    assert torch.equal(pipeline.merge(cond, ctx(3, 5), uncond), cond)
    assert torch.equal(pipeline.merge(cond, ctx(4, 5), uncond), cond)
    assert torch.allclose(pipeline.merge(cond, ctx(0, 5), uncond), uncond + 4.0 * (cond - uncond), atol=1e-5)


def test_interval_cfg_cutoff_one_is_always_active():
    schedule = IntervalCFG(3.0, cfg_cutoff=1.0)  # the option's default
    assert all(schedule.active(ctx(s, 7)) for s in range(7))
    assert not IntervalCFG(3.0, cfg_cutoff=0.0).active(ctx(1, 7))
    assert IntervalCFG(3.0, cfg_cutoff=0.0).active(ctx(0, 7))


def test_step_context_progress():
    assert StepContext(0, 10).progress == 0.0
    assert StepContext(9, 10).progress == 1.0
    assert StepContext(3, 10).progress == pytest.approx(1 / 3)
    assert StepContext(1, 5).progress == 0.25
    assert StepContext(0, 1).progress == 1.0
    assert StepContext(0, 1, scale=3, position=(1, 2)).progress == 1.0


# --- the processor chain -------------------------------------------------------------------------


class Recorder:
    def __init__(self, bias: torch.Tensor | None = None):
        self.seen: list[torch.Tensor] = []
        self.bias = bias

    def __call__(self, logits, ctx):
        self.seen.append(logits.clone())
        return logits if self.bias is None else logits + self.bias


def test_process_is_merge_then_processors_then_temperature_top_k_top_p():
    cond = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, 3.0]])
    uncond = torch.tensor([[1.0, 1.5, 0.0, 0.5, -2.0, 1.0]])
    w = 2.0
    merged = uncond + w * (cond - uncond)  # [3, 0.5, 1, -0.5, 0, 5]
    bias = torch.tensor([[0.0, 4.0, 0.0, 0.0, 0.0, 0.0]])
    first, second = Recorder(bias), Recorder()
    sampler = MultinomialSampler(temperature=0.5, top_k=3, top_p=0.9)
    pipeline = TokenSampling(sampler, ConstantCFG(w), seeded(0), processors=[first, second])
    c = ctx(1, 3)
    out = pipeline.process(cond, c, uncond)

    # The extra processors see the CFG-merged logits, untouched by temperature, in order.
    assert len(first.seen) == 1 and torch.equal(first.seen[0], merged)
    assert torch.equal(second.seen[0], merged + bias)
    expected = TopP(0.9)(TopK(3)(Temperature(0.5)(merged + bias)))
    assert torch.equal(out, expected)
    # [3, 4.5, 1, -.5, 0, 5] / 0.5 -> top-3 {0, 1, 5} -> top-p 0.9 drops token 0 (prob ~0.09 <= 0.1).
    assert kept(out) == [[False, True, False, False, False, True]]


def test_temperature_is_applied_before_top_p():
    # At temperature 1 top-p 0.8 keeps two tokens; a hot temperature flattens the distribution so it keeps three.
    logits = PROBS.log().unsqueeze(0)
    cold = TokenSampling(MultinomialSampler(temperature=1.0, top_p=0.8), ConstantCFG(1.0), seeded(0))
    hot = TokenSampling(MultinomialSampler(temperature=3.0, top_p=0.8), ConstantCFG(1.0), seeded(0))
    assert kept(cold.process(logits, ctx())) == [[True, True, False, False]]
    assert kept(hot.process(logits, ctx())) == [[True, True, True, False]]
    assert torch.allclose(hot.process(logits, ctx())[0, :3], logits[0, :3] / 3.0)


def test_processor_output_is_what_top_k_sees():
    # A processor that boosts a weak token makes it survive top-k 1: processors run before the sampler's filters.
    logits = torch.tensor([[5.0, 0.0, 1.0]])
    boost = Recorder(torch.tensor([[0.0, 10.0, 0.0]]))
    pipeline = TokenSampling(MultinomialSampler(top_k=1), ConstantCFG(1.0), seeded(0), processors=[boost])
    assert kept(pipeline.process(logits, ctx())) == [[False, True, False]]
    assert pipeline.sample(logits, ctx()).tolist() == [1]


def test_no_merge_without_uncond_or_without_guidance():
    cond = torch.randn(2, 8, generator=seeded(5))
    uncond = torch.randn(2, 8, generator=seeded(6))
    rec = Recorder()
    guided = TokenSampling(GreedySampler(), ConstantCFG(3.0), seeded(0), processors=[rec])
    guided.process(cond, ctx(), None)
    assert torch.equal(rec.seen[-1], cond)
    unguided = TokenSampling(GreedySampler(), ConstantCFG(1.0), seeded(0), processors=[rec])
    assert unguided.uses_guidance is False and guided.uses_guidance is True
    unguided.process(cond, ctx(), uncond)
    assert torch.equal(rec.seen[-1], cond)
    linear = TokenSampling(GreedySampler(), LinearCFG(2.0), seeded(0), processors=[rec])
    linear.process(cond, ctx(2, 3), uncond)
    assert torch.allclose(rec.seen[-1], 3.0 * cond - 2.0 * uncond, atol=1e-6)


# --- draws ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("replacement", [True, False])
def test_same_seed_same_tokens_different_seed_different_tokens(replacement):
    logits = torch.randn(256, 100, generator=seeded(7))
    sampler = MultinomialSampler(temperature=1.0)

    def draw(seed):
        return TokenSampling(sampler, ConstantCFG(1.0), seeded(seed)).sample(logits, ctx(), replacement=replacement)

    a, b, c = draw(11), draw(11), draw(12)
    assert a.shape == (256,) and a.dtype == torch.int64
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert (a != c).sum().item() > 128  # most of the 256 draws differ
    assert a.min().item() >= 0 and a.max().item() < 100


def test_replacement_true_consumes_the_generator_like_a_flat_multinomial():
    logits = torch.randn(3, 5, 40, generator=seeded(8))
    probs = logits.softmax(-1)
    g_ref = seeded(123)
    expected = torch.stack(
        [torch.multinomial(probs.view(-1, 40), 1, replacement=True, generator=g_ref).view(3, 5) for _ in range(3)]
    )
    g = seeded(123)
    sampler = MultinomialSampler()
    got = torch.stack([sampler.draw(logits, g, replacement=True) for _ in range(3)])
    assert got.shape == (3, 3, 5)
    assert torch.equal(got, expected)
    assert torch.equal(g.get_state(), g_ref.get_state())


def test_replacement_false_consumes_the_generator_like_llamagen():
    logits = torch.randn(6, 64, generator=seeded(9))
    probs = torch.softmax(logits, dim=-1)
    g_ref = seeded(1234)
    expected = torch.cat([torch.multinomial(probs, 1, generator=g_ref) for _ in range(4)], dim=1)
    g = seeded(1234)
    sampler = MultinomialSampler()
    got = torch.stack([sampler.draw(logits, g, replacement=False) for _ in range(4)], dim=1)
    assert got.shape == (6, 4)
    assert torch.equal(got, expected)
    assert torch.equal(g.get_state(), g_ref.get_state())


def test_sample_draws_from_the_processed_logits_with_the_pipeline_generator():
    cond = torch.randn(4, 30, generator=seeded(11))
    uncond = torch.randn(4, 30, generator=seeded(12))
    sampler = MultinomialSampler(temperature=0.7, top_k=10, top_p=0.95)
    pipeline = TokenSampling(sampler, LinearCFG(2.0), seeded(99))
    c = ctx(3, 4)
    got = pipeline.sample(cond, c, uncond, replacement=False)
    merged = cond * 3.0 - uncond * 2.0
    processed = TopP(0.95)(TopK(10)(Temperature(0.7)(merged)))
    expected = torch.multinomial(processed.softmax(-1), 1, generator=seeded(99)).view(4)
    assert torch.equal(got, expected)
    assert torch.isfinite(processed[torch.arange(4), got]).all()


def test_token_sampling_draw_uses_the_pipeline_generator_on_processed_logits():
    logits = torch.randn(5, 20, generator=seeded(15))
    pipeline = TokenSampling(MultinomialSampler(top_k=4), ConstantCFG(1.0), seeded(77))
    processed = pipeline.process(logits, ctx())
    got = pipeline.draw(processed, replacement=False)
    assert torch.equal(got, torch.multinomial(processed.softmax(-1), 1, generator=seeded(77)).view(5))
    again = TokenSampling(MultinomialSampler(top_k=4), ConstantCFG(1.0), seeded(77)).sample(logits, ctx(), replacement=False)
    assert torch.equal(got, again)


def test_multinomial_draws_in_float32_from_half_precision_logits():
    logits = torch.randn(8, 16, generator=seeded(13)).to(torch.bfloat16)
    tokens = MultinomialSampler().draw(logits, seeded(0))
    expected = torch.multinomial(logits.float().softmax(-1), 1, replacement=True, generator=seeded(0)).view(8)
    assert torch.equal(tokens, expected)


def test_greedy_returns_argmax_and_ignores_the_generator():
    logits = torch.randn(2, 3, 50, generator=seeded(14))
    g = seeded(0)
    state = g.get_state()
    tokens = GreedySampler().draw(logits, g)
    assert torch.equal(tokens, logits.argmax(-1))
    assert tokens.shape == (2, 3)
    assert torch.equal(g.get_state(), state)  # nothing drawn from the generator
    other = TokenSampling(GreedySampler(), ConstantCFG(1.0), seeded(1)).sample(logits, ctx())
    assert torch.equal(other, tokens)
    assert GreedySampler().processors() == []


def test_top_k_two_distribution():
    # Two tokens dominate; top-k 2 removes the rest, the draws follow the renormalised softmax of the two.
    base = torch.tensor([3.0, -1.0, 2.0, -1.5, -0.5, -2.0, -1.0, -3.0])
    logits = base.expand(2000, -1).clone()
    sampler = MultinomialSampler(top_k=2)
    pipeline = TokenSampling(sampler, ConstantCFG(1.0), seeded(2024))
    tokens = pipeline.sample(logits, ctx())
    assert set(tokens.unique().tolist()) == {0, 2}
    p0 = math.exp(3.0) / (math.exp(3.0) + math.exp(2.0))  # 0.731
    freq0 = (tokens == 0).float().mean().item()
    # Binomial std at n=2000 is ~0.0099: allow four standard deviations.
    assert abs(freq0 - p0) < 0.04
    # Without top-k the other tokens do show up.
    free = TokenSampling(MultinomialSampler(), ConstantCFG(1.0), seeded(2024)).sample(logits, ctx())
    assert set(free.unique().tolist()) - {0, 2}


def test_diffusion_steps_default_for_builtin_samplers():
    c = ctx(2, 5)
    assert MultinomialSampler().diffusion_steps(c, 7) == 7
    assert GreedySampler().diffusion_steps(c, 100) == 100
    assert Sampler().diffusion_steps(c, 3) == 3
    assert TokenSampling(MultinomialSampler(), ConstantCFG(1.0), seeded(0)).diffusion_steps(c, 25) == 25


def test_diffusion_clip_and_temperature_defaults():
    c = ctx(2, 5)
    assert Sampler().diffusion_clip(c) == 1.0 and Sampler().diffusion_temperature(c) == 1.0
    assert GreedySampler().diffusion_temperature(c) == 1.0
    sampling = TokenSampling(MultinomialSampler(temperature=0.95), ConstantCFG(1.0), seeded(0))
    assert sampling.diffusion_temperature(c) == 0.95 and sampling.diffusion_clip(c) == 1.0


def test_sampler_describe_and_processors():
    sampler = MultinomialSampler(temperature=0.9, top_k=16, top_p=0.9, extra=3)
    assert sampler.describe() == {"temperature": 0.9, "top_k": 16, "top_p": 0.9, "extra": 3}
    kinds = [type(p) for p in sampler.processors()]
    assert kinds == [Temperature, TopK, TopP]
    with pytest.raises(NotImplementedError):
        Sampler().draw(torch.zeros(1, 2), seeded(0))
