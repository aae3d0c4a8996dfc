"""The LlamaGen GPT against the official manifests and the official outputs (golden case)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arctl.sampling import ConstantCFG, MultinomialSampler, TokenSampling
from arctl.testing import LogitsRecorder, assert_matches_manifest
from arctl_llamagen.checkpoints import CHECKPOINTS
from arctl_llamagen.generator import load_gpt
from arctl_llamagen.gpt import GPT
from arctl_llamagen.raster import generate_raster

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = json.loads((FIXTURES / "config.json").read_text())
INPUTS = load_file(FIXTURES / "inputs.safetensors")
OUTPUTS = load_file(FIXTURES / "outputs.safetensors")
TOL = {"atol": 1e-4, "rtol": 1e-4}
GPT_KEYS = ("dim", "n_layer", "n_head", "n_kv_head", "multiple_of", "ffn_dim_multiplier", "rope_base", "norm_eps",
            "num_classes", "class_dropout_prob", "vocab_size", "cls_token_num", "block_size")


def gpt_kwargs(model_args: dict) -> dict:
    return {k: model_args[k] for k in GPT_KEYS}


def golden_gpt(file: str = "gpt.safetensors", container: str = "bare") -> GPT:
    return load_gpt(GPT, gpt_kwargs(CONFIG["modules"]["gpt"]["ModelArgs"]), FIXTURES / file, container, "cpu")


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda c: c.name)
def test_registered_configs_match_the_official_checkpoints(ckpt, golden):
    size = ckpt.name.removeprefix("llamagen-").upper()
    manifest_path = golden(f"manifests/llamagen_c2i_{size}_{ckpt.config['image_size']}.json")
    manifest = json.loads(manifest_path.read_text())
    assert ckpt.files["model"].filename == manifest["file"] and ckpt.files["model"].repo_id == manifest["repo"]
    assert ckpt.files["model"].container == {"bare": "bare", 'ckpt["model"]': "model"}[manifest["container"]]
    official = gpt_kwargs(manifest["config"]["ModelArgs"])
    assert {k: official[k] for k in ckpt.config["gpt"]} == ckpt.config["gpt"]
    with torch.device("meta"):
        model = GPT(**{**official, **ckpt.config["gpt"]})
    assert_matches_manifest(model, manifest_path)


@pytest.mark.parametrize(("file", "container"), [("gpt.safetensors", "bare"), ("c2i_T_16.pt", "model"),
                                                 ("c2i_T_16_fsdp_style.pt", "bare")])
def test_teacher_forced_logits_and_loss(file, container):
    gpt = golden_gpt(file, container)
    tokens = INPUTS["gpt.tf.tokens"]
    with torch.no_grad():
        logits = gpt(tokens[:, :-1], INPUTS["gpt.tf.cond_idx"])
    torch.testing.assert_close(logits, OUTPUTS["gpt.tf.logits"], **TOL)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
    torch.testing.assert_close(loss.reshape(1), OUTPUTS["gpt.tf.loss"], **TOL)


@pytest.mark.parametrize(("case", "temperature", "top_k", "top_p", "seed"),
                         [("gen_greedy", 1.0, 1, 1.0, 0), ("gen_sample", 0.9, 16, 0.9, 1234)])
def test_generation_reproduces_the_official_sampler(case, temperature, top_k, top_p, seed):
    gpt = golden_gpt()
    recorder = LogitsRecorder()
    calls = []
    gpt.output.register_forward_hook(lambda *args: calls.append(1))
    sampler = MultinomialSampler(temperature=temperature, top_k=top_k, top_p=top_p)
    sampling = TokenSampling(sampler, ConstantCFG(CONFIG["cfg_scale"]), torch.Generator().manual_seed(seed), [recorder])
    tokens = generate_raster(gpt, INPUTS["gpt.gen.cond"], sampling)
    torch.testing.assert_close(torch.stack(recorder.logits), OUTPUTS[f"gpt.{case}.logits_cfg"], **TOL)
    assert torch.equal(tokens.to(torch.int32), OUTPUTS[f"gpt.{case}.tokens"])
    if case == "gen_greedy":
        assert len(calls) == int(OUTPUTS["gpt.gen_greedy.forward_calls"])


def test_interval_cfg_matches_the_official_cut_off():
    """cfg_interval=K in the official sampler guides tokens 0..K+1; the interval schedule with C=(K+1)/(n-1)."""
    from arctl.sampling import IntervalCFG

    gpt = golden_gpt()
    recorder = LogitsRecorder()
    sampling = TokenSampling(MultinomialSampler(top_k=1), IntervalCFG(2.0, cfg_cutoff=(4 + 1) / 15),
                             torch.Generator().manual_seed(0), [recorder])
    generate_raster(gpt, INPUTS["gpt.gen.cond"], sampling)
    greedy = OUTPUTS["gpt.gen_greedy.logits_cfg"]
    torch.testing.assert_close(torch.stack(recorder.logits[:6]), greedy[:6], **TOL)  # guided up to token K+1 = 5
    assert not torch.allclose(recorder.logits[6], greedy[6], atol=1e-3)  # then the conditional logits alone


def test_an_extra_freqs_cis_entry_is_ignored_but_other_extras_fail(tmp_path):
    state = load_file(FIXTURES / "gpt.safetensors")
    torch.save({"model": {**state, "freqs_cis": torch.zeros(17, 16, 2)}}, tmp_path / "with_rope.pt")
    gpt = load_gpt(GPT, gpt_kwargs(CONFIG["modules"]["gpt"]["ModelArgs"]), tmp_path / "with_rope.pt", "model", "cpu")
    assert gpt.output.weight.shape == (64, 64)
    torch.save({"model": {**state, "layers.0.attention.kv_cache.k_cache": torch.zeros(1)}}, tmp_path / "cache.pt")
    with pytest.raises(Exception, match="1 unexpected key\\(s\\): layers.0.attention.kv_cache.k_cache"):
        load_gpt(GPT, gpt_kwargs(CONFIG["modules"]["gpt"]["ModelArgs"]), tmp_path / "cache.pt", "model", "cpu")


def test_generation_leaves_the_state_dict_clean():
    gpt = golden_gpt()
    keys = list(gpt.state_dict())
    sampling = TokenSampling(MultinomialSampler(top_k=1), ConstantCFG(2.0), torch.Generator().manual_seed(0))
    generate_raster(gpt, INPUTS["gpt.gen.cond"], sampling)
    assert list(gpt.state_dict()) == keys  # the official generate() leaves kv_cache buffers behind


def test_rope_rows_of_the_class_token_are_zero():
    gpt = golden_gpt()
    rope = gpt.rope(torch.arange(17))
    assert torch.count_nonzero(rope[0]) == 0
    # token (row 1, col 2) at raster position 6 -> sequence position 7: first half rotates with the row
    assert torch.allclose(rope[7, 0], torch.tensor([torch.cos(torch.tensor(1.0)), torch.sin(torch.tensor(1.0))]))
    half = gpt.head_dim // 4
    assert torch.allclose(rope[7, half], torch.tensor([torch.cos(torch.tensor(2.0)), torch.sin(torch.tensor(2.0))]))
