"""NAR against the official manifests and outputs (golden case), and its 2n - 1 pass schedule."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arctl.sampling import ConstantCFG, MultinomialSampler, TokenSampling
from arctl.testing import LogitsRecorder, assert_matches_manifest
from arctl_llamagen.generator import load_gpt
from arctl_nar.checkpoints import CHECKPOINTS
from arctl_nar.model import NARTransformer, proximity_mask
from arctl_nar.neighbors import generate_neighbors

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = json.loads((FIXTURES / "config.json").read_text())
INPUTS = load_file(FIXTURES / "inputs.safetensors")
OUTPUTS = load_file(FIXTURES / "outputs.safetensors")
TOL = {"atol": 1e-4, "rtol": 1e-4}
KEYS = ("dim", "n_layer", "n_head", "n_kv_head", "multiple_of", "ffn_dim_multiplier", "rope_base", "norm_eps",
        "num_classes", "class_dropout_prob", "vocab_size", "cls_token_num", "block_size", "medusa_attention_num")


def kwargs(model_args: dict) -> dict:
    return {k: model_args[k] for k in KEYS}


def golden_nar(file="gpt.safetensors", container="bare") -> NARTransformer:
    return load_gpt(NARTransformer, kwargs(CONFIG["modules"]["gpt"]["ModelArgs"]), FIXTURES / file, container, "cpu")


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda c: c.name)
def test_registered_configs_match_the_official_checkpoints(ckpt, golden):
    size = ckpt.name.removeprefix("nar-").upper()
    manifest_path = golden(f"manifests/nar_{size}.json")
    manifest = json.loads(manifest_path.read_text())
    assert ckpt.files["model"].repo_id == manifest["repo"]
    official = kwargs(manifest["config"]["ModelArgs"])
    assert {k: official[k] for k in ckpt.config["gpt"]} == ckpt.config["gpt"]
    with torch.device("meta"):
        model = NARTransformer(**official)
    assert_matches_manifest(model, manifest_path)


def test_proximity_mask_matches_the_training_mask():
    assert torch.equal(proximity_mask(4, 1), INPUTS["gpt.tf.mask"][0])


@pytest.mark.parametrize(("file", "container"), [("gpt.safetensors", "bare"), ("last_version.pt", "model"),
                                                 ("last_version.pt", "auto")])
def test_teacher_forcing_heads_logits_and_loss(file, container):
    model = golden_nar(file, container)
    heads = {}
    model.output.register_forward_hook(lambda m, i, o: heads.setdefault("R", o))
    model.medusa_output.register_forward_hook(lambda m, i, o: heads.setdefault("B", o))
    tokens = INPUTS["gpt.tf.tokens"]
    with torch.no_grad():
        logits = model(tokens, INPUTS["gpt.tf.cond_idx"])
    torch.testing.assert_close(heads["R"], OUTPUTS["gpt.tf.head_R_raw"], **TOL)
    torch.testing.assert_close(heads["B"], OUTPUTS["gpt.tf.head_B_raw"], **TOL)
    torch.testing.assert_close(logits, OUTPUTS["gpt.tf.logits"], **TOL)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
    torch.testing.assert_close(loss.reshape(1), OUTPUTS["gpt.tf.loss"], **TOL)


@pytest.mark.parametrize(("case", "temperature", "top_k", "top_p", "seed"),
                         [("gen_greedy", 1.0, 1, 1.0, 0), ("gen_sample", 0.9, 16, 0.9, 1234)])
def test_generation_reproduces_the_official_sampler(case, temperature, top_k, top_p, seed):
    model = golden_nar()
    recorder = LogitsRecorder()
    passes = []
    model.medusa_output.register_forward_hook(lambda *args: passes.append(1))
    sampler = MultinomialSampler(temperature=temperature, top_k=top_k, top_p=top_p)
    sampling = TokenSampling(sampler, ConstantCFG(CONFIG["cfg_scale"]), torch.Generator().manual_seed(seed), [recorder])
    steps = []
    tokens = generate_neighbors(model, INPUTS["gpt.gen.cond"], sampling, on_step=steps.append)
    assert len(passes) == len(steps) == 7  # 2 * 4 - 1
    assert [len(s.position) for s in steps] == [1, 2, 3, 4, 3, 2, 1]
    drawn = iter(recorder.logits)  # one record per cell, in step order
    for k, step in enumerate(steps):
        got = torch.stack([next(drawn) for _ in step.position], dim=1)
        torch.testing.assert_close(got, OUTPUTS[f"gpt.{case}.logits_cfg.step{k}"], **TOL)
    assert torch.equal(tokens.to(torch.int32), OUTPUTS[f"gpt.{case}.tokens"])
