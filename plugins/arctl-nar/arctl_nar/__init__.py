"""arctl-nar: NAR, neighboring autoregressive modeling (He et al., 2025).

Builds on arctl-llamagen's public API (GPT, tokenizer, generator). Registration only (no torch).
"""

import arctl
from arctl import GeneratorSpec, SamplingDefaults
from arctl.classes import imagenet_class_names
from arctl_llamagen import CFG_HELP
from arctl_nar.checkpoints import CHECKPOINTS

__version__ = "0.1.0"

# what other plugins may import (modules by name, so this file stays torch-free)
__all__ = ["NAR_GENERATOR", "__version__", "generator", "model", "neighbors"]

NAR_GENERATOR = GeneratorSpec(
    "nar",
    "Next-neighbour prediction: a whole anti-diagonal of VQ-16 tokens per pass (2n - 1 passes).",
    "arctl_nar.generator:NARGenerator",
    checkpoints=CHECKPOINTS,
    tokenizer="llamagen-vq16",
    conditioning="class",
    num_classes=1000,
    class_names=imagenet_class_names,
    sampling=SamplingDefaults(cfg=4.0, cfg_schedule="constant", top_k=2000, top_p=1.0),  # sample_c2i.py defaults
    cfg_help=CFG_HELP + "; progress counts forward passes (k / (2n - 2))",
    batch_size=8,
    offers=("token-logits",),
)


@arctl.hookimpl
def register_generators(register):
    register(NAR_GENERATOR)
