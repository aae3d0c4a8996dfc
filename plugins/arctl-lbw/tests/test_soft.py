"""The soft score (score=soft): calibration of its permutation null and its power where tokens drift to
neighbouring codes (its use through `arctl detect` is in test_generate)."""

import math

import pytest
import torch

from arctl.keys import WatermarkKey
from arctl_lbw.detect import detect_tokens
from arctl_lbw.green import GreenLists
from arctl_lbw.soft import detect_soft, null_lists, smallest_p_value

V, L, C = 64, 16, 8


def codebook(generator):
    return torch.nn.functional.normalize(torch.randn(V, C, generator=generator), dim=-1)


def distances_of(latents, codes):
    return torch.cdist(latents, codes[None].expand(len(latents), -1, -1)).square()


def clean_images(count, generator):
    """Code distances of latents near random codes, as a re-encoded unmarked image gives them."""
    codes = codebook(generator)
    picked = codes[torch.randint(0, V, (count, L), generator=generator)]
    return distances_of(picked + 0.1 * torch.randn(count, L, C, generator=generator), codes), codes


def test_null_lists_are_fixed_uniform_subsets_of_the_list_size():
    masks = null_lists(V, 16, 500)
    assert masks.shape == (500, V) and bool((masks.sum(dim=1) == 16).all())
    assert torch.equal(masks, null_lists.__wrapped__(V, 16, 500))  # the same draws every time
    share = masks.float().mean(dim=0)  # every code is green in about a quarter of the draws
    assert float((share - 0.25).abs().max()) < 5 * math.sqrt(0.25 * 0.75 / 500)


@pytest.mark.parametrize("pool", [1, 4])
def test_clean_images_are_flagged_at_the_requested_rate_over_keys(pool):
    """The p-value is exact over keys: for a fixed image, a key's lists are random subsets exchangeable with the
    null draws, so over 100 keys x 4 images about fpr of them flag it (measured 0.105 at 0.1 for both pools); the
    pool's Bonferroni correction can only lower the rate."""
    generator = torch.Generator().manual_seed(0)
    distances, _ = clean_images(4, generator)
    ids, keep = distances.argmin(-1), torch.ones(L, dtype=torch.bool)
    flagged, trials = 0, 0
    for k in range(100):
        lists = GreenLists(WatermarkKey(k.to_bytes(32, "big")), V, 0.25, pool)
        flagged += sum(d.p_value <= 0.1 for d in detect_soft(distances, ids, keep, lists, 0.3, 999))
        trials += len(distances)
    rate, noise = flagged / trials, 3 * math.sqrt(0.1 * 0.9 / trials)
    assert rate <= 0.1 + noise and (pool > 1 or rate >= 0.1 - noise), rate


def test_tokens_that_drift_to_neighbours_still_carry_the_mark():
    """A marked image whose every latent re-encodes just past the midpoint to its green code's nearest neighbour:
    no nearest code is the drawn one, so counting sees chance, but the green code is always second nearest."""
    generator = torch.Generator().manual_seed(1)
    codes = codebook(generator)
    lists = GreenLists(WatermarkKey(bytes(32)), V, 0.25, 1)
    green = lists.masks[0].nonzero().flatten()
    drawn = green[torch.randint(0, len(green), (8, L), generator=generator)]
    neighbour = distances_of(codes[drawn], codes).topk(2, dim=-1, largest=False).indices[..., 1]
    distances = distances_of(codes[drawn] + 0.55 * (codes[neighbour] - codes[drawn]), codes)
    ids, keep = distances.argmin(-1), torch.ones(L, dtype=torch.bool)
    assert not bool((ids == drawn).any())
    counted = detect_tokens(ids, torch.zeros(L, dtype=torch.long), lists)
    assert sum(d.p_value <= 0.01 for d in counted) <= 2, counted
    found = detect_soft(distances, ids, keep, lists, 0.3, 999)
    assert all(d.p_value <= 0.002 and d.z_score > 2.5 for d in found), found  # 0.001 is the floor here
    clean, _ = clean_images(8, generator)
    assert sum(d.p_value <= 0.01 for d in detect_soft(clean, clean.argmin(-1), keep, lists, 0.3, 999)) <= 1


def test_the_p_value_floor_is_the_pool_over_the_draws():
    assert smallest_p_value(4, 9999) == 4e-4 and smallest_p_value(2000, 999) == 1.0


def test_the_evaluations_calibration_scores_every_key_in_one_pass_exactly():
    """`arctl lbw eval` scores the 20 calibration keys' lists against one set of null draws in a single pass; the
    rates equal those of detecting with each key on its own, and sit near the nominal rate."""
    from arctl_lbw.detect import Score
    from arctl_lbw.evaluate import CALIBRATION_KEYS, Encoded, clean_fpr_over_keys

    distances, _ = clean_images(100, torch.Generator().manual_seed(3))
    ids, keep = distances.argmin(-1), torch.ones(L, dtype=torch.bool)
    lists = GreenLists(WatermarkKey(bytes(range(32))), V, 0.25, 2)
    score = Score("soft", 0.3, 999)
    rates = clean_fpr_over_keys(Encoded(ids, torch.zeros(L, dtype=torch.long), distances), lists.key, lists, None, score)
    one_by_one = {0.01: 0.0, 0.001: 0.0}
    for index in range(CALIBRATION_KEYS):
        other = GreenLists(WatermarkKey(lists.key.derive(f"arctl-lbw/calibration/{index}")), V, 0.25, 2)
        p_values = [d.p_value for d in detect_soft(distances, ids, keep, other, 0.3, 999)]
        for fpr in one_by_one:
            one_by_one[fpr] += sum(p <= fpr for p in p_values) / len(p_values) / CALIBRATION_KEYS
    assert rates == {fpr: round(rate, 5) for fpr, rate in one_by_one.items()}
    assert rates[0.01] <= 0.01 + 3 * math.sqrt(0.01 * 0.99 / 2000), rates


def test_a_tokenizer_without_code_distances_is_a_usage_error():
    from arctl.errors import UsageError
    from arctl_lbw.detect import Score, detect_images

    class CountOnly:  # the contract's required members only
        codebook_size = V

        def encode(self, images, allowed=None):
            return torch.zeros(len(images), 4, dtype=torch.long)

        def flat_tokens(self, tokens):
            return tokens, torch.zeros(tokens.shape[1], dtype=torch.long)

    lists = GreenLists(WatermarkKey(bytes(32)), V, 0.25, 1)
    assert len(detect_images(CountOnly(), torch.zeros(2, 3, 8, 8), lists, None, Score("count", 0.3, 10_000))) == 2
    with pytest.raises(UsageError, match="score=soft needs a tokenizer with code_distances; CountOnly has none"):
        detect_images(CountOnly(), torch.zeros(2, 3, 8, 8), lists, None, Score("soft", 0.3, 10_000))
