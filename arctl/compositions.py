"""Whether a generator, a sampler and a watermarker can work together, decided from their specs alone.

A sampler must act on a seam the generator offers (``SamplerSpec.acts_on``, ``GeneratorSpec.offers``), and a
watermarker must find everything it needs (``WatermarkerSpec.needs``; "tokenizer" is offered by declaring one).
Anything else is a usage error before any weights load: a combination that cannot work is refused, never run and
recorded as if it had.
"""

from __future__ import annotations

from arctl.errors import UsageError
from arctl.registry import GeneratorSpec, SamplerSpec, WatermarkerSpec

TOKENIZER = "tokenizer"


def offered(generator: GeneratorSpec) -> tuple[str, ...]:
    """What the generator offers: its seams, and "tokenizer" when it declares one."""
    return (*generator.offers, *((TOKENIZER,) if generator.tokenizer else ()))


def listed(words) -> str:
    return " and ".join(words)


def check_sampler(generator: GeneratorSpec, sampler: SamplerSpec) -> None:
    if not set(sampler.acts_on) & set(generator.offers):
        raise UsageError(f"sampler {sampler.name} cannot act on generator {generator.name}: it acts on "
                         f"{' or '.join(sampler.acts_on)}, and {generator.name} offers {listed(generator.offers)}")


def check_watermarker(generator: GeneratorSpec, watermarker: WatermarkerSpec, *, generating: bool = True) -> None:
    """While generating, every need applies; marking existing images and detection re-encode them through the
    tokenizer alone, so only a "tokenizer" need applies to them."""
    needs = watermarker.needs if generating else tuple(n for n in watermarker.needs if n == TOKENIZER)
    offers = offered(generator)
    missing = [need for need in needs if need not in offers]
    if missing:
        raise UsageError(f"watermarker {watermarker.name} cannot work with generator {generator.name}: it needs "
                         f"{listed(needs)}, and {generator.name} lacks {listed(missing)} (it offers {listed(offers)})")


def check_composition(generator: GeneratorSpec, sampler: SamplerSpec, watermarker: WatermarkerSpec | None) -> None:
    """A run's sampler and watermarker (None: no mark) against its generator."""
    check_sampler(generator, sampler)
    if watermarker is not None:
        check_watermarker(generator, watermarker)
