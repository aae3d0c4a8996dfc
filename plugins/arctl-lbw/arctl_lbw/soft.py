"""The soft score (``-o score=soft``): detection from how near each position's latent lies to the green codes,
not only from whether its nearest code is green.

Re-encoding a marked image often moves a token to a code next to the one that was drawn: on the shapes world
about half of LlamaGen VQ's tokens come back exactly, and most of the rest land among the drawn code's nearest
few. Counting loses every such token; the soft score keeps part of each. At every counted position p the
codes get weights ``w_pc = softmax(-d_pc / T)`` from the tokenizer's own squared distances
(``tokenizer.code_distances``), and list j scores ``S_j = sum_p log(sum_{c in j} w_pc)``. The temperature T is
``temperature`` times the image's median margin between a position's nearest and second-nearest code, so one
setting suits every tokenizer's distance scale (0.1-1 scored alike on the shapes world).

The null is exact by permutation. Without the key's mark the key is independent of the image, so each list of
the pool is a uniformly random subset of G codes, exchangeable with ``draws`` random G-subsets drawn here:
``p_j = (1 + #{r : S_r >= S_j}) / (1 + draws)``, for any image, repeated codes and all. As for the count, the
image's p-value is ``min(1, K * min_j p_j)``, so it is never below ``K / (1 + draws)``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from arctl.watermark import Detection
from arctl_lbw.green import GreenLists

NULL_SEED = 0  # the random lists are fixed, so a detection is reproducible
CHUNK = 1024  # code sets scored at once (bounds the [L, CHUNK] matrix)
TINY = 1e-30  # floor of a green mass before its log (float32 weights can underflow to 0)


@lru_cache(maxsize=4)
def null_lists(vocab_size: int, list_size: int, draws: int) -> torch.Tensor:
    """``draws`` uniformly random subsets of ``list_size`` codes, as bool masks [draws, V], from a fixed seed."""
    generator = torch.Generator().manual_seed(NULL_SEED)
    masks = torch.zeros(draws, vocab_size, dtype=torch.bool)
    for start in range(0, draws, CHUNK):
        rows = min(CHUNK, draws - start)
        picked = torch.rand(rows, vocab_size, generator=generator).argsort(dim=1)[:, :list_size]
        masks[start : start + rows].scatter_(1, picked, True)
    return masks


def soft_statistics(distances: torch.Tensor, masks: torch.Tensor, keep: torch.Tensor, temperature: float) -> torch.Tensor:
    """Scores [B, M] of every code set in ``masks`` [M, V] for code distances [B, L, V], summed over the positions
    ``keep`` [L] marks. The temperature's margin is taken over all positions, so it does not depend on ``keep``."""
    scores = torch.empty(len(distances), len(masks))
    for b, row in enumerate(distances.float().cpu()):
        nearest = row.topk(2, dim=-1, largest=False).values
        margin = float((nearest[:, 1] - nearest[:, 0]).median().clamp_min(1e-12))
        weights = torch.softmax(-row[keep.cpu()] / (temperature * margin), dim=-1)  # [L_kept, V]
        for start in range(0, len(masks), CHUNK):
            chunk = masks[start : start + CHUNK].to(weights.dtype)
            scores[b, start : start + CHUNK] = (weights @ chunk.T).clamp_min(TINY).log().sum(dim=0)
    return scores


def detections(own: torch.Tensor, chance: torch.Tensor, pool: int, ids: torch.Tensor, masks: torch.Tensor
               ) -> list[Detection]:
    """Detections from the scores of the pool's lists ``own`` [B, K] and of the random lists ``chance`` [B, R]:
    permutation p-values, Bonferroni over the pool. ``ids`` [B, L'] are the counted nearest codes, for the
    details (distinct codes and how many are green on the best list, as the count reports them)."""
    draws = chance.shape[1]
    found = []
    for row_own, row_chance, row_ids in zip(own, chance, ids.cpu()):
        best = int(torch.argmax(row_own))
        p_value = min(1.0, pool * float((row_chance >= row_own[best]).sum() + 1) / (draws + 1))
        spread = float(row_chance.std())
        z = (float(row_own[best]) - float(row_chance.mean())) / spread if spread > 0 else 0.0
        distinct = row_ids.unique()
        found.append(Detection(p_value, z, {"list": best, "tokens": len(distinct), "green": int(masks[best, distinct].sum())}))
    return found


def detect_soft(distances: torch.Tensor, ids: torch.Tensor, keep: torch.Tensor, lists: GreenLists,
                temperature: float, draws: int) -> list[Detection]:
    """One Detection per image from code distances [B, L, V] and nearest codes ids [B, L]; ``keep`` [L] marks the
    counted positions."""
    return detect_soft_pools(distances, ids, keep, [lists], temperature, draws)[0]


def detect_soft_pools(distances: torch.Tensor, ids: torch.Tensor, keep: torch.Tensor, pools: list[GreenLists],
                      temperature: float, draws: int) -> list[list[Detection]]:
    """``detect_soft`` for several pools (of several keys) at once: one pass scores every pool's lists against
    the same null draws. All pools share the vocabulary, list size and pool size."""
    first = pools[0]
    own = torch.cat([pool.masks for pool in pools])
    scores = soft_statistics(distances, torch.cat((own, null_lists(first.vocab_size, first.size, draws))), keep,
                             temperature)
    chance, kept_ids = scores[:, len(own) :], ids[:, keep.to(ids.device)]
    return [detections(scores[:, i * first.pool : (i + 1) * first.pool], chance, first.pool, kept_ids, pool.masks)
            for i, pool in enumerate(pools)]


def smallest_p_value(pool: int, draws: int) -> float:
    """The smallest p-value the soft score can report."""
    return min(1.0, pool / (draws + 1))
