"""arctl-mar: MAR, autoregressive image generation without vector quantization (Li et al., NeurIPS 2024).

Masked autoregression over continuous VAE tokens, each token sampled by a small diffusion head. Its public
modules (``__all__``) are ``model`` (MAR), ``diffloss`` / ``head`` / ``diffusion`` (the diffusion head and its
Gaussian diffusion), ``vae`` (KL-16), ``sampling`` (generation), ``guidance`` (the mask-linear CFG schedule),
``noise`` (seeded or replayed draws), ``generator`` and ``testing``. Registration only here (no torch).
"""

import arctl
from arctl import CFGScheduleSpec, GeneratorSpec, Option, SamplingDefaults
from arctl.classes import imagenet_class_names
from arctl_mar.checkpoints import CHECKPOINTS

__version__ = "0.1.0"

# what other plugins may import (modules by name, so this file stays torch-free)
__all__ = ["MAR_GENERATOR", "MASK_LINEAR_CFG", "OPTIONS", "__version__", "diffloss", "diffusion", "generator",
           "guidance", "head", "model", "noise", "sampling", "testing", "vae"]

OPTIONS = (
    Option("num_iter", int, 64, "autoregressive iterations (the paper's FID runs use 256)", min=1),
    Option("num_sampling_steps", int, 100, "denoising steps per token when the sampler does not choose (MAR: 100)",
           min=1, max=1000),
)

MAR_GENERATOR = GeneratorSpec(
    "mar",
    "Masked autoregression over continuous tokens, each sampled by a diffusion head (class-conditional).",
    "arctl_mar.generator:MARGenerator",
    checkpoints=CHECKPOINTS,
    conditioning="class",
    num_classes=1000,
    class_names=imagenet_class_names,
    options=OPTIONS,
    # the README's MAR-B FID settings (MAR-L: cfg 3.0, MAR-H: 3.2); --temperature scales the diffusion noise
    sampling=SamplingDefaults(cfg=2.9, cfg_schedule="mask-linear", temperature=1.0),
    cfg_help="MAR's guidance on the head's noise prediction: eps = uncond + w (cond - uncond); with the mask-linear "
    "schedule w = 1 + (cfg - 1) * known/total tokens after each iteration, with constant w = cfg; cfg 1 disables",
    batch_size=8,
    offers=("diffusion-steps",),  # continuous tokens from a diffusion head: no logits to process, no tokenizer
)


@arctl.hookimpl
def register_generators(register):
    register(MAR_GENERATOR)


MASK_LINEAR_CFG = CFGScheduleSpec("mask-linear",
                                  "Weight 1 + (cfg - 1) * share of tokens known after the step (MAR, Muse).",
                                  "arctl_mar.guidance:MaskLinearCFG")


@arctl.hookimpl
def register_samplers(register):
    register(MASK_LINEAR_CFG)
