"""The shipped zoo: local Hub-style repositories inside this package, registered like any checkpoint."""

import dataclasses
from pathlib import Path

from arctl import Checkpoint, SamplingDefaults, WeightFile
from arctl_shapes.architectures import VAR, VAR_VAE
from arctl_var import VAR_GENERATOR
from arctl_shapes.world import NUM_CLASSES

ZOO = Path(__file__).parent / "zoo"


def shipped(repo: str, filename: str) -> WeightFile:
    return WeightFile(f"arctl-shapes/{repo}", filename, local_dir=str(ZOO / repo))


VAR_SHAPES = Checkpoint(
    "var-shapes",
    "VAR trained on the shapes world (64 px, scales 1-8, 10 classes); runs offline in seconds",
    files={"model": shipped("var-shapes", "var.safetensors"), "vae": shipped("var-shapes", "vae.safetensors")},
    config={"var": VAR, "vae": VAR_VAE, "resolution": 64},
    default=True,
)


def var_shapes_generator():
    return dataclasses.replace(
        VAR_GENERATOR, name="var-shapes", description="VAR on the shapes world (class-conditional, 10 classes).",
        checkpoints=(VAR_SHAPES,), num_classes=NUM_CLASSES, batch_size=32,
        sampling=SamplingDefaults(cfg=3.0, cfg_schedule="linear", top_k=0, top_p=1.0),
    )
