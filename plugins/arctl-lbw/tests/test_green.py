"""Green lists: keyed, exact size, stable across machines and versions, one per image from the pool."""

import pytest
import torch

from arctl.keys import WatermarkKey
from arctl_lbw.green import GreenLists, green_count

KEY = WatermarkKey(bytes(range(32)))


def test_lists_have_exact_size_and_depend_on_key_and_index():
    lists = GreenLists(KEY, 1000, 0.25, pool=3)
    assert lists.masks.shape == (3, 1000) and lists.masks.dtype == torch.bool
    assert lists.masks.sum(dim=1).tolist() == [250, 250, 250]
    assert not torch.equal(lists.masks[0], lists.masks[1])
    assert torch.equal(GreenLists(KEY, 1000, 0.25, pool=3).masks, lists.masks)  # deterministic
    other = GreenLists(WatermarkKey(bytes(range(1, 33))), 1000, 0.25, pool=1)
    overlap = (other.masks[0] & lists.masks[0]).sum().item()
    assert 30 < overlap < 100  # independent lists share ~gamma^2 * V = 62 codes


def test_lists_never_change():
    """A watermark must stay detectable after upgrades: the lists depend on hashlib only (HMAC-SHA256 of
    "arctl-lbw/list/j", then SHAKE-256 ranks), never on torch's or numpy's random streams. The expected codes
    were computed with hmac, hashlib and struct alone."""
    lists = GreenLists(KEY, 16, 0.25, pool=2)
    assert lists.masks[0].nonzero().flatten().tolist() == [2, 3, 13, 14]
    assert lists.masks[1].nonzero().flatten().tolist() == [4, 7, 10, 11]


@pytest.mark.parametrize(("vocab", "gamma", "size"), [(16384, 0.25, 4096), (10, 0.01, 1), (10, 0.99, 9), (4096, 0.5, 2048)])
def test_green_count_keeps_both_colours(vocab, gamma, size):
    assert green_count(vocab, gamma) == size


def test_generated_images_spread_over_the_pool_and_reproduce():
    lists = GreenLists(KEY, 64, 0.25, pool=4)
    picks = [lists.for_generated(seed=7, item=i) for i in range(200)]
    assert set(picks) == {0, 1, 2, 3} and all(40 < picks.count(j) < 60 for j in range(4))
    assert picks == [lists.for_generated(seed=7, item=i) for i in range(200)]
    assert picks != [lists.for_generated(seed=8, item=i) for i in range(200)]
    single = GreenLists(KEY, 64, 0.25, pool=1)
    assert {single.for_generated(seed=1, item=i) for i in range(20)} == {0}
    assert {single.for_pixels(bytes([i])) for i in range(20)} == {0}
    assert len({lists.for_pixels(bytes([i])) for i in range(40)}) == 4
