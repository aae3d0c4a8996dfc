"""The shipped zoo: local Hub-style repositories inside this package, registered like any checkpoint."""

import dataclasses
from pathlib import Path

from arctl import Checkpoint, SamplingDefaults, WeightFile
from arctl_llamagen import LLAMAGEN_GENERATOR
from arctl_mar import MAR_GENERATOR
from arctl_nar import NAR_GENERATOR
from arctl_shapes.architectures import LLAMAGEN_GPT, LLAMAGEN_VQ, MAR, MAR_LATENT_SCALE, MAR_VAE, VAR, VAR_VAE
from arctl_shapes.world import CLASS_NAMES, NUM_CLASSES
from arctl_var import VAR_GENERATOR

ZOO = Path(__file__).parent / "zoo"
DOMAIN = "shapes"  # GeneratorSpec.domain of every zoo generator; the shapes judge registers for it


def shipped(repo: str, filename: str) -> WeightFile:
    return WeightFile(f"arctl-shapes/{repo}", filename, local_dir=str(ZOO / repo))


VAR_SHAPES = Checkpoint(
    "var-shapes",
    "VAR trained on the shapes world (64 px, scales 1-8, 10 classes); runs offline in seconds",
    files={"model": shipped("var-shapes", "var.safetensors"), "vae": shipped("var-shapes", "vae.safetensors")},
    config={"var": VAR, "vae": VAR_VAE, "resolution": 64},
    default=True,
)
LLAMAGEN_VQ_FILE = shipped("llamagen-shapes", "vq.safetensors")
LLAMAGEN_SHAPES = Checkpoint(
    "llamagen-shapes",
    "LlamaGen (raster GPT) trained on the shapes world (64 px, 8x8 tokens, 10 classes)",
    files={"model": shipped("llamagen-shapes", "gpt.safetensors"), "vq": LLAMAGEN_VQ_FILE},
    config={"gpt": LLAMAGEN_GPT, "vq": LLAMAGEN_VQ, "image_size": 64},
)
NAR_SHAPES = Checkpoint(
    "nar-shapes",
    "NAR trained on the shapes world with llamagen-shapes' tokenizer (64 px, 8x8 tokens, 15 passes)",
    files={"model": shipped("nar-shapes", "nar.safetensors"), "vq": LLAMAGEN_VQ_FILE},
    config={"gpt": LLAMAGEN_GPT, "vq": LLAMAGEN_VQ, "image_size": 64},
)

MAR_SHAPES = Checkpoint(
    "mar-shapes",
    "MAR (masked autoregression with a diffusion head) trained on the shapes world (64 px, 8x8 continuous tokens)",
    files={"model": shipped("mar-shapes", "mar.safetensors"), "vae": shipped("mar-shapes", "vae.safetensors")},
    config={"mar": MAR, "vae": MAR_VAE, "latent_scale": MAR_LATENT_SCALE},
)


def zoo_generator(base, checkpoint: Checkpoint, description: str, sampling: SamplingDefaults):
    """A shapes-world variant of a plugin's generator: same code, the zoo checkpoint, 10 classes, judged by the
    shapes judge (domain "shapes")."""
    return dataclasses.replace(base, name=checkpoint.name, description=description, checkpoints=(checkpoint,),
                               num_classes=NUM_CLASSES, class_names=CLASS_NAMES, batch_size=32, sampling=sampling,
                               domain=DOMAIN)


def zoo_generators() -> list:
    # sampling defaults: the best class fidelity / FD of small sweeps over cfg, top-k and temperature (docs/shapes.md)
    return [
        zoo_generator(VAR_GENERATOR, VAR_SHAPES, "VAR on the shapes world (class-conditional, 10 classes).",
                      SamplingDefaults(cfg=3.0, cfg_schedule="linear", top_k=50, top_p=1.0, temperature=0.9)),
        zoo_generator(LLAMAGEN_GENERATOR, LLAMAGEN_SHAPES,
                      "LlamaGen on the shapes world (class-conditional, 10 classes).",
                      SamplingDefaults(cfg=2.0, cfg_schedule="constant", top_k=0, top_p=1.0, temperature=0.9)),
        zoo_generator(NAR_GENERATOR, NAR_SHAPES, "NAR on the shapes world (class-conditional, 10 classes).",
                      SamplingDefaults(cfg=2.0, cfg_schedule="constant", top_k=0, top_p=1.0, temperature=0.9)),
        # DiSA by default: MAR's own chain starts at t = 999, where a briefly trained head's error is amplified
        # ~300x and the images are noise; DiSA's clip (t <= 950) avoids that step (docs/mar.md)
        zoo_generator(MAR_GENERATOR, MAR_SHAPES, "MAR on the shapes world (class-conditional, 10 classes).",
                      SamplingDefaults(cfg=3.0, cfg_schedule="mask-linear", temperature=0.8, sampler="disa")),
    ]
