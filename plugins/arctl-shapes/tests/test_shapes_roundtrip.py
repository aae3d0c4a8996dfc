"""Round-trip fine-tuning of a tokenizer's encoder and decoder (arctl_shapes.roundtrip) on the shipped zoo
tokenizers."""

import copy

import pytest
import torch

from arctl.errors import UsageError
from arctl_shapes.roundtrip import as_stored, finetune_round_trip, round_trip_agreement, tokenizer_of
from arctl_shapes.train_roundtrip import load_tokenizer_module
from arctl_shapes.training import training_images


def shipped(family: str):
    return load_tokenizer_module(f"{family}-shapes")[0]


@pytest.mark.parametrize("family", ["llamagen", "var"])
def test_code_distances_pick_the_codes_the_quantizer_picks(family):
    tokenizer = tokenizer_of(shipped(family))
    images = training_images(6)[0]
    tokens = tokenizer.encode(images)
    with torch.no_grad():
        given, own = tokenizer.code_distances(images, tokens), tokenizer.code_distances(images)
    assert torch.equal(given.argmin(dim=-1), tokenizer.flat_tokens(tokens)[0])
    assert torch.equal(own, given)


@pytest.mark.parametrize("family", ["llamagen", "var"])
def test_finetuning_trains_encoder_and_decoder_but_not_the_codebook_and_lowers_the_loss(family):
    module = shipped(family)
    before = copy.deepcopy(module.state_dict())
    recipe = {"seed": 0, "roundtrip_keep_weight": 1.0, "roundtrip_batch": 4, "roundtrip_steps": 16, "roundtrip_lr": 1e-3,
              "roundtrip_temperature": 0.005, "roundtrip_hold": 100.0}
    losses = finetune_round_trip(module, training_images(4)[0], recipe)
    assert len(losses) == 16 and sum(losses[-4:]) < 0.9 * sum(losses[:4])
    after = module.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert {"encoder", "decoder"} <= changed and "quantize" not in changed  # the generators' codes keep their meaning
    assert not any(p.requires_grad for p in module.parameters())


def test_storage_is_passed_straight_through():
    images = torch.rand(8, 3, 16, 16, requires_grad=True)
    kept = as_stored(images, torch.Generator().manual_seed(0))
    assert torch.equal(kept[2:].detach().mul(255), kept[2:].detach().mul(255).round())  # 8 bits; the first 2: JPEG
    assert (kept[:2] - images[:2]).abs().max() > 1 / 255
    kept.sum().backward()
    assert torch.equal(images.grad, torch.ones_like(images))


def test_round_trip_agreement_reports_shares():
    shares = round_trip_agreement(shipped("var"), training_images(4)[0])
    assert set(shares) == {"real", "marked", "marked_jpeg75"} and all(0 < v <= 1 for v in shares.values())


def test_roundtrip_recipe_writes_a_tokenizer_repository_with_its_shares(tmp_path):
    import json

    from arctl.hub import file_sha256
    from arctl_shapes import train_roundtrip
    from arctl_shapes.zoo import ZOO

    record = train_roundtrip.train(tmp_path, {"tokenizer": "var-shapes", "images": 8, "roundtrip_steps": 2,
                                              "roundtrip_batch": 4, "held_out_images": 8})
    assert (tmp_path / "vae.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text())["round_trip_after"] == record["round_trip_after"]
    after = record["round_trip_after"]
    assert 0 < after["real_codes_kept"] <= 1 and 0 < after["decoder_drift_mse"]
    assert set(record["round_trip_before"]) == {"real", "marked", "marked_jpeg75"}
    assert record["source_sha256"] == file_sha256(ZOO / "var-shapes" / "vae.safetensors")
    with pytest.raises(UsageError, match="unknown tokenizer"):
        train_roundtrip.train(tmp_path, {"tokenizer": "mar-shapes"})
    with pytest.raises(UsageError, match="no tokenizer file at"):
        train_roundtrip.train(tmp_path, {"source": str(tmp_path / "missing.safetensors")})


def test_the_stage_starts_from_the_source_file_it_is_given(tmp_path):
    from arctl.hub import file_sha256
    from arctl_shapes import train_roundtrip

    first = train_roundtrip.train(tmp_path / "a", {"tokenizer": "var-shapes", "images": 8, "roundtrip_steps": 2,
                                                    "roundtrip_batch": 4, "held_out_images": 8})
    second = train_roundtrip.train(tmp_path / "b", {"tokenizer": "var-shapes", "images": 8, "roundtrip_steps": 2,
                                                     "roundtrip_batch": 4, "held_out_images": 8,
                                                     "source": str(tmp_path / "a" / "vae.safetensors")})
    assert second["source_sha256"] == file_sha256(tmp_path / "a" / "vae.safetensors")
    after_first = {k: first["round_trip_after"][k] for k in second["round_trip_before"]}
    assert second["round_trip_before"] == pytest.approx(after_first, abs=0.02)  # the file is fp16


def test_shipped_llamagen_tokenizer_is_three_round_trip_passes_of_the_recipe():
    import json

    from arctl_shapes.train_roundtrip import HELD_OUT, RECIPE, REPEAT_PASS
    from arctl_shapes.world import ShapesWorld, to_tensor
    from arctl_shapes.zoo import ZOO

    passes = json.loads((ZOO / "llamagen-shapes" / "config.json").read_text())["roundtrip"]
    assert [p["recipe"] for p in passes] == [RECIPE, {**RECIPE, **REPEAT_PASS}, {**RECIPE, **REPEAT_PASS}]
    nar = json.loads((ZOO / "nar-shapes" / "config.json").read_text())
    assert passes[0]["source_sha256"] == nar["vq_sha256"]  # the tokenizer the transformers were trained on
    for previous, later in zip(passes, passes[1:]):  # each pass started from the one before
        assert later["round_trip_before"] == previous["round_trip_after"]
        assert later["round_trip_after"]["marked"] > previous["round_trip_after"]["marked"]
    assert len({p["source_sha256"] for p in passes}) == 3
    # before fine-tuning, 29% of a marked grid's tokens came back (docs/lbw.md); 65% as shipped
    shares = round_trip_agreement(shipped("llamagen"), to_tensor(ShapesWorld(0).arrays(HELD_OUT, 32)[0]))
    assert shares["marked"] > 0.55 and shares["real"] > 0.75
