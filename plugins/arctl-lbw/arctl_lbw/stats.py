"""The null distribution of green counts, exact and in log space (no scipy).

Detection counts the *distinct* codes of an image. Under the null (the image was not marked with this key)
the key is independent of the image, so a green list is a uniformly random subset of G of the V codes, and
the number of green codes among n distinct ones is hypergeometric(V, G, n) for every image, flat
backgrounds and repeated tokens included. Counting every token instead would need independent tokens,
which real images never have (a flat background repeats one code hundreds of times).
"""

from __future__ import annotations

import math

import torch


def log_choose(n: torch.Tensor | float, k: torch.Tensor) -> torch.Tensor:
    """log C(n, k) in float64 (callers keep 0 <= k <= n)."""
    n = torch.as_tensor(n, dtype=torch.float64)
    k = k.to(torch.float64)
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


def hypergeom_log_sf(green: torch.Tensor, vocab_size: int, list_size: int, distinct: int) -> torch.Tensor:
    """log P(X >= green) for X ~ hypergeometric(V=vocab_size, G=list_size, n=distinct), for each entry of ``green``."""
    low, high = max(0, distinct - (vocab_size - list_size)), min(distinct, list_size)
    support = torch.arange(low, high + 1, dtype=torch.float64)
    log_pmf = (log_choose(list_size, support) + log_choose(vocab_size - list_size, distinct - support)
               - log_choose(vocab_size, torch.tensor(float(distinct))))
    tail = torch.logcumsumexp(log_pmf.flip(0), dim=0).flip(0)  # tail[i] = log P(X >= low + i)
    index = (green.to(torch.long) - low).clamp(0, high - low)
    result = tail[index]
    result = torch.where(green.to(torch.long) <= low, torch.zeros_like(result), result)  # certain below the support
    return result.clamp(max=0.0)


def z_score(green: torch.Tensor, vocab_size: int, list_size: int, distinct: int) -> torch.Tensor:
    """(green - mean) / std under the hypergeometric null; 0 where the null has no spread (n = 0 or n = V)."""
    p = list_size / vocab_size
    variance = distinct * p * (1 - p) * (vocab_size - distinct) / max(vocab_size - 1, 1)
    if variance <= 0:
        return torch.zeros(green.shape, dtype=torch.float64)
    return (green.to(torch.float64) - distinct * p) / math.sqrt(variance)
