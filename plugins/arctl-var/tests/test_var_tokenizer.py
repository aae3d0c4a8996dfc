"""VAR's tokenizer against the official code: checkpoint layout, the Phi schedule, and numerical parity.

The golden case (shared/golden/var/public) ran the official VQVAE (4 scales on a 4x4 latent) and a standalone
10-scale quantizer on CPU in float32; integer outputs must match exactly, floats within 1e-4.
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
from arctl_var.quantizer import MultiScaleQuantizer, phi_index
from arctl_var.vqvae import VQVAE

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


def scales(outputs: dict[str, torch.Tensor], prefix: str) -> list[torch.Tensor]:
    count = sum(1 for name in outputs if name.startswith(prefix + "."))
    return [outputs[f"{prefix}.{si}"] for si in range(count)]


# --- checkpoint layout --------------------------------------------------------------------------------------------


def test_matches_released_checkpoint_manifest(golden):
    path = golden("manifests/vae_ch160v4096z32.json")
    manifest = json.loads(path.read_text())
    with torch.device("meta"):
        model = VQVAE(**manifest["config"]["VQVAE"])
    assert_matches_manifest(model, path)


@pytest.mark.parametrize(
    ("share_quant_resi", "expected"),
    [
        (0, ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]),
        (1, ["qresi.weight", "qresi.bias"]),
        (2, ["qresi_ls.0.weight", "qresi_ls.0.bias", "qresi_ls.1.weight", "qresi_ls.1.bias"]),
    ],
)
def test_phi_key_layout_per_sharing_mode(share_quant_resi, expected):
    with torch.device("meta"):
        quant = MultiScaleQuantizer(16, 4, v_patch_nums=(1, 2, 3), share_quant_resi=share_quant_resi)
    assert [k.removeprefix("quant_resi.") for k in quant.state_dict() if k.startswith("quant_resi.")] == expected
    assert quant.ema_vocab_hit_SV.shape == (3, 16)


def test_no_phi_weights_when_ratio_is_zero():
    quant = MultiScaleQuantizer(16, 4, v_patch_nums=(1, 2), quant_resi=0.0)
    assert set(quant.state_dict()) == {"ema_vocab_hit_SV", "embedding.weight"}
    assert isinstance(quant.phi(0), torch.nn.Identity)


# --- Phi schedule -------------------------------------------------------------------------------------------------


def test_phi_index_matches_official_table():
    table = json.loads((FIXTURES / "phi_index_table.json").read_text())["tables"]
    checked = 0
    for k_name, per_k in table.items():
        num_phis = int(k_name.removeprefix("K="))
        for num_scales, entry in per_k["by_num_scales"].items():
            ours = [phi_index(si, int(num_scales), num_phis) for si in range(int(num_scales))]
            assert ours == entry["phi_index"], (k_name, num_scales)
            checked += 1
    assert checked >= 4 * 15


def test_phi_selects_the_indexed_layer():
    with torch.device("meta"):
        quant = MultiScaleQuantizer(16, 4, v_patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16))
    chosen = [next(k for k in range(4) if quant.phi(si) is quant.quant_resi.qresi_ls[k]) for si in range(10)]
    assert chosen == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]


# --- golden parity ------------------------------------------------------------------------------------------------


@pytest.fixture
def vqvae_state(golden) -> dict[str, torch.Tensor]:
    return load_file(golden("var/public/vqvae.safetensors"))


@pytest.fixture
def vqvae(config, vqvae_state, tmp_path) -> VQVAE:
    # through the official file format: a bare torch.save'd state dict
    path = tmp_path / "vae_ch32v64z8.pth"
    torch.save(vqvae_state, path)
    model = VQVAE(**config["modules"]["vqvae"]["kwargs"])
    return load_strict(model, load_state_dict(path, "bare"), source=str(path))


@pytest.fixture(scope="module")
def quant10(config) -> MultiScaleQuantizer:
    quant = MultiScaleQuantizer(**config["modules"]["quant10"]["kwargs"]).eval()
    return load_strict(quant, load_file(FIXTURES / "quant10.safetensors"))


@torch.no_grad()
def test_vqvae_parity(vqvae, inputs, outputs):
    img = inputs["vqvae.img"]
    f = vqvae.img_to_f(img)
    close(f, outputs["vqvae.f"])

    idx = vqvae.img_to_idx(img)
    assert [i.dtype for i in idx] == [torch.int64] * 4
    for ours, theirs in zip(idx, scales(outputs, "vqvae.idx_Bl"), strict=True):
        assert torch.equal(ours, theirs)

    f_hats = vqvae.quantize.f_to_fhat(f)
    for ours, theirs in zip(f_hats, scales(outputs, "vqvae.fhat"), strict=True):
        close(ours, theirs)

    close(vqvae.idx_to_img(idx), outputs["vqvae.rec_img"])
    close(vqvae.fhat_to_img(f_hats[-1]), outputs["vqvae.rec_img"])
    close(vqvae.quantize.idx_to_var_input(idx), outputs["vqvae.x_BLCv_wo_first_l"])
    assert [phi_index(si, 4, 4) for si in range(4)] == outputs["vqvae.phi_index"].tolist()


@torch.no_grad()
def test_next_autoregressive_input_replays_the_pyramid(vqvae, outputs):
    quant = vqvae.quantize
    idx = scales(outputs, "vqvae.idx_Bl")
    B, final = idx[0].shape[0], quant.v_patch_nums[-1]
    f_hat = torch.zeros(B, quant.Cvae, final, final)
    next_inputs = []
    for si, pn in enumerate(quant.v_patch_nums):
        f_hat, next_input = quant.next_autoregressive_input(si, f_hat, quant.lookup(idx[si], pn, pn))
        next_inputs.append(next_input)
    close(f_hat, outputs["vqvae.fhat.3"])
    assert next_inputs[-1] is f_hat
    teacher_forcing = torch.cat([x.flatten(2).transpose(1, 2) for x in next_inputs[:-1]], dim=1)
    close(teacher_forcing, outputs["vqvae.x_BLCv_wo_first_l"])


@torch.no_grad()
def test_quantizer_parity_at_ten_scales(quant10, inputs, outputs):
    f = inputs["quant10.f"]
    expected_idx = scales(outputs, "quant10.idx_Bl")
    expected_fhat = scales(outputs, "quant10.fhat")

    idx = quant10.f_to_idx(f)
    for ours, theirs in zip(idx, expected_idx, strict=True):
        assert torch.equal(ours, theirs)
    for ours, theirs in zip(quant10.f_to_fhat(f), expected_fhat, strict=True):
        close(ours, theirs)

    ms_h = [quant10.lookup(i, pn, pn) for i, pn in zip(idx, quant10.v_patch_nums)]
    for ours, theirs in zip(quant10.embed_to_fhat(ms_h), expected_fhat, strict=True):
        close(ours, theirs)
    close(quant10.embed_to_fhat(ms_h, last_one=True), expected_fhat[-1])

    close(quant10.idx_to_var_input(idx), outputs["quant10.x_BLCv_wo_first_l"])
    assert [phi_index(si, 10, 4) for si in range(10)] == outputs["quant10.phi_index"].tolist()


def test_strict_load_names_missing_buffer(config):
    with torch.device("meta"):
        model = VQVAE(**config["modules"]["vqvae"]["kwargs"])
    state = {k: v for k, v in model.state_dict().items() if k != "quantize.ema_vocab_hit_SV"}
    with pytest.raises(StateDictMismatchError, match=r"quantize\.ema_vocab_hit_SV"):
        load_strict(model, state)


def test_training_forward_matches_inference_and_trains():
    torch.manual_seed(0)
    vqvae = VQVAE(vocab_size=32, z_channels=8, ch=32, v_patch_nums=(1, 2, 4), ch_mult=(1, 2, 2), test_mode=False)
    assert vqvae.downsample == 4
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    rec, vq_loss, indices = vqvae(img)
    assert rec.shape == img.shape and vq_loss.item() > 0
    assert all(torch.equal(a, b) for a, b in zip(indices, vqvae.img_to_idx(img)))  # same tokens as inference
    optimizer = torch.optim.Adam(vqvae.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        rec, vq_loss, _ = vqvae(img)
        loss = (rec - img).abs().mean() + vq_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert vqvae.quantize.embedding.weight.grad is not None and vqvae.encoder.conv_in.weight.grad is not None
