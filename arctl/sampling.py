"""The sampling seam every token generator shares.

At each step a generator hands its logits (and, with guidance, the unconditional logits) to a
``TokenSampling`` pipeline: CFG merge -> plugin processors (e.g. a watermark bias) -> the sampler's
temperature -> top-k -> top-p -> a draw from the run's seeded ``torch.Generator``. Diffusion-head
generators also ask it how many denoising steps to take at each autoregressive iteration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


@dataclass(frozen=True)
class StepContext:
    """Where generation stands: step index, total steps, progress in [0, 1], and method-specific position info."""

    step: int
    num_steps: int
    scale: int | None = None
    position: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        return self.step / (self.num_steps - 1) if self.num_steps > 1 else 1.0


class LogitsProcessor(Protocol):
    def __call__(self, logits: torch.Tensor, ctx: StepContext) -> torch.Tensor: ...


@dataclass(frozen=True)
class BatchInfo:
    """Which images a batch holds: the run's seed, the batch index, and the run-wide item index of each row."""

    seed: int
    index: int
    items: tuple[int, ...]


def bind_processors(processors: Sequence[Any], info: BatchInfo) -> list[LogitsProcessor]:
    """This batch's processors: a batch-aware one (an object with ``for_batch(info)``, e.g. a watermark that
    treats every image differently) is asked for its processor of the batch; plain processors pass through."""
    return [p.for_batch(info) if hasattr(p, "for_batch") else p for p in processors]


# --- classifier-free guidance schedules -------------------------------------------------------


class CFGSchedule:
    """Guidance weight w over progress; merged logits are uncond + w * (cond - uncond)."""

    def __init__(self, cfg: float) -> None:
        self.cfg = float(cfg)

    @property
    def uses_guidance(self) -> bool:
        """Whether the run needs the unconditional branch at all: cfg > 1, as LlamaGen's sampler decides."""
        return self.cfg > 1.0

    def active(self, ctx: StepContext) -> bool:
        """Whether this step still needs the unconditional logits."""
        return self.uses_guidance

    def weight(self, ctx: StepContext) -> float:
        return self.cfg

    def merge(self, cond: torch.Tensor, uncond: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return uncond + (cond - uncond) * self.weight(ctx)


class ConstantCFG(CFGSchedule):
    """w = cfg at every step (LlamaGen's meaning of cfg_scale)."""


class LinearCFG(CFGSchedule):
    """VAR's ramp: t = cfg * progress and logits = (1 + t) * cond - t * uncond (unguided at the first scale)."""

    @property
    def uses_guidance(self) -> bool:
        return self.cfg != 0.0

    def weight(self, ctx: StepContext) -> float:
        return 1.0 + self.cfg * ctx.progress

    def merge(self, cond: torch.Tensor, uncond: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        t = self.cfg * ctx.progress
        return cond * (1 + t) - uncond * t  # VAR's own formula, kept for bit-level parity


class HalfLinearCFG(CFGSchedule):
    """Token-Shuffle's schedule: w ramps linearly from 1 to cfg over the first half of generation, then holds."""

    def weight(self, ctx: StepContext) -> float:
        return 1.0 + (self.cfg - 1.0) * min(1.0, 2.0 * ctx.progress)


class IntervalCFG(CFGSchedule):
    """Constant w = cfg up to progress ``cfg_cutoff``, no guidance after it (LlamaGen's cfg_interval)."""

    def __init__(self, cfg: float, *, cfg_cutoff: float) -> None:
        super().__init__(cfg)
        self.cutoff = float(cfg_cutoff)

    def active(self, ctx: StepContext) -> bool:
        return self.uses_guidance and ctx.progress <= self.cutoff

    def weight(self, ctx: StepContext) -> float:
        return self.cfg if self.active(ctx) else 1.0


# --- logits processors -------------------------------------------------------------------------


class Temperature:
    """Divide logits by the temperature (floored at 1e-5, as LlamaGen does)."""

    def __init__(self, temperature: float) -> None:
        self.temperature = max(float(temperature), 1e-5)

    def __call__(self, logits: torch.Tensor, ctx: StepContext | None = None) -> torch.Tensor:
        return logits if self.temperature == 1.0 else logits / self.temperature


class TopK:
    """Keep the logits >= the k-th largest (ties with it survive); k = 0 or k >= vocab keeps everything."""

    def __init__(self, k: int) -> None:
        self.k = int(k)

    def __call__(self, logits: torch.Tensor, ctx: StepContext | None = None) -> torch.Tensor:
        if self.k <= 0 or self.k >= logits.shape[-1]:
            return logits
        kth = logits.topk(self.k, dim=-1, sorted=False).values.amin(dim=-1, keepdim=True)
        return logits.masked_fill(logits < kth, float("-inf"))


class TopP:
    """Nucleus filtering: drop the least likely tokens whose total probability is <= 1 - p; never the best."""

    def __init__(self, p: float) -> None:
        self.p = float(p)

    def __call__(self, logits: torch.Tensor, ctx: StepContext | None = None) -> torch.Tensor:
        if self.p >= 1.0:
            return logits
        ascending, order = logits.sort(dim=-1, descending=False)
        drop_sorted = ascending.softmax(dim=-1).cumsum(dim=-1) <= (1.0 - self.p)
        drop_sorted[..., -1] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))


# --- samplers -------------------------------------------------------------------------------


class Sampler:
    """Draws tokens from processed logits; diffusion-head generators also ask it for denoising steps."""

    def processors(self) -> list[LogitsProcessor]:
        return []

    def draw(self, logits: torch.Tensor, rng: torch.Generator, *, replacement: bool = True) -> torch.Tensor:
        raise NotImplementedError

    def diffusion_steps(self, ctx: StepContext, default: int) -> int:
        return default

    def diffusion_clip(self, ctx: StepContext) -> float:
        """The highest timestep a denoising chain may start from, as a fraction of the training chain (1: all of it)."""
        return 1.0

    def diffusion_temperature(self, ctx: StepContext) -> float:
        """How much of the reverse process's noise a diffusion head adds at each step (1: all of it)."""
        return 1.0

    def describe(self) -> dict[str, Any]:
        return {}


class MultinomialSampler(Sampler):
    """Temperature -> top-k -> top-p -> ``torch.multinomial`` with the run's generator."""

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, **options: Any) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.options = options

    def processors(self) -> list[LogitsProcessor]:
        return [Temperature(self.temperature), TopK(self.top_k), TopP(self.top_p)]

    def diffusion_temperature(self, ctx: StepContext) -> float:
        return self.temperature  # --temperature scales a diffusion head's noise as it flattens logits

    def draw(self, logits: torch.Tensor, rng: torch.Generator, *, replacement: bool = True) -> torch.Tensor:
        # One draw per row of the flattened [N, V] matrix. ``replacement`` picks torch's algorithm, which decides
        # how the generator is consumed: VAR draws with replacement, LlamaGen/NAR without.
        probs = logits.float().softmax(dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, replacement=replacement, generator=rng).reshape(probs.shape[:-1])

    def describe(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p, **self.options}


class GreedySampler(Sampler):
    """Argmax; the seed has no effect on tokens."""

    def __init__(self, **_: Any) -> None:
        pass

    def draw(self, logits: torch.Tensor, rng: torch.Generator, *, replacement: bool = True) -> torch.Tensor:
        return logits.argmax(dim=-1)


# --- the pipeline a generator calls ----------------------------------------------------------


class TokenSampling:
    """CFG merge -> extra processors -> sampler processors -> draw, with one seeded generator per batch."""

    def __init__(
        self,
        sampler: Sampler,
        schedule: CFGSchedule,
        rng: torch.Generator,
        processors: Sequence[LogitsProcessor] = (),
    ) -> None:
        self.sampler = sampler
        self.schedule = schedule
        self.rng = rng
        self.processors = list(processors)

    @property
    def uses_guidance(self) -> bool:
        return self.schedule.uses_guidance

    def guidance_active(self, ctx: StepContext) -> bool:
        return self.schedule.active(ctx)

    def merge(self, logits: torch.Tensor, ctx: StepContext, uncond: torch.Tensor | None) -> torch.Tensor:
        """The guided logits, before any processor (what the papers call the CFG-merged logits)."""
        if uncond is None or not self.schedule.active(ctx):
            return logits
        return self.schedule.merge(logits, uncond, ctx)

    def process(self, logits: torch.Tensor, ctx: StepContext, uncond: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.merge(logits, ctx, uncond)
        for processor in [*self.processors, *self.sampler.processors()]:
            logits = processor(logits, ctx)
        return logits

    def sample(
        self,
        logits: torch.Tensor,
        ctx: StepContext,
        uncond: torch.Tensor | None = None,
        *,
        replacement: bool = True,
    ) -> torch.Tensor:
        """Tokens for ``logits`` [..., V] (conditional branch) given optional unconditional logits of the same shape."""
        return self.draw(self.process(logits, ctx, uncond), replacement=replacement)

    def draw(self, processed: torch.Tensor, *, replacement: bool = True) -> torch.Tensor:
        """The sampler's draw from already processed logits (for generators that also need those logits)."""
        return self.sampler.draw(processed, self.rng, replacement=replacement)

    def diffusion_steps(self, ctx: StepContext, default: int) -> int:
        return self.sampler.diffusion_steps(ctx, default)

    def diffusion_clip(self, ctx: StepContext) -> float:
        return self.sampler.diffusion_clip(ctx)

    def diffusion_temperature(self, ctx: StepContext) -> float:
        return self.sampler.diffusion_temperature(ctx)
