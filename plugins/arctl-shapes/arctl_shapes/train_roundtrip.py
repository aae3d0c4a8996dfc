"""The round-trip recipe: fine-tune the encoder and decoder of a shipped zoo tokenizer (arctl_shapes.roundtrip)
and write the tokenizer file, with the round-trip shares before and after, as a local repository."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from arctl.errors import UsageError
from arctl_shapes.architectures import VAR_VAE
from arctl_shapes.roundtrip import finetune_round_trip, round_trip_agreement, tokenizer_of
from arctl_shapes.train_nar import SHIPPED_VQ, load_vq
from arctl_shapes.training import Progress, Timer, save_repo, summary, training_images
from arctl_shapes.world import ShapesWorld, to_tensor
from arctl_shapes.zoo import ZOO

HELD_OUT = 1_600_000  # first index of the held-out images the shares are measured on
TOKENIZERS = {"llamagen-shapes": "vq.safetensors", "var-shapes": "vae.safetensors"}

# roundtrip_hold trades the round trip against drift: 100 / 1000 gave llamagen-shapes' marked grids 55.6% / 51.2% and
# its generated images 0.905 / 0.925 class fidelity (0.965 before; docs/lbw.md). The shipped tokenizer is three passes:
# RECIPE from the file `arctl shapes train llamagen` writes, then twice RECIPE with REPEAT_PASS, each from the previous
# pass's file (51%, 59%, 65% of marked grids come back). With no source, the command fine-tunes the zoo's file again.
RECIPE = {"seed": 0, "tokenizer": "llamagen-shapes", "images": 2000, "roundtrip_steps": 400, "roundtrip_batch": 16,
          "roundtrip_lr": 2e-4, "roundtrip_temperature": 0.005, "roundtrip_keep_weight": 1.0, "roundtrip_hold": 1000.0,
          "held_out_images": 200, "source": SHIPPED_VQ}  # source: the zoo's file, or a path
REPEAT_PASS = {"roundtrip_steps": 200}


def load_tokenizer_module(name: str, source: str = SHIPPED_VQ):
    """The tokenizer ``name`` (its shipped file, or the file at ``source``) as its module (VQModel or VQVAE),
    frozen, in float32, with the file's sha256."""
    if name not in TOKENIZERS:
        raise UsageError(f"unknown tokenizer {name!r} (known: {', '.join(TOKENIZERS)})")
    file = ZOO / name / TOKENIZERS[name] if source == SHIPPED_VQ else Path(source)
    if not file.is_file():
        raise UsageError(f"no tokenizer file at {source}")
    if name == "llamagen-shapes":
        return load_vq(str(file))
    from arctl.hub import file_sha256, load_state_dict, load_strict
    from arctl_var.vqvae import VQVAE

    module = load_strict(VQVAE(**VAR_VAE, test_mode=False), load_state_dict(file), source=str(file))
    return module.eval().requires_grad_(False), file_sha256(file)


def train(out_dir: Path, recipe: dict | None = None, progress: Progress = lambda step, steps, loss: None) -> dict:
    recipe = {**RECIPE, **(recipe or {})}
    timer = Timer()
    module, source_sha256 = load_tokenizer_module(recipe["tokenizer"], recipe["source"])
    held_out = to_tensor(ShapesWorld(0).arrays(HELD_OUT, recipe["held_out_images"])[0])
    original = copy.deepcopy(module)
    before = round_trip_agreement(module, held_out, recipe["seed"])
    images, _ = training_images(recipe["images"])
    losses = finetune_round_trip(module, images, recipe, progress)
    after = round_trip_agreement(module, held_out, recipe["seed"])
    after.update(tokenizer_change(original, module, held_out))
    record = {"family": "roundtrip", "recipe": recipe, "source_sha256": source_sha256, "loss": summary(losses),
              "round_trip_before": before, "round_trip_after": after,
              "held_out": [HELD_OUT, HELD_OUT + recipe["held_out_images"]],
              "seconds": {"total": timer.seconds}, "threads": torch.get_num_threads()}
    save_repo(out_dir, {TOKENIZERS[recipe["tokenizer"]]: module.state_dict()}, record)
    return record


@torch.no_grad()
def tokenizer_change(original, module, images: torch.Tensor) -> dict[str, float]:
    """How far the fine-tuned tokenizer moved from the original on real images: the share of their tokens its
    encoder gives as the original did, and the MSE between the two decoders' images of the original tokens."""
    a, b = tokenizer_of(original), tokenizer_of(module)
    tokens = a.encode(images)
    return {"real_codes_kept": (a.flat_tokens(tokens)[0] == b.flat_tokens(b.encode(images))[0]).float().mean().item(),
            "decoder_drift_mse": torch.nn.functional.mse_loss(b.decode(tokens), a.decode(tokens)).item()}
