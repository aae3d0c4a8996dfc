"""The DiSA sampler: MAR-style diffusion heads get the annealed step count at every iteration.

It acts on diffusion steps only (its spec's ``acts_on``: the core refuses it for token generators, where it
would change nothing) and answers the core's diffusion seam: ``diffusion_steps`` from the annealing schedule (the generator's own default is ignored)
and ``diffusion_clip``, which reproduces the official code's cap on timesteps: every chain keeps its
timesteps at most ``clip`` of the training chain (0.95: t <= 950 of 1000), so the noisiest ones merge into
one and a chain of 50 has 48 steps. ``clip=1`` turns that off.
"""

from __future__ import annotations

from arctl.errors import UsageError
from arctl.sampling import MultinomialSampler, StepContext
from arctl_disa.annealing import schedule_index


class DiSASampler(MultinomialSampler):
    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, *, upper: int, lower: int,
                 strategy: str, clip: float) -> None:
        if lower > upper:
            raise UsageError(f"-o lower={lower} is above -o upper={upper}")
        super().__init__(temperature, top_k, top_p, upper=upper, lower=lower, strategy=strategy, clip=clip)
        self.upper, self.lower, self.strategy, self.clip = upper, lower, strategy, clip

    def diffusion_steps(self, ctx: StepContext, default: int) -> int:
        return self.lower + schedule_index(ctx.step, ctx.num_steps, self.upper - self.lower + 1, self.strategy)

    def diffusion_clip(self, ctx: StepContext) -> float:
        return self.clip
