"""Marking existing images and detecting marks, with any watermarker and any generator's tokenizer.

What `arctl watermark IMAGE` and `arctl detect IMAGE...` do, without the printing: ``check_marking`` makes every
check before anything loads, ``load_marking`` builds the watermark from a key and loads MODEL's tokenizer, then
``mark`` and ``detect`` work on PIL images. Images of another size than the tokenizer's are resized, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arctl.errors import UsageError


@dataclass(frozen=True)
class MarkingRequest:
    """A watermarker with its parsed options, the model whose tokenizer re-encodes images, and its weights."""

    spec: Any  # WatermarkerSpec
    options: dict[str, Any]
    model: str
    weights: dict[str, str] = field(default_factory=dict)


@dataclass
class Marking:
    """A watermark built for one key, and the tokenizer it reads and writes images through."""

    request: MarkingRequest
    watermark: Any  # arctl.watermark.ActiveWatermark
    tokenizer: Any  # arctl.tokenizers.LoadedTokenizer


def check_marking(manager, *, method: str | None, options: Mapping[str, Any], model: str,
                  weights: Sequence[str] | Mapping[str, str] | None = None) -> MarkingRequest:
    """Every usage error of a marking or detection, before anything loads. ``weights`` is a role -> path mapping
    or ``--weights`` text (``PATH`` or ``ROLE=PATH``)."""
    from arctl.compositions import check_watermarker
    from arctl.hub import parse_weights
    from arctl.options import parse_options
    from arctl.registry import GeneratorSpec
    from arctl.tokenizers import tokenizer_checkpoint
    from arctl.watermark import choose_watermarker

    spec = choose_watermarker(manager.registry, method)
    parsed = parse_options(options, spec.options, owner=f"watermarker {spec.name}")
    owner = manager.registry.model(model).owner
    if isinstance(owner, GeneratorSpec):  # a tokenizer checkpoint is the tokenizer itself
        check_watermarker(owner, spec, generating=False)
    checkpoint = tokenizer_checkpoint(manager.registry, model)[1]
    by_role = dict(weights) if isinstance(weights, Mapping) else parse_weights(weights, checkpoint.main_role)
    return MarkingRequest(spec, parsed, model, by_role)


def load_marking(manager, request: MarkingRequest, key, *, device: str = "auto", fpr: float | None = None) -> Marking:
    """Build the watermark from ``key`` (a ``WatermarkKey``) and load the tokenizer; with ``fpr``, first check that
    the detector can report p-values that small."""
    from arctl.tokenizers import load_tokenizer
    from arctl.watermark import build_watermark

    watermark = build_watermark(request.spec, key, request.options)
    smallest = watermark.watermarker.smallest_p_value
    if fpr is not None and fpr < smallest:
        raise UsageError(f"--fpr {fpr:g} is below the smallest p-value this detector can report ({smallest:.3g}); "
                         "see its options")
    return Marking(request, watermark, load_tokenizer(manager, request.model, device=device, weights=request.weights))


def tokenizer_input(marking: Marking, picture, name: str, notes: list[str]):
    """One image as [1, 3, H, W] on the tokenizer's device, at the tokenizer's resolution."""
    from arctl.tokenizers import to_tensor

    size = getattr(marking.tokenizer.tokenizer, "resolution", None)
    if size is not None and picture.size != (size, size):
        notes.append(f"{name} is {picture.size[0]}x{picture.size[1]}; resized to {size}x{size} for the tokenizer")
    return to_tensor([picture], size).to(marking.tokenizer.accelerator.device)


def mark(manager, marking: Marking, picture, name: str, notes: list[str]):
    """The marked image (PIL, the tokenizer's resolution) and its recipe (``"command": "watermark"``)."""
    import torch

    from arctl.images import to_pil
    from arctl.recipes import new_recipe, versions

    loaded, watermark = marking.tokenizer, marking.watermark
    with torch.inference_mode():
        marked = watermark.watermarker.embed(loaded.tokenizer, tokenizer_input(marking, picture, name, notes))
    recipe = new_recipe("watermark", model=marking.request.model, files=loaded.sources,
                        versions=versions(manager, loaded.spec, watermark.spec), source=name,
                        watermark=watermark.record())
    return to_pil(marked.float().clamp(0, 1).cpu())[0], recipe


def detect(marking: Marking, pictures: Sequence[Any], names: Sequence[str], fpr: float, notes: list[str]) -> list[dict]:
    """One row per image: ``{image, watermarked (p_value <= fpr), p_value, z_score, **the method's details}``."""
    import torch

    rows = []
    for name, picture in zip(names, pictures):
        with torch.inference_mode():
            found = marking.watermark.watermarker.detect(marking.tokenizer.tokenizer,
                                                         tokenizer_input(marking, picture, name, notes))[0]
        rows.append({"image": name, "watermarked": found.p_value <= fpr, "p_value": found.p_value,
                     "z_score": found.z_score, **found.details})
    return rows
