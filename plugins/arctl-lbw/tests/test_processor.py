"""The in-generation processor on every logits shape the generators hand the chain, soft and hard."""

import pytest
import torch

from arctl.generation import batch_seed
from arctl.keys import WatermarkKey
from arctl.sampling import BatchInfo, ConstantCFG, LinearCFG, MultinomialSampler, StepContext, TokenSampling
from arctl_lbw.green import GreenLists
from arctl_lbw.processor import LBWProcessor

KEY = WatermarkKey.generate()
CTX = StepContext(step=0, num_steps=1)
INFO = BatchInfo(seed=3, index=0, items=(0, 1, 2, 3))


def lists_for(pool):
    built = {}
    return lambda vocab: built.setdefault(vocab, GreenLists(KEY, vocab, 0.25, pool))


@pytest.mark.parametrize("shape", [(4, 64), (4, 9, 64), (4, 1, 64)], ids=["llamagen-nar", "var-scale", "var-first"])
def test_soft_adds_delta_to_each_rows_green_codes(shape):
    lists = lists_for(pool=4)
    bound = LBWProcessor(lists, delta=2.5, hard=False).for_batch(INFO)
    logits = torch.randn(shape)
    out = bound(logits, CTX)
    green = torch.stack([lists(64).masks[lists(64).for_generated(3, item)] for item in INFO.items])
    expected = logits + 2.5 * green.view(4, *([1] * (len(shape) - 2)), 64)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("shape", [(4, 64), (4, 9, 64)])
def test_hard_leaves_only_green_codes(shape):
    lists = lists_for(pool=2)
    out = LBWProcessor(lists, delta=2.0, hard=True).for_batch(INFO)(torch.randn(shape), CTX)
    for row, item in enumerate(INFO.items):
        green = lists(64).masks[lists(64).for_generated(3, item)]
        assert torch.isfinite(out[row]).equal(green.expand_as(out[row]))


def test_rows_use_their_own_lists_and_the_batch_must_match():
    lists = lists_for(pool=8)
    picks = {lists(64).for_generated(3, item) for item in INFO.items}
    out = LBWProcessor(lists, delta=2.0, hard=True).for_batch(INFO)(torch.zeros(4, 64), CTX)
    assert len({tuple(torch.isfinite(row).tolist()) for row in out}) == len(picks) > 1
    with pytest.raises(ValueError, match="batch-first logits with 4 rows"):
        LBWProcessor(lists, delta=2.0, hard=False).for_batch(INFO)(torch.zeros(8, 64), CTX)  # e.g. [cond; uncond] not merged


@pytest.mark.parametrize("schedule", [ConstantCFG(4.0), LinearCFG(4.0)])
def test_hard_mark_survives_guidance_and_sampling(schedule):
    """In the core's chain the processor runs after the CFG merge and before top-k/top-p: every draw is green."""
    lists = lists_for(pool=4)
    sampling = TokenSampling(MultinomialSampler(top_k=5, top_p=0.9), schedule,
                             torch.Generator().manual_seed(batch_seed(3, 0)),
                             [LBWProcessor(lists, delta=2.0, hard=True).for_batch(INFO)])
    cond, uncond = torch.randn(4, 16, 64) * 3, torch.randn(4, 16, 64) * 3
    tokens = sampling.sample(cond, StepContext(step=1, num_steps=2), uncond)
    for row, item in enumerate(INFO.items):
        assert lists(64).masks[lists(64).for_generated(3, item)][tokens[row]].all()
