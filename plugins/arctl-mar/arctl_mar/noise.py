"""Where a sampling run's Gaussian noise comes from: the run's seeded generator, or recorded draws replayed in
order (to reproduce the official code's outputs draw for draw)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


class SeededNoise:
    """Standard normal draws from one ``torch.Generator`` (on the generator's device)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def randn(self, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        return torch.randn(tuple(shape), generator=self.generator, device=like.device, dtype=like.dtype)


class ReplayedNoise:
    """Hands out given tensors one call at a time, checking that each call asks for the recorded shape."""

    def __init__(self, draws: Iterable[torch.Tensor]) -> None:
        self.draws = list(draws)
        self.used = 0

    def randn(self, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
        if self.used >= len(self.draws):
            raise AssertionError(f"draw {self.used} asked for {tuple(shape)} but only {len(self.draws)} were recorded")
        draw = self.draws[self.used]
        if tuple(draw.shape) != tuple(shape):
            raise AssertionError(f"draw {self.used}: asked for {tuple(shape)}, recorded {tuple(draw.shape)}")
        self.used += 1
        return draw.to(device=like.device, dtype=like.dtype)
