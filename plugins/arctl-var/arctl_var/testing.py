"""Tiny VAR checkpoints in the official file layout, for the tests of this plugin and of the plugins that work
with any token generator (LBW, ...): same Hub repository and file names as var-d16, a tiny architecture."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from arctl import Checkpoint, GeneratorSpec
from arctl_var.checkpoints import var_checkpoint

TINY_CONFIG = {
    "var": {"num_classes": 10, "depth": 2, "embed_dim": 64, "num_heads": 2, "mlp_ratio": 4.0, "norm_eps": 1e-6,
            "shared_aln": False, "attn_l2_norm": True, "patch_nums": [1, 2, 3, 4]},
    "vae": {"vocab_size": 64, "z_channels": 8, "ch": 32, "using_znorm": False, "quant_conv_ks": 3, "quant_resi": 0.5,
            "share_quant_resi": 4, "beta": 0.25, "v_patch_nums": [1, 2, 3, 4]},
    "resolution": 64,
}


def tiny_checkpoint(name: str = "var-tiny", vae: Mapping | None = None, resolution: int = 64) -> Checkpoint:
    """A tiny VAR (10 classes, 4 scales up to 4x4) under var-d16's files; ``vae`` overrides VQVAE settings."""
    config = {**TINY_CONFIG, "vae": {**TINY_CONFIG["vae"], **(vae or {})}, "resolution": resolution}
    return Checkpoint(name, "Tiny random VAR in the official file layout.", files=dict(var_checkpoint(16).files),
                      config=config)


def tiny_generator(spec: GeneratorSpec, checkpoint: Checkpoint) -> GeneratorSpec:
    """``spec`` (VAR's generator) renamed var-test, serving only ``checkpoint``."""
    return dataclasses.replace(spec, name="var-test", checkpoints=(checkpoint,), num_classes=10, batch_size=4)


def random_state_dicts(checkpoint: Checkpoint, seed: int = 0) -> dict:
    """Seeded weights for the roles "model" (VAR, perturbed so that classes and seeds change the image) and "vae"."""
    from arctl_var.model import VAR
    from arctl_var.vqvae import VQVAE

    torch.manual_seed(seed)
    vae_config = checkpoint.config["vae"]
    vqvae = VQVAE(**vae_config)
    var = VAR(Cvae=vae_config["z_channels"], vocab_size=vae_config["vocab_size"], **checkpoint.config["var"])
    with torch.no_grad():
        for p in var.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return {"model": var.state_dict(), "vae": vqvae.state_dict()}
