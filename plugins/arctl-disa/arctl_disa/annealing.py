"""DiSA's schedule: how many denoising steps the diffusion head gets at each autoregressive iteration.

Early iterations predict tokens from little context, so their distributions are broad and need the full
chain; late ones are nearly determined by what is known and need few steps. Between an upper and a lower
count, iteration k of K (u = K - 1) gets lower + i steps, with i among the n = upper - lower + 1 choices:

    linear     i = int((u - k) / u * (n - 1))
    cosine     i = int((cos(pi k / u) + 1) / 2 * (n - 1))
    two-stage  i = n - 1 for k < u / 2, else 0
    constant   i = 0 (always the lower count)

``int`` truncates, exactly as the official code does, so the lists match it step for step. A single
iteration (u = 0) counts as the first one. Torch-free: it is pure arithmetic on (k, K).
"""

from __future__ import annotations

import math

STRATEGIES = ("linear", "cosine", "two-stage", "constant")


def schedule_index(step: int, num_iter: int, choices: int, strategy: str) -> int:
    """Which of ``choices`` step counts (0 = the lower one) iteration ``step`` of ``num_iter`` uses."""
    last = max(num_iter - 1, 1)
    if strategy == "linear":
        return int((last - step) / last * (choices - 1))
    if strategy == "cosine":
        return int((math.cos(math.pi * step / last) + 1) / 2 * (choices - 1))
    if strategy == "two-stage":
        return choices - 1 if step < last / 2 else 0
    if strategy == "constant":
        return 0
    raise ValueError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")


def steps_per_iteration(num_iter: int, upper: int, lower: int, strategy: str) -> list[int]:
    """The requested step count of every iteration."""
    return [lower + schedule_index(k, num_iter, upper - lower + 1, strategy) for k in range(num_iter)]
