"""The exact hypergeometric tail in log space, against brute force, and the z-score."""

import math

import pytest
import torch

from arctl_lbw.stats import hypergeom_log_sf, z_score


def brute_sf(k, vocab, green, n):
    total = math.comb(vocab, n)
    return sum(math.comb(green, i) * math.comb(vocab - green, n - i) for i in range(k, min(n, green) + 1)) / total


@pytest.mark.parametrize(("vocab", "green", "n"), [(16, 4, 5), (64, 16, 16), (20, 15, 12), (10, 3, 10), (50, 10, 1)])
def test_tail_matches_brute_force(vocab, green, n):
    ks = torch.arange(0, min(n, green) + 1)
    got = hypergeom_log_sf(ks, vocab, green, n).exp()
    want = torch.tensor([brute_sf(int(k), vocab, green, n) for k in ks], dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-15)


def test_tail_is_exact_far_out_and_never_above_one():
    # all 680 distinct codes green with 4096 of 16384 green: C(4096, 680) / C(16384, 680), below float64's range
    log_p = hypergeom_log_sf(torch.tensor([680, 0]), 16384, 4096, 680)
    exact = sum(math.log((4096 - i) / (16384 - i)) for i in range(680))
    assert float(log_p[0]) == pytest.approx(exact, rel=1e-9) and float(log_p[1]) == 0.0
    assert float(hypergeom_log_sf(torch.tensor([0]), 64, 16, 0)[0]) == 0.0  # nothing counted: p = 1


def test_z_score():
    z = z_score(torch.tensor([4, 16, 0]), 64, 16, 16)
    assert z[0] == 0 and z[1] > 5 and z[2] < -2
    assert float(z_score(torch.tensor([3]), 64, 16, 64)[0]) == 0.0  # the whole codebook: no spread
