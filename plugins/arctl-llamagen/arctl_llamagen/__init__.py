"""arctl-llamagen: LlamaGen, raster-order autoregressive image generation (Sun et al., 2024).

The base that NAR, ControlAR, Token-Shuffle and LBW build on: its public modules (``__all__``) are ``gpt``
(the model), ``raster`` (generation), ``tokenizer`` / ``vq`` (the VQ-16 tokenizer), ``generator``,
``checkpoints`` (the official files as data) and ``testing`` (tiny checkpoints for tests). Registration only
here (no torch).
"""

import arctl
from arctl import GeneratorSpec, SamplingDefaults, TokenizerSpec
from arctl.classes import imagenet_class_names
from arctl_llamagen.checkpoints import CHECKPOINTS, VQ_CHECKPOINT

__version__ = "0.1.0"

# what other plugins may import (modules by name, so this file stays torch-free)
__all__ = ["CFG_HELP", "LLAMAGEN_GENERATOR", "VQ_TOKENIZER", "__version__", "checkpoints", "generator", "gpt", "raster",
           "testing", "tokenizer", "vq"]

CFG_HELP = ("LlamaGen's scale: logits = uncond + cfg * (cond - uncond) at every token; cfg <= 1 disables guidance; "
            "--cfg-schedule interval -o cfg_cutoff=C stops it after progress C (official cfg_interval=K is "
            "C = (K + 1) / (tokens - 1))")

LLAMAGEN_GENERATOR = GeneratorSpec(
    "llamagen",
    "Raster-order next-token prediction over VQ-16 tokens (class-conditional).",
    "arctl_llamagen.generator:LlamaGenGenerator",
    checkpoints=CHECKPOINTS,
    tokenizer="llamagen-vq16",
    conditioning="class",
    num_classes=1000,
    class_names=imagenet_class_names,
    # the official sample_c2i.py defaults; FID numbers use cfg 2.0 (B, L), 1.75 (XL, XXL), 1.65 (3B) and top-k 0
    sampling=SamplingDefaults(cfg=4.0, cfg_schedule="constant", top_k=2000, top_p=1.0),
    cfg_help=CFG_HELP,
    batch_size=8,
    offers=("token-logits",),
)


VQ_TOKENIZER = TokenizerSpec("llamagen-vq16", "LlamaGen's VQ-16 image tokenizer.", "arctl_llamagen.tokenizer:load_tokenizer",
                             checkpoints=(VQ_CHECKPOINT,))


@arctl.hookimpl
def register_tokenizers(register):
    register(VQ_TOKENIZER)


@arctl.hookimpl
def register_generators(register):
    register(LLAMAGEN_GENERATOR)
