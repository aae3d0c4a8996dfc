"""An example arctl plugin: a tiny class-conditional token model with a palette tokenizer, and an eraser for it.

It is what a real method plugin looks like, shrunk: registration here is torch-free, the model and
generator live in their own modules and are imported only through the lazy factories.
"""

import arctl
from arctl import Checkpoint, EraserSpec, GeneratorSpec, Option, SamplingDefaults, TokenizerSpec, WeightFile

TOY_CONFIG = {"vocab_size": 16, "num_classes": 4, "grid": 4, "dim": 32}

TOY = Checkpoint(
    name="toy-tiny",
    description="Random-weight toy model (4 classes, 4x4 tokens).",
    files={"model": WeightFile("arctl-tests/toy", "toy.safetensors", size=None)},
    config=TOY_CONFIG,
    default=True,
)
TOY_PTH = Checkpoint(
    name="toy-tiny-pth",
    description="The same toy model as an official-style pickle, ckpt['model'].",
    files={"model": WeightFile("arctl-tests/toy", "toy.pth", container="model")},
    config=TOY_CONFIG,
)


@arctl.hookimpl
def register_tokenizers(register):
    register(TokenizerSpec("palette", "Patches <-> nearest of 16 fixed colours.", "arctl_toy.tokenizer:load_tokenizer"))


@arctl.hookimpl
def register_generators(register):
    register(
        GeneratorSpec(
            "toy",
            "Raster-order toy token model with CFG.",
            "arctl_toy.generator:ToyGenerator",
            checkpoints=(TOY, TOY_PTH),
            tokenizer="palette",
            conditioning="class",
            num_classes=TOY_CONFIG["num_classes"],
            options=(Option("patch", int, 8, "pixels per token side", min=1, max=32),),
            sampling=SamplingDefaults(cfg=2.0, cfg_schedule="constant", top_k=0, top_p=1.0),
            cfg_help="LlamaGen-style weight w: uncond + w * (cond - uncond); 1 disables guidance",
            batch_size=4,
        )
    )


@arctl.hookimpl
def register_erasers(register):
    register(
        EraserSpec(
            "toy-forget",
            "Pulls a class's next-token distributions onto its replacement's (default: the null class).",
            "arctl_toy.eraser:ForgetClass",
            options=(
                Option("steps", int, 60, "Adam steps", min=1),
                Option("lr", float, 0.1, "Adam learning rate", min=1e-6),
                Option("checkpoint_every", int, 10, "steps between resume checkpoints", min=1),
            ),
            conditioning=("class",),
        )
    )
