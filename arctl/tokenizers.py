"""A generator's tokenizer on its own (for watermark detection and post-hoc marking), and images fed to it.

A ``TokenizerSpec``'s factory is called as ``factory(checkpoint, files, accelerator)``. Given a generator
checkpoint, the tokenizer is built from that checkpoint's config and only the file roles the tokenizer's
own checkpoint lists (``vae`` for VAR, ``vq`` for LlamaGen), so detection never needs the generator's
weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arctl.errors import UsageError
from arctl.registry import Checkpoint, GeneratorSpec, TokenizerSpec


@dataclass
class LoadedTokenizer:
    spec: TokenizerSpec
    accelerator: Any
    tokenizer: Any
    sources: dict[str, dict]


def tokenizer_checkpoint(registry, model: str) -> tuple[TokenizerSpec, Checkpoint]:
    """(tokenizer spec, the checkpoint restricted to the tokenizer's files) for a generator or tokenizer name."""
    ref = registry.model(model)
    if isinstance(ref.owner, GeneratorSpec):
        if ref.owner.tokenizer is None:
            raise UsageError(f"{model}: generator {ref.owner.name} declares no tokenizer, so images cannot be re-encoded")
        spec = registry.get("tokenizer", ref.owner.tokenizer)
    else:
        spec = ref.owner
    files = ref.checkpoint.files
    roles = [r for r in (spec.checkpoints[0].files if spec.checkpoints else files) if r in files]
    return spec, dataclasses.replace(ref.checkpoint, files={r: files[r] for r in roles})


def load_tokenizer(manager, model: str, *, device: str = "auto",
                   weights: Mapping[str, str] | None = None) -> LoadedTokenizer:
    """Resolve the tokenizer's files (local > cache > download) and build it on the device, in float32."""
    from arctl.accelerate import make_accelerator
    from arctl.hub import resolve_checkpoint

    spec, checkpoint = tokenizer_checkpoint(manager.registry, model)
    accelerator = make_accelerator(manager.registry, device, "fp32")
    files = resolve_checkpoint(checkpoint, weights)
    tokenizer = spec.load()(checkpoint, files, accelerator)
    return LoadedTokenizer(spec, accelerator, tokenizer, {role: rf.describe() for role, rf in files.items()})


def to_tensor(images: Sequence[Any], size: int | None = None):
    """RGB PIL images -> [B, 3, H, W] floats in [0, 1], resized (bicubic) to ``size`` x ``size`` when given."""
    import numpy as np
    import torch

    arrays = []
    for image in images:
        image = image.convert("RGB")
        if size is not None and image.size != (size, size):
            image = image.resize((size, size), resample=3)  # PIL's BICUBIC
        arrays.append(np.asarray(image))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)
