"""The KL-16 VAE against the official outputs of the golden case (a tiny VAE of the same code: ch 32, one
residual block per level, embed dim 4), loaded from both official file formats."""

from pathlib import Path

import pytest
import torch
from arctl_mar.testing import GoldenCase
from arctl_mar.vae import AutoencoderKL
from safetensors.torch import load_file

from arctl.hub import load_pretrained, load_state_dict

CASE = GoldenCase(Path(__file__).parent / "fixtures")
CONFIG, INPUTS, OUTPUTS = CASE.config, CASE.inputs, CASE.outputs

TOL = {"atol": 1e-4, "rtol": 1e-4}  # observed: 6e-6


def build() -> AutoencoderKL:
    vae = CONFIG["vae_constructor"]
    overrides = vae["encoder_decoder_overrides"]
    return AutoencoderKL(embed_dim=vae["kwargs"]["embed_dim"], ch_mult=vae["kwargs"]["ch_mult"], **overrides)


@pytest.fixture(params=["vae.state_dict.safetensors", "kl16.ckpt"])
def vae(request, golden):
    return load_pretrained(build, golden(f"mar/public/{request.param}"), "model", "cpu")


def test_the_ckpt_and_the_safetensors_hold_the_same_weights(golden):
    ckpt = load_state_dict(golden("mar/public/kl16.ckpt"), "model")
    plain = load_file(golden("mar/public/vae.state_dict.safetensors"))
    assert ckpt.keys() == plain.keys() and all(torch.equal(ckpt[k], plain[k]) for k in plain)


def test_encode_matches_the_official_posterior(vae):
    with torch.no_grad():
        posterior = vae.encode(INPUTS["vae/image"])
    torch.testing.assert_close(posterior.mean, OUTPUTS["vae/posterior_mean"], **TOL)
    torch.testing.assert_close(posterior.logvar, OUTPUTS["vae/posterior_logvar"], **TOL)
    torch.testing.assert_close(posterior.std, OUTPUTS["vae/posterior_std"], **TOL)


def test_decode_matches_the_official_images(vae):
    with torch.no_grad():
        torch.testing.assert_close(vae.decode(INPUTS["vae/z"]), OUTPUTS["vae/decode_of_z"], **TOL)
        mean = vae.encode(INPUTS["vae/image"]).mean
        torch.testing.assert_close(vae.decode(mean), OUTPUTS["vae/decode_of_posterior_mean"], **TOL)


def test_posterior_sample_is_mean_plus_std_times_noise(vae):
    with torch.no_grad():
        posterior = vae.encode(INPUTS["vae/image"])
    drawn = posterior.sample(torch.Generator().manual_seed(0))
    noise = torch.randn(posterior.mean.shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(drawn, posterior.mean + posterior.std * noise)
