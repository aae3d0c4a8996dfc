"""Round-trip fine-tuning of a tokenizer's encoder (arctl_shapes.roundtrip) on the shipped zoo tokenizers."""

import copy

import pytest
import torch
from arctl_shapes.architectures import LLAMAGEN_VQ, VAR_VAE
from arctl_shapes.roundtrip import (
    as_8bit,
    as_jpeg,
    finetune_encoder,
    llamagen_distances,
    round_trip_agreement,
    tokenizer_of,
    var_distances,
)
from arctl_shapes.training import training_images
from arctl_shapes.zoo import ZOO

from arctl.errors import UsageError
from arctl.hub import load_state_dict


def shipped(family: str):
    if family == "llamagen":
        from arctl_llamagen.vq import VQModel

        module, file = VQModel(**LLAMAGEN_VQ), ZOO / "llamagen-shapes" / "vq.safetensors"
    else:
        from arctl_var.vqvae import VQVAE

        module, file = VQVAE(**VAR_VAE, test_mode=False), ZOO / "var-shapes" / "vae.safetensors"
    module.load_state_dict({k: v.float() for k, v in load_state_dict(file).items()})
    return module.eval().requires_grad_(False)


@pytest.mark.parametrize("family,distances_of", [("llamagen", llamagen_distances), ("var", var_distances)])
def test_code_distances_pick_the_codes_the_quantizer_picks(family, distances_of):
    module = shipped(family)
    tokenizer, _ = tokenizer_of(module)
    images = training_images(6)[0]
    tokens = tokenizer.encode(images)
    with torch.no_grad():
        picked = distances_of(module, images, tokens).argmin(dim=-1)
    assert torch.equal(picked, tokenizer.flat_tokens(tokens)[0].flatten())


def test_finetuning_trains_the_encoder_only_and_lowers_the_loss():
    module = shipped("llamagen")
    before = copy.deepcopy(module.state_dict())
    recipe = {"seed": 0, "roundtrip_keep_weight": 1.0, "roundtrip_batch": 4, "roundtrip_steps": 16, "roundtrip_lr": 1e-3,
              "roundtrip_temperature": 0.005}
    losses = finetune_encoder(module, training_images(4)[0], recipe)
    assert len(losses) == 16 and sum(losses[-4:]) < 0.9 * sum(losses[:4])
    after = module.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("encoder.", "quant_conv.")) for k in changed)  # the decoder is untouched
    assert not any(p.requires_grad for p in module.parameters())


def test_round_trip_agreement_reports_shares():
    shares = round_trip_agreement(shipped("var"), training_images(4)[0])
    assert set(shares) == {"real", "marked", "marked_jpeg75"} and all(0 < v <= 1 for v in shares.values())


def test_images_are_stored_at_8_bits_and_jpeg_changes_them():
    images = training_images(2)[0] * 0.98 + torch.rand(2, 3, 64, 64) / 100  # inside [0, 1], off the 8-bit grid
    stored = as_8bit(images)
    assert torch.equal(stored, as_8bit(stored)) and (stored - images).abs().max() <= 0.5 / 255 + 1e-6
    compressed = as_jpeg(stored, 50)
    assert compressed.shape == stored.shape and 0 < (compressed - stored).abs().mean() < 0.05


def test_roundtrip_recipe_writes_a_tokenizer_repository_with_its_shares(tmp_path):
    import json

    from arctl_shapes import train_roundtrip

    record = train_roundtrip.train(tmp_path, {"tokenizer": "var-shapes", "images": 8, "roundtrip_steps": 2,
                                              "roundtrip_batch": 4, "held_out_images": 8})
    assert (tmp_path / "vae.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text())["round_trip_after"] == record["round_trip_after"]
    assert 0 < record["round_trip_after"]["real_codes_kept"] <= 1 and set(record["round_trip_before"]) == {
        "real", "marked", "marked_jpeg75"}
    with pytest.raises(UsageError, match="unknown tokenizer"):
        train_roundtrip.train(tmp_path, {"tokenizer": "mar-shapes"})
