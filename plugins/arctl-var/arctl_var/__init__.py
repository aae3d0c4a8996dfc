"""arctl-var: VAR, visual autoregressive modeling by next-scale prediction (Tian et al., NeurIPS 2024).

Registration only (no torch here): the model code is imported through the factories on first use.
"""

import arctl
from arctl import CommandSpec, GeneratorSpec, ImageInput, Option, SamplingDefaults, TokenizerSpec
from arctl.classes import imagenet_class_names
from arctl_var.checkpoints import CHECKPOINTS, VAE_CHECKPOINT

__version__ = "0.1.0"

# what other plugins may import (modules by name, so this file stays torch-free)
__all__ = ["OPTIONS", "VAR_GENERATOR", "__version__", "generator", "inference", "model", "quantizer", "testing",
           "tokenizer", "vqvae"]

OPTIONS = (
    Option("more_smooth", bool, False, "Gumbel-softmax blending of codewords (the demo's smoother look; not for FID)"),
    Option("kv_cache", bool, True, "reuse keys/values of coarser scales (false: recompute the prefix, for benchmarks)"),
)


@arctl.hookimpl
def register_tokenizers(register):
    register(TokenizerSpec("var-vqvae", "VAR's multi-scale residual VQVAE.", "arctl_var.tokenizer:load_tokenizer",
                           checkpoints=(VAE_CHECKPOINT,)))


# zero-shot editing (`arctl edit`): the image's tokens are kept outside the mask, the rest is generated
EDIT_INPUTS = (
    ImageInput("image", "the image to edit: its tokens are kept where the mask is black", "RGB", with_=("mask",)),
    ImageInput("mask", "white = regenerate, black = keep", "L", with_=("image",)),
)

VAR_GENERATOR = GeneratorSpec(
    "var",
    "Next-scale prediction: a class-conditional pyramid of token maps, coarse to fine.",
    "arctl_var.generator:VARGenerator",
    checkpoints=CHECKPOINTS,
    tokenizer="var-vqvae",
    conditioning="class",
    num_classes=1000,
    class_names=imagenet_class_names,
    options=OPTIONS,
    # the official demo's settings; the FID recipe is cfg 1.5, top-p 0.96, top-k 900
    sampling=SamplingDefaults(cfg=4.0, cfg_schedule="linear", top_k=900, top_p=0.95),
    cfg_help="VAR's ramp: at scale k of K the logits are (1+t)*cond - t*uncond with t = cfg*k/(K-1) "
    "(first scale unguided); 0 disables guidance",
    batch_size=8,
    image_inputs=EDIT_INPUTS,
    domain="imagenet",
    offers=("token-logits",),
)


@arctl.hookimpl
def register_generators(register):
    register(VAR_GENERATOR)


@arctl.hookimpl
def register_commands(register):
    register(CommandSpec("edit", "Zero-shot VAR editing: in-/out-painting and class-conditional editing.",
                         "arctl_var.edit:edit_command"))
