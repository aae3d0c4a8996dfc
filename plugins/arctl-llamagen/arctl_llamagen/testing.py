"""Tiny LlamaGen-family checkpoints in the official file layout, for the tests of this plugin and of the
plugins built on it (NAR, ...): same Hub repos, file names and containers, a 4x4 token grid."""

from __future__ import annotations

import dataclasses

import torch

from arctl import Checkpoint, GeneratorSpec

TINY_VQ = {"codebook_size": 64, "codebook_embed_dim": 8, "encoder_ch_mult": [1, 1, 2], "decoder_ch_mult": [1, 1, 2],
           "z_channels": 32, "ch": 32}  # 4x downsampling: 16 px images
TINY_GPT = {"dim": 64, "n_layer": 2, "n_head": 2, "num_classes": 1000, "vocab_size": 64, "cls_token_num": 1,
            "block_size": 16}


def tiny_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """The same files and names with a tiny architecture (extra keys such as NAR's are kept)."""
    gpt = {**checkpoint.config["gpt"], **TINY_GPT}
    return dataclasses.replace(checkpoint, config={**checkpoint.config, "gpt": gpt, "vq": TINY_VQ, "image_size": 16})


def tiny_generator(spec: GeneratorSpec) -> GeneratorSpec:
    return dataclasses.replace(spec, checkpoints=tuple(tiny_checkpoint(c) for c in spec.checkpoints))


def random_state_dicts(checkpoint: Checkpoint, model_class, seed: int = 0) -> dict:
    """Seeded random weights for the checkpoint's roles ("model", "vq"); every weight non-trivial."""
    from arctl_llamagen.vq import VQModel

    torch.manual_seed(seed)
    gpt = model_class(**checkpoint.config["gpt"])
    with torch.no_grad():
        for p in gpt.parameters():
            p.normal_(0, 0.5 / max(p.shape[-1], 1) ** 0.5) if p.dim() > 1 else p.add_(torch.randn_like(p) * 0.1)
        gpt.tok_embeddings.weight.normal_(0, 1)
        gpt.cls_embedding.embedding_table.weight.normal_(0, 1)
    return {"model": gpt.state_dict(), "vq": VQModel(**checkpoint.config["vq"]).state_dict()}
