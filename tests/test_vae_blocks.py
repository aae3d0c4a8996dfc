"""The shared VQGAN-family encoder and decoder: a KeyLayout only renames containers, attention goes where the
flags say, and the resolution changes by 2 ** (levels - 1)."""

import re

import pytest
import torch

from arctl.vae_blocks import TAMING, AttnBlock, Decoder, Encoder, KeyLayout, attention_at_lowest

CH, CH_MULT, BLOCKS = 32, (1, 2, 2), 1
RUN_ORDER = KeyLayout(down="conv_blocks", up="conv_blocks", up_in_run_order=True, blocks="res", mid=("0", "1", "2"))
LEVELS = len(CH_MULT)


def to_run_order(key: str) -> str:
    """A taming key -> the same parameter's key under RUN_ORDER (decoder levels stored coarsest first)."""
    key = re.sub(r"^(encoder)\.down\.", r"\1.conv_blocks.", key)
    key = re.sub(r"^decoder\.up\.(\d+)\.", lambda m: f"decoder.conv_blocks.{LEVELS - 1 - int(m[1])}.", key)
    key = re.sub(r"\.block\.(\d+)\.", r".res.\1.", key)
    return key.replace("mid.block_1.", "mid.0.").replace("mid.attn_1.", "mid.1.").replace("mid.block_2.", "mid.2.")


def autoencoder(layout: KeyLayout, attention: list[bool]) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.encoder = Encoder(CH, CH_MULT, BLOCKS, 8, 0.0, attention, AttnBlock, layout)
    model.decoder = Decoder(CH, CH_MULT, BLOCKS, 8, 0.0, attention, AttnBlock, layout)
    return model.eval()


def test_a_layout_only_renames_the_containers():
    attention = [True, False, True]  # unequal widths and attention make every level distinguishable
    taming, run_order = autoencoder(TAMING, attention), autoencoder(RUN_ORDER, attention)
    renamed = {to_run_order(k): v for k, v in taming.state_dict().items()}
    assert sorted(renamed) == sorted(run_order.state_dict())
    assert any(k.startswith("decoder.conv_blocks.0.res.") for k in renamed) and "encoder.mid.1.q.weight" in renamed
    run_order.load_state_dict(renamed, strict=True)
    image = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        latent = taming.encoder(image)
        torch.testing.assert_close(run_order.encoder(image), latent, rtol=0, atol=0)
        torch.testing.assert_close(run_order.decoder(latent), taming.decoder(latent), rtol=0, atol=0)


def test_attention_sits_where_the_flags_say_and_in_the_middle():
    model = autoencoder(TAMING, [False, True, False])
    attended = {name.rsplit(".attn.", 1)[0] for name, m in model.named_modules() if isinstance(m, AttnBlock)
                and ".attn." in name}
    assert attended == {"encoder.down.1", "decoder.up.1"}
    assert isinstance(model.encoder.mid.attn_1, AttnBlock) and isinstance(model.decoder.mid.attn_1, AttnBlock)
    assert attention_at_lowest(CH_MULT) == [False, False, True]


def test_the_decoder_has_one_more_residual_block_per_level_and_mirrors_the_resolution():
    model = autoencoder(TAMING, attention_at_lowest(CH_MULT))
    assert [len(level.block) for level in model.encoder.down] == [BLOCKS] * LEVELS
    assert [len(level.block) for level in model.decoder.up] == [BLOCKS + 1] * LEVELS
    assert model.encoder.down[-1].downsample is None and model.decoder.up[0].upsample is None
    with torch.no_grad():
        latent = model.encoder(torch.zeros(1, 3, 24, 24))
        assert latent.shape == (1, 8, 6, 6)  # 2 ** (3 - 1) = 4x down
        assert model.decoder(latent).shape == (1, 3, 24, 24)


def test_one_attention_flag_per_level():
    with pytest.raises(ValueError, match="2 attention flags for 3 levels"):
        Encoder(CH, CH_MULT, BLOCKS, 8, 0.0, [True, False], AttnBlock, TAMING)
