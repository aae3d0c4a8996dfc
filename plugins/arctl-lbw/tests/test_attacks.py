"""The attacks of `arctl lbw eval`: deterministic, same size, and as strong as documented."""

import math

import pytest
import torch

from arctl.errors import UsageError
from arctl.tokenizers import load_tokenizer
from arctl.images import jpeg, stored
from arctl_lbw.attacks import (
    ATTACKS, AttackContext, apply_attack, brightness, center_crop, gaussian_blur, gaussian_noise, parse_attacks,
    regenerate, resize,
)


def picture(size=64, seed=0):
    """A smooth 'photo': colour gradients and a disc, [1, 3, size, size] in [0, 1]."""
    axis = torch.linspace(0, 1, size)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05).float()
    image = torch.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 * (1 - disc) + 0.9 * disc])
    noise = torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed)) * 0.02
    return stored((image + noise).clamp(0, 1))[None]


def psnr(a, b):
    return 10 * math.log10(1 / float(((a - b) ** 2).mean()))


@pytest.mark.parametrize("name", [n for n in ATTACKS if n != "regen"])
def test_every_attack_is_deterministic_and_keeps_the_size(name):
    images = torch.cat([picture(seed=0), picture(seed=1)])
    first, again = (apply_attack(name, images, AttackContext(seed=3)) for _ in range(2))
    assert first.shape == images.shape and torch.equal(first, again)
    assert 0 <= float(first.min()) and float(first.max()) <= 1
    if name != "none":
        assert not torch.equal(first, images)


def test_jpeg_loses_more_at_lower_quality_but_keeps_the_picture():
    image = picture()
    quality = {q: psnr(jpeg(image, q), image) for q in (90, 75, 50)}
    assert quality[90] > quality[75] > quality[50] > 30, quality


def test_noise_has_the_requested_spread_and_follows_the_seed():
    grey = torch.full((2, 3, 64, 64), 0.5)
    noisy = gaussian_noise(grey, 0.05, seed=1)
    assert float((noisy - grey).std()) == pytest.approx(0.05, rel=0.05)
    assert torch.equal(noisy, gaussian_noise(grey, 0.05, seed=1)) and not torch.equal(noisy, gaussian_noise(grey, 0.05, 2))


def test_blur_keeps_flat_images_and_smooths_noise():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.0), flat, atol=1e-6)
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(gaussian_blur(noise, 1.0).std()) < float(gaussian_blur(noise, 0.5).std()) < float(noise.std())


def test_resize_and_crop_come_back_at_the_original_size():
    image = picture()
    assert psnr(resize(image, 0.75), image) > psnr(resize(image, 0.5), image) > 20
    cropped = center_crop(image, 0.8)
    assert cropped.shape == image.shape
    assert torch.allclose(center_crop(image, 1.0), image, atol=1e-5)
    # the centre pixel stays where it was, the corner now shows what was 10% further in
    assert torch.allclose(cropped[..., 32, 32], image[..., 32, 32], atol=0.03)


def test_brightness_scales_and_clips():
    values = torch.tensor([0.0, 0.5, 0.9]).view(1, 3, 1, 1)
    assert torch.allclose(brightness(values, 1.2).flatten(), torch.tensor([0.0, 0.6, 1.0]))
    assert torch.allclose(brightness(values, 0.8).flatten(), torch.tensor([0.0, 0.4, 0.72]))


def test_pil_images_in_pil_images_out():
    from arctl.images import to_pil

    out = apply_attack("crop-0.9", to_pil(picture()))
    assert len(out) == 1 and out[0].size == (64, 64) and out[0].mode == "RGB"


def test_regeneration_round_trips_through_the_tokenizer(manager):
    """On a transparent tokenizer a decoded image is a fixed point: regeneration gives its tokens back."""
    tokenizer = load_tokenizer(manager, "llamagen-b", device="cpu").tokenizer
    tokens = torch.randint(0, tokenizer.codebook_size, (3, 4, 4), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        decoded = stored(tokenizer.decode(tokens).float().clamp(0, 1))
    again = stored(apply_attack("regen", decoded, AttackContext(tokenizer=tokenizer)))
    assert again.shape == decoded.shape
    assert torch.equal(tokenizer.encode(again), tokens)
    assert torch.equal(regenerate(decoded, tokenizer), regenerate(decoded, tokenizer))


def test_attack_names_are_parsed_with_no_attack_first():
    assert parse_attacks("all") == list(ATTACKS) and parse_attacks("all")[0] == "none"
    assert parse_attacks("regen, jpeg-75,regen") == ["none", "regen", "jpeg-75"]
    assert parse_attacks("none") == ["none"]
    for bad in ("jpeg-70", "", ","):
        with pytest.raises(UsageError, match="--attacks"):
            parse_attacks(bad)
