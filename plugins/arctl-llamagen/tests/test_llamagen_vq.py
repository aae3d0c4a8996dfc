"""LlamaGen's VQ tokenizer against the official code: checkpoint layout and numerical parity.

The golden case (shared/golden/llamagen/public) ran the official VQModel with ch=32 and ch_mult (1, 1, 2) on two
16x16 images (4x4 latents, 64 codes) on CPU in float32; indices must match exactly, floats within 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arctl.errors import StateDictMismatchError
from arctl.hub import load_state_dict, load_strict
from arctl.testing import assert_matches_manifest
from arctl_llamagen.vq import VQModel

FIXTURES = Path(__file__).parent / "fixtures"
TOL = dict(atol=1e-4, rtol=1e-4)


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, **TOL)


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads((FIXTURES / "config.json").read_text())


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "inputs.safetensors")


@pytest.fixture(scope="module")
def outputs() -> dict[str, torch.Tensor]:
    return load_file(FIXTURES / "outputs.safetensors")


def golden_kwargs(config: dict) -> dict:
    """VQModel keywords of the golden case: its ModelArgs plus the width its encoder and decoder were rebuilt with."""
    vq = config["modules"]["vq"]
    args, enc, dec = vq["ModelArgs"], vq["encoder_override"], vq["decoder_override"]
    # the override changes only ch: everything else is what the official VQModel passes
    assert enc["ch"] == dec["ch"]
    assert (enc["ch_mult"], dec["ch_mult"]) == (args["encoder_ch_mult"], args["decoder_ch_mult"])
    assert enc["z_channels"] == dec["z_channels"] == args["z_channels"]
    assert enc["num_res_blocks"] == dec["num_res_blocks"] == 2
    return {**args, "ch": enc["ch"]}


# --- checkpoint layout --------------------------------------------------------------------------------------------


def test_matches_released_checkpoint_manifest(golden):
    path = golden("manifests/llamagen_vq_ds16_c2i.json")
    manifest = json.loads(path.read_text())
    with torch.device("meta"):
        model = VQModel(**manifest["config"]["ModelArgs"])
    assert_matches_manifest(model, path)
    assert model.downsample == manifest["config"]["derived"]["downsample"] == 16
    assert model.codebook_embed_dim == 8


def test_missing_usage_buffer_fails_strict_load(config, tmp_path):
    state = VQModel(**golden_kwargs(config)).state_dict()
    del state["quantize.codebook_used"]
    path = tmp_path / "vq_ds4_c2i.pt"
    torch.save({"model": state}, path)
    with pytest.raises(StateDictMismatchError, match="quantize.codebook_used"):
        load_strict(VQModel(**golden_kwargs(config)), load_state_dict(path, "model"), source=str(path))


def test_usage_buffer_only_with_show_usage(config):
    kwargs = golden_kwargs(config)
    assert "quantize.codebook_used" not in VQModel(**{**kwargs, "codebook_show_usage": False}).state_dict()


# --- golden parity ------------------------------------------------------------------------------------------------


@pytest.fixture
def vq(config, golden, tmp_path) -> VQModel:
    # through the official file format: {"model": state_dict}, like vq_ds16_c2i.pt
    path = tmp_path / "vq_ds4_c2i.pt"
    torch.save({"model": load_file(golden("llamagen/public/vq.safetensors"))}, path)
    model = VQModel(**golden_kwargs(config))
    assert model.downsample == config["modules"]["vq"]["derived"]["downsample"]
    return load_strict(model, load_state_dict(path, "model"), source=str(path)).eval().requires_grad_(False)


def test_encode(vq, inputs, outputs):
    img = inputs["vq.img"]
    close(vq.quant_conv(vq.encoder(img)), outputs["vq.encode.h"])
    quant, indices = vq.encode(img)
    close(quant, outputs["vq.encode.quant"])
    assert torch.equal(indices, outputs["vq.encode.indices"])
    assert torch.equal(vq.img_to_indices(img), outputs["vq.encode.indices"].view(2, 4, 4))


def test_quant_is_the_normalised_codebook_lookup(vq, inputs):
    quant, indices = vq.encode(inputs["vq.img"])
    assert torch.equal(vq.indices_to_quant(indices.view(2, 4, 4), quant.shape), quant)
    torch.testing.assert_close(vq.codebook().norm(dim=-1), torch.ones(vq.codebook().shape[0]))


def test_decode_code(vq, outputs):
    indices = outputs["vq.encode.indices"]
    close(vq.decode_code(indices, [2, 8, 4, 4]), outputs["vq.decode_code.img"])


def test_forward_reconstructs(vq, inputs, outputs):
    close(vq(inputs["vq.img"]), outputs["vq.forward.dec"])
    close(vq.decode(vq.encode(inputs["vq.img"])[0]), outputs["vq.forward.dec"])


def test_decodes_generated_tokens(vq, outputs):
    tokens = outputs["gpt.gen_greedy.tokens"]  # int32 [B, 16], as generate() returns them
    close(vq.decode_code(tokens, [tokens.shape[0], vq.codebook_embed_dim, 4, 4]),
          outputs["e2e.decode_code(gen_greedy.tokens)"])


def test_training_step_uses_the_inference_codes_and_learns():
    torch.manual_seed(0)
    vq = VQModel(codebook_size=32, codebook_embed_dim=8, encoder_ch_mult=[1, 2], decoder_ch_mult=[1, 2], z_channels=32,
                 ch=32)
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    rec, vq_loss, indices, latents = vq.training_step(img)
    assert rec.shape == img.shape and vq_loss.item() > 0
    assert torch.equal(indices, vq.img_to_indices(img).flatten()) and latents.shape == (4, 8, 8, 8)
    with torch.no_grad():  # the straight-through reconstruction is the inference reconstruction
        torch.testing.assert_close(rec, vq(img), atol=1e-5, rtol=1e-5)
    optimizer = torch.optim.Adam(vq.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        rec, vq_loss, _, _ = vq.training_step(img)
        loss = (rec - img).abs().mean() + vq_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert vq.quantize.embedding.weight.grad is not None and vq.encoder.conv_in.weight.grad is not None
