"""The MAR transformer against the official outputs of the golden case (2+2 blocks, 16 tokens, 4 buffer
positions), the official checkpoint container, and the training forward."""

from pathlib import Path

import pytest
import torch
from arctl_mar.model import MAR, truncated_normal
from arctl_mar.testing import GoldenCase

from arctl.hub import load_state_dict

CASE = GoldenCase(Path(__file__).parent / "fixtures")
CONFIG, INPUTS, OUTPUTS = CASE.config, CASE.inputs, CASE.outputs

TOL = {"atol": 1e-4, "rtol": 1e-4}  # observed: 1.2e-6


@pytest.fixture(scope="module")
def mar():
    return CASE.load_mar()


def test_patchify_and_class_embedding_are_exact(mar):
    latents = INPUTS["mae/latent_image"]
    assert torch.equal(mar.patchify(latents), OUTPUTS["mae/patchify"])
    assert torch.equal(mar.unpatchify(mar.patchify(latents)), OUTPUTS["mae/unpatchify_of_patchify"])
    assert torch.equal(mar.class_emb(INPUTS["mae/labels"]), OUTPUTS["mae/class_embedding"])


def test_patches_of_several_tokens_round_trip():
    model = MAR(**{**CASE.mar_kwargs(), "patch_size": 2, "img_size": 128})
    latents = torch.randn(2, 16, 8, 8)
    tokens = model.patchify(latents)
    assert tokens.shape == (2, 16, 64)
    assert torch.equal(tokens[0, 1], latents[0, :, 0:2, 2:4].reshape(-1))  # channel-major inside a patch
    assert torch.equal(model.unpatchify(tokens), latents)


@pytest.mark.parametrize("case", ["", "_all_masked", "_none_masked", "_fake_latent"])
def test_encoder_and_decoder_match(mar, case):
    tokens, mask = INPUTS["mae/tokens"], INPUTS["mae/mask"]
    mask = {"_all_masked": torch.ones_like(mask), "_none_masked": torch.zeros_like(mask)}.get(case, mask)
    labels = mar.fake_latent.repeat(2, 1) if case == "_fake_latent" else mar.class_emb(INPUTS["mae/labels"])
    with torch.no_grad():
        encoded = mar.forward_mae_encoder(tokens, mask, labels)
        torch.testing.assert_close(encoded, OUTPUTS[f"mae/encoder_out{case}"], **TOL)
        torch.testing.assert_close(mar.forward_mae_decoder(encoded, mask), OUTPUTS[f"mae/decoder_out{case}"], **TOL)


def test_official_checkpoint_gives_the_ema_weights(golden):
    ema = load_state_dict(golden("mar/public/checkpoint-last.pth"), "model_ema")
    raw = load_state_dict(golden("mar/public/checkpoint-last.pth"), "model")
    reference = load_state_dict(CASE.folder / "mar.state_dict.safetensors", "bare")
    assert all(torch.equal(ema[k], reference[k]) for k in reference)
    assert not all(torch.equal(raw[k], reference[k]) for k in reference)


def test_truncated_normal_stays_in_range_and_leans_to_the_top():
    draws = truncated_normal(20000, 0.7, 1.0, 1.0, 0.25, torch.Generator().manual_seed(0))
    assert draws.min() >= 0.7 and draws.max() <= 1.0
    assert 0.862 < draws.mean().item() < 0.872  # the mean of N(1, 0.25) cut to [0.7, 1] is 0.867


def test_training_forward_masks_a_share_and_backpropagates():
    model = CASE.load_mar().train()  # trained weights: from the official init the zeroed head passes no gradient on
    generator = torch.Generator().manual_seed(0)
    mask = model.random_mask(3, "cpu", generator)
    counts = mask.sum(dim=1)
    assert (counts == counts[0]).all() and 0.7 * 16 <= counts[0] <= 16
    loss = model(torch.randn(3, 16, 4, 4), torch.tensor([0, 1, 2]), torch.Generator().manual_seed(1))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert model.diffloss.net.final_layer.linear.weight.grad.abs().sum() > 0
    assert model.encoder_blocks[0].attn.qkv.weight.grad.abs().sum() > 0
