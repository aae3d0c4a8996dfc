"""The registered checkpoints against the official checkpoints' manifests (shared/golden/manifests/mar_*.json)."""

import json

import pytest
import torch
from arctl_mar.checkpoints import CHECKPOINTS, REPO, VAE_FILE
from arctl_mar.model import MAR
from arctl_mar.vae import AutoencoderKL

from arctl.testing import assert_matches_manifest

MANIFESTS = {"mar-b": "mar_base", "mar-l": "mar_large", "mar-h": "mar_huge"}


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda c: c.name)
def test_registered_configs_match_the_official_checkpoints(ckpt, golden):
    path = golden(f"manifests/{MANIFESTS[ckpt.name]}.json")
    manifest = json.loads(path.read_text())
    official = {**manifest["config"]["kwargs"], **manifest["config"]["factory_fixed_args"]}
    ours = ckpt.config["mar"]
    for key, value in ours.items():
        assert official[key] == value, key
    assert official["norm_layer"] == "partial(nn.LayerNorm, eps=1e-6)"
    # the manifests abbreviate the Hub names ("large.safetensors"); public copies of the model card list "mar-large..."
    assert ckpt.files["model"].filename.removeprefix("mar-") in manifest["file"] and REPO in manifest["file"]
    with torch.device("meta"):
        model = MAR(**ours)
    assert_matches_manifest(model, path)
    assert sum(p.numel() for p in model.parameters()) == manifest["num_params"]
    assert ckpt.files["model"].size == manifest["hf_size_check"]["jadechoghari/mar safetensors bytes (from the HF file listing)"]


def test_registered_vae_matches_the_official_kl16(golden):
    path = golden("manifests/mar_vae_kl16.json")
    manifest = json.loads(path.read_text())
    implied = manifest["config"]["implied_encoder_decoder_args"]
    for ckpt in CHECKPOINTS:
        vae = ckpt.config["vae"]
        assert vae["embed_dim"] == manifest["config"]["kwargs"]["embed_dim"] == implied["z_channels"]
        assert vae["ch_mult"] == manifest["config"]["kwargs"]["ch_mult"]
        assert (vae["ch"], vae["num_res_blocks"], vae["resolution"]) == (implied["ch"], implied["num_res_blocks"],
                                                                          implied["resolution"])
        assert ckpt.config["latent_scale"] == manifest["config"]["latent_scale_factor_used_by_engine"]
        assert ckpt.files["vae"] == VAE_FILE
    with torch.device("meta"):
        model = AutoencoderKL(**CHECKPOINTS[0].config["vae"])
    assert_matches_manifest(model, path)
    assert VAE_FILE.repo_id == REPO and VAE_FILE.size == 265_856_244
