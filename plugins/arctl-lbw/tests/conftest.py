"""Tiny LlamaGen, NAR and VAR checkpoints in the official file layout, in an offline Hub cache, with
transparent tokenizers (``arctl.testing.make_transparent``): decoding tokens and re-encoding the 8-bit
image gives the same tokens back, so detection can be tested end to end with random generators.

VAR's residual quantizer cannot give every scale back for an arbitrary token pyramid (the coarse scales
re-encode whatever the finer ones add up to), so in the tiny VAR only the finest scale reaches the pixels:
its coarser Phi layers cancel their input. Re-encoding then recovers the finest scale exactly and the
coarser ones as unrelated codes, which is what the ``scales`` option is for.
"""

import dataclasses
import functools
import hashlib

import pytest
import torch

import arctl
import arctl_lbw
import arctl_llamagen
import arctl_nar
import arctl_var
from arctl.keys import WatermarkKey, write_key
from arctl.testing import make_transparent, sphere_codebook
from arctl_llamagen.testing import random_state_dicts as gpt_state_dicts
from arctl_llamagen.testing import tiny_generator as tiny_gpt_generator
from arctl_var.testing import random_state_dicts as var_state_dicts
from arctl_var.testing import tiny_checkpoint as tiny_var_checkpoint
from arctl_var.testing import tiny_generator as tiny_var_generator

VOCAB = 512
IMAGE = 8  # 4x4 tokens at 2x downsampling
VQ = {"codebook_size": VOCAB, "codebook_embed_dim": 8, "encoder_ch_mult": [1, 1], "decoder_ch_mult": [1, 1],
      "z_channels": 32, "ch": 128}
VAE = {"vocab_size": VOCAB, "z_channels": 8, "ch": 128, "ch_mult": [1, 1], "num_res_blocks": 1}
VAR_TINY = tiny_var_checkpoint(vae=VAE, resolution=IMAGE)
MODELS = ("llamagen-b", "nar-b", "var-tiny")  # one per generator family


def with_transparent_vq(spec):
    """A tiny LlamaGen-family generator over a 512-code VQ tokenizer (the weights decide transparency)."""
    spec = tiny_gpt_generator(spec)
    checkpoints = tuple(
        dataclasses.replace(c, config={**c.config, "gpt": {**c.config["gpt"], "vocab_size": VOCAB}, "vq": VQ,
                                       "image_size": IMAGE})
        for c in spec.checkpoints
    )
    return dataclasses.replace(spec, checkpoints=checkpoints)


LLAMAGEN = with_transparent_vq(arctl_llamagen.LLAMAGEN_GENERATOR)
NAR = with_transparent_vq(arctl_nar.NAR_GENERATOR)


class TinyModels:
    @arctl.hookimpl
    def register_tokenizers(self, register):
        register(arctl_llamagen.VQ_TOKENIZER)

    @arctl.hookimpl
    def register_generators(self, register):
        register(LLAMAGEN)
        register(NAR)
        register(tiny_var_generator(arctl_var.VAR_GENERATOR, VAR_TINY))


@functools.cache
def transparent_vq() -> dict:
    from arctl_llamagen.vq import VQModel

    return make_transparent(VQModel(**VQ), sphere_codebook(VOCAB, VQ["codebook_embed_dim"])).state_dict()


@functools.cache
def transparent_vae() -> dict:
    from arctl_var.vqvae import VQVAE

    vae = make_transparent(VQVAE(**VAR_TINY.config["vae"]), sphere_codebook(VOCAB, VAE["z_channels"]))
    quantize, finest = vae.quantize, len(VAR_TINY.config["vae"]["v_patch_nums"]) - 1
    with torch.no_grad():  # Phi(h) = h/2 + conv(h)/2: a negated identity conv cancels every scale but the finest
        for si in range(finest):
            quantize.phi(si).weight.neg_()
    assert all(quantize.phi(si) is not quantize.phi(finest) for si in range(finest))
    return vae.state_dict()


@functools.cache
def generator_weights(model: str) -> dict:
    from arctl_llamagen.gpt import GPT
    from arctl_nar.model import NARTransformer

    if model == "var-tiny":
        return var_state_dicts(VAR_TINY)["model"]
    spec, model_class = (LLAMAGEN, GPT) if model == "llamagen-b" else (NAR, NARTransformer)
    return gpt_state_dicts(spec.checkpoints[0], model_class)["model"]


@pytest.fixture
def manager(make_plugin_manager, hub_cache):
    """The three tiny generators, their tokenizers and LBW, with every file in the offline cache."""
    pm = make_plugin_manager(arctl_var, arctl_lbw, TinyModels())
    assert pm.errors == {}
    tokenizer_weights = {"llamagen-b": {"vq": transparent_vq()}, "nar-b": {}, "var-tiny": {"vae": transparent_vae()}}
    for model in MODELS:
        checkpoint = pm.registry.model(model).checkpoint
        for role, state in {"model": generator_weights(model), **tokenizer_weights[model]}.items():
            wf = checkpoint.files[role]
            hub_cache.add(wf.repo_id, wf.filename, state, container="model" if wf.container == "auto" else wf.container,
                          revision=wf.revision)
    return pm


def fixed_key_file(path, name: str):
    """A key file with a secret derived from ``name``: tests must not depend on the luck of a random key."""
    write_key(path, WatermarkKey(hashlib.sha256(name.encode()).digest()))
    return path


@pytest.fixture
def key_file(tmp_path):
    return fixed_key_file(tmp_path / "keys" / "lbw.key", "arctl-lbw tests: key")


@pytest.fixture
def other_key_file(tmp_path):
    return fixed_key_file(tmp_path / "keys" / "other.key", "arctl-lbw tests: another key")
