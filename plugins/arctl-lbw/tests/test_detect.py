"""Detection on token grids: calibration on clean grids, pool correction, scale selection, wrong keys."""

import math

import pytest
import torch

from arctl.errors import UsageError
from arctl.keys import WatermarkKey
from arctl_lbw.detect import counted_scales, detect_tokens, parse_scales
from arctl_lbw.green import GreenLists

KEY = WatermarkKey(bytes(32))
V, L, N, FPR = 4096, 256, 1000, 0.05
NOISE = 3 * math.sqrt(FPR * (1 - FPR) / N)  # three standard deviations of an empirical rate over N images


def iid_grids(generator):
    return torch.randint(0, V, (N, L), generator=generator)


def repetitive_grids(generator):
    """Like real images: each grid repeats 1..40 codes (flat backgrounds, uniform regions)."""
    rows = []
    for _ in range(N):
        k = int(torch.randint(1, 41, (1,), generator=generator))
        codes = torch.randint(0, V, (k,), generator=generator)
        rows.append(codes[torch.randint(0, k, (L,), generator=generator)])
    return torch.stack(rows)


def false_positive_rate(ids, lists, fpr=FPR):
    return sum(d.p_value <= fpr for d in detect_tokens(ids, torch.zeros(L, dtype=torch.long), lists)) / len(ids)


@pytest.mark.parametrize("pool", [1, 8])
def test_clean_grids_are_calibrated(pool):
    """With ~248 distinct codes per grid the p-values are close to uniform: the false-positive rate is the
    requested one within sampling noise (measured: 0.054 for K=1, 0.047 for K=8 over 2000 grids)."""
    rate = false_positive_rate(iid_grids(torch.Generator().manual_seed(0)), GreenLists(KEY, V, 0.25, pool))
    assert abs(rate - FPR) <= NOISE, rate


@pytest.mark.parametrize("pool", [1, 8])
def test_repeated_tokens_do_not_break_the_null(pool):
    """Counting distinct codes keeps the rate at or below fpr on repetitive grids (measured 0.027); counting every
    token against a binomial null flags ~0.3 of them (a repeated green code counts hundreds of times)."""
    ids = repetitive_grids(torch.Generator().manual_seed(1))
    lists = GreenLists(KEY, V, 0.25, pool)
    assert false_positive_rate(ids, lists) <= FPR + NOISE
    greens = lists.masks[0][ids].sum(dim=1).tolist()
    naive = [sum(math.comb(L, i) * 0.25**i * 0.75 ** (L - i) for i in range(g, L + 1)) for g in greens]
    assert sum(p <= FPR for p in naive) / N > 0.2


def marked_grid(lists, j, n=40, generator=None):
    green = lists.masks[j].nonzero().flatten()
    return green[torch.randperm(len(green), generator=generator)[:n]][None]


def test_marked_tokens_are_found_and_the_pool_is_bonferroni_corrected():
    single, pool = GreenLists(KEY, V, 0.25, 1), GreenLists(KEY, V, 0.25, 8)
    grid = marked_grid(pool, 0)  # list 0 is the same for every pool size
    scales = torch.zeros(40, dtype=torch.long)
    one, eight = detect_tokens(grid, scales, single)[0], detect_tokens(grid, scales, pool)[0]
    assert one.details == {"list": 0, "tokens": 40, "green": 40} and one.p_value < 1e-20 and one.z_score > 10
    assert eight.p_value == pytest.approx(8 * one.p_value) and eight.details["list"] == 0
    assert detect_tokens(marked_grid(pool, 5), scales, pool)[0].details["list"] == 5
    assert detect_tokens(torch.zeros(1, 40, dtype=torch.long), scales, pool)[0].p_value == 1.0  # one code, capped


def test_wrong_key_finds_nothing():
    ours, theirs = GreenLists(KEY, V, 0.25, 4), GreenLists(WatermarkKey(bytes(range(32))), V, 0.25, 4)
    grids = torch.cat([marked_grid(ours, j % 4, generator=torch.Generator().manual_seed(j)) for j in range(200)])
    scales = torch.zeros(40, dtype=torch.long)
    assert all(d.p_value < 1e-10 for d in detect_tokens(grids, scales, ours))
    assert sum(d.p_value <= 0.01 for d in detect_tokens(grids, scales, theirs)) <= 6  # 0.01 of 200, with noise


def test_scale_selection():
    assert parse_scales("all") is None and parse_scales(" ALL ") is None
    assert parse_scales("-1") == (-1,) and parse_scales("6:, 0") == (slice(6, None), 0)
    assert counted_scales(parse_scales("-2:"), 10) == [8, 9] and counted_scales(None, 3) == [0, 1, 2]
    assert counted_scales(parse_scales("0,2:4,-1"), 10) == [0, 2, 3, 9]
    for bad in ("last", "1-3", ""):
        with pytest.raises(UsageError, match="option scales"):
            parse_scales(bad)
    with pytest.raises(UsageError, match="scales 0..0, not 3"):
        counted_scales((3,), 1)
    with pytest.raises(UsageError, match="names none"):
        counted_scales((slice(5, None),), 3)


def test_only_selected_scales_count():
    lists = GreenLists(KEY, V, 0.25, 1)
    green, red = lists.masks[0].nonzero().flatten(), (~lists.masks[0]).nonzero().flatten()
    ids = torch.cat([red[:30], green[:20]])[None]  # scale 0: 30 red codes, scale 1: 20 green codes
    scales = torch.tensor([0] * 30 + [1] * 20)
    assert detect_tokens(ids, scales, lists, parse_scales("-1"))[0].details == {"list": 0, "tokens": 20, "green": 20}
    assert detect_tokens(ids, scales, lists)[0].details["tokens"] == 50
