"""Calibration on clean images through the real tokenizers: flat backgrounds, blocks and noise, re-encoded."""

import math

import numpy as np
import pytest
import torch

from arctl.keys import WatermarkKey
from arctl.tokenizers import load_tokenizer
from arctl_lbw.detect import Score, detect_images
from arctl_lbw.green import GreenLists

N, FPR = 600, 0.05
COUNT = Score("count", 0.3, 10_000)  # the exact hypergeometric null these tests are about
NOISE = 3 * math.sqrt(FPR * (1 - FPR) / N)


def clean_images(n, size=8, seed=0):
    """A third flat, a third flat with a block of another colour, a third noise: [n, 3, size, size] in [0, 1]."""
    rng = np.random.default_rng(seed)
    images = np.repeat(rng.random((n, 3, 1, 1)), size, axis=2).repeat(size, axis=3)
    blocks = slice(n // 3, 2 * n // 3)
    images[blocks, :, size // 4 : 3 * size // 4, : size // 2] = rng.random((n // 3, 3, 1, 1))
    images[2 * n // 3 :] = rng.random((n - 2 * n // 3, 3, size, size))
    return torch.from_numpy(images).float()


@pytest.mark.parametrize("model", ["llamagen-b", "var-tiny"])
@pytest.mark.parametrize("pool", [1, 4])
def test_clean_images_stay_below_the_requested_rate(manager, model, pool):
    loaded = load_tokenizer(manager, model, device="cpu")
    lists = GreenLists(WatermarkKey(bytes(range(32))), loaded.tokenizer.codebook_size, 0.25, pool)
    with torch.inference_mode():
        found = detect_images(loaded.tokenizer, clean_images(N), lists, None, COUNT)
    rate = sum(d.p_value <= FPR for d in found) / N
    assert rate <= FPR + NOISE, rate


def test_counting_every_token_would_flag_flat_images(manager):
    """Why distinct codes are counted: a flat image repeats one code; if it is green, all 16 tokens are."""
    tokenizer = load_tokenizer(manager, "llamagen-b", device="cpu").tokenizer
    lists = GreenLists(WatermarkKey(bytes(range(32))), tokenizer.codebook_size, 0.25, 1)
    with torch.inference_mode():
        ids, _ = tokenizer.flat_tokens(tokenizer.encode(clean_images(N)[: N // 3]))
    greens = lists.masks[0][ids].sum(dim=1).tolist()
    naive = [sum(math.comb(16, i) * 0.25**i * 0.75 ** (16 - i) for i in range(g, 17)) for g in greens]
    assert sum(p <= FPR for p in naive) / len(naive) > 0.15  # ~gamma of the flat images


def test_the_evaluations_calibration_averages_over_keys():
    """`arctl lbw eval` checks calibration over 20 derived keys: on uniform token grids the mean rate is the nominal one."""
    from arctl_lbw.evaluate import Encoded, clean_fpr_over_keys

    ids = torch.randint(0, 4096, (200, 256), generator=torch.Generator().manual_seed(2))
    lists = GreenLists(WatermarkKey(bytes(range(32))), 4096, 0.25, 4)
    rates = clean_fpr_over_keys(Encoded(ids, torch.zeros(256, dtype=torch.long)), lists.key, lists, None, COUNT)
    assert set(rates) == {0.01, 0.001}
    assert abs(rates[0.01] - 0.01) <= 3 * math.sqrt(0.01 * 0.99 / 4000) and rates[0.001] <= 0.004, rates
