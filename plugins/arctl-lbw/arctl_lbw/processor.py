"""The in-generation mark: a logits processor that favours (soft) or forces (hard) each image's green list.

It is batch-aware (``for_batch``): the core hands it the batch's seed and item indices, and every row of the
batch gets its own list. Processors run after the CFG merge, so the logits are batch-first with one row per
image, whatever the generator: LlamaGen [B, V], NAR [B, V] per cell, VAR [B, pn * pn, V] per scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from arctl.sampling import BatchInfo, StepContext
from arctl_lbw.green import GreenLists


class LBWProcessor:
    """``lists(V)`` gives the green lists for a vocabulary of V codes (the logits' last dimension)."""

    def __init__(self, lists: Callable[[int], GreenLists], *, delta: float, hard: bool) -> None:
        self.lists, self.delta, self.hard = lists, float(delta), hard

    def for_batch(self, info: BatchInfo) -> GreenBias:
        return GreenBias(self, info)


class GreenBias:
    """The processor of one batch: row b uses the list of item ``info.items[b]``."""

    def __init__(self, owner: LBWProcessor, info: BatchInfo) -> None:
        self.owner, self.info = owner, info
        self._rows: dict[tuple[int, torch.device], torch.Tensor] = {}

    def rows(self, vocab_size: int, device: torch.device) -> torch.Tensor:
        """bool [B, V]: the green list of every row (built at the first step, then reused)."""
        if (vocab_size, device) not in self._rows:
            lists = self.owner.lists(vocab_size)
            choice = [lists.for_generated(self.info.seed, item) for item in self.info.items]
            self._rows[vocab_size, device] = lists.masks_on(device)[torch.tensor(choice, device=device)]
        return self._rows[vocab_size, device]

    def __call__(self, logits: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        batch = len(self.info.items)
        if logits.dim() < 2 or logits.shape[0] != batch:
            raise ValueError(f"LBW expects batch-first logits with {batch} rows (one per image), got {tuple(logits.shape)}")
        green = self.rows(logits.shape[-1], logits.device)
        green = green.view(batch, *([1] * (logits.dim() - 2)), logits.shape[-1])  # same list at every position
        if self.owner.hard:
            return logits.masked_fill(~green, float("-inf"))
        return logits + self.owner.delta * green.to(logits.dtype)
