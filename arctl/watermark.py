"""The watermarker contract, and what the core does with one: build it from a key and options, record it.

A ``WatermarkerSpec``'s factory is called as ``factory(key, **options)`` with a ``arctl.keys.WatermarkKey``
and the parsed ``-o`` options (defaults filled in), and returns a ``Watermarker``. The core uses it in
three places, none of them specific to a generator:

- ``arctl generate --watermark NAME`` puts ``processor()`` into the sampling chain (after the CFG merge);
- ``arctl watermark IMAGE`` calls ``embed(tokenizer, images)`` (post-hoc marking);
- ``arctl detect IMAGE...`` calls ``detect(tokenizer, images)`` and decides ``p_value <= fpr``.

The tokenizer is the one the generator declares (``GeneratorSpec.tokenizer``), loaded by
``arctl.tokenizers.load_tokenizer``. This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arctl.errors import ArctlError, PluginError
from arctl.keys import WatermarkKey
from arctl.registry import WatermarkerSpec


@dataclass(frozen=True)
class Detection:
    """One image's verdict: ``p_value`` is the chance that an unmarked image scores at least this high, already
    corrected for everything the method tried (e.g. every list of a pool); ``details`` are method-specific."""

    p_value: float
    z_score: float
    details: Mapping[str, Any] = field(default_factory=dict)


class Watermarker:
    """Base class of what a watermarker factory returns. Override the parts the method supports."""

    def __init__(self, key: WatermarkKey, **options: Any) -> None:
        self.key = key
        self.options = options

    def processor(self) -> Any:
        """The logits processor for generation: ``callable(logits, ctx) -> logits``, or a batch-aware object with
        ``for_batch(arctl.sampling.BatchInfo) -> processor`` (to treat every image of a batch differently)."""
        raise ArctlError(f"{type(self).__name__} does not mark images during generation")

    def embed(self, tokenizer: Any, images: Any) -> Any:
        """Post-hoc marking: images [B, 3, H, W] in [0, 1] -> marked images of the tokenizer's resolution."""
        raise ArctlError(f"{type(self).__name__} cannot mark existing images")

    def detect(self, tokenizer: Any, images: Any) -> list[Detection]:
        """One ``Detection`` per image of [B, 3, H, W] in [0, 1]."""
        raise ArctlError(f"{type(self).__name__} cannot detect its mark")

    @property
    def smallest_p_value(self) -> float:
        """The smallest p-value ``detect`` can report (a permutation test cannot go below 1 / its draws): a
        requested false-positive rate below it could never flag an image."""
        return 0.0


@dataclass
class ActiveWatermark:
    """A watermarker built for one key, with the options it was built with."""

    spec: WatermarkerSpec
    options: dict[str, Any]
    key: WatermarkKey
    watermarker: Watermarker

    def record(self) -> dict[str, Any]:
        """What an image's recipe says about its mark: the method, its options and the key's fingerprint."""
        return {"method": self.spec.name, "options": dict(self.options), "key": self.key.fingerprint}


def choose_watermarker(registry, name: str | None) -> WatermarkerSpec:
    """The named watermarker, or the only installed one when no name is given."""
    return registry.named_or_only("watermarker", name, install="arctl-lbw")


def build_watermark(spec: WatermarkerSpec, key: WatermarkKey, options: Mapping[str, Any]) -> ActiveWatermark:
    """Call the spec's factory with the key and parsed options; it must return a ``Watermarker``."""
    made = spec.load()(key, **options)
    if not isinstance(made, Watermarker):
        raise PluginError(f"watermarker {spec.name!r} (plugin {spec.plugin}): factory returned "
                         f"{type(made).__name__}, not an arctl.watermark.Watermarker")
    return ActiveWatermark(spec, dict(options), key, made)
