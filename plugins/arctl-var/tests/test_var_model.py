"""The VAR transformer against the official checkpoints' manifests and the official outputs (golden case)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arctl.hub import load_state_dict, load_strict
from arctl.sampling import LinearCFG, MultinomialSampler, TokenSampling
from arctl.testing import LogitsRecorder, assert_matches_manifest
from arctl_var.checkpoints import CHECKPOINTS
from arctl_var.inference import generate_scales
from arctl_var.model import VAR
from arctl_var.vqvae import VQVAE

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = json.loads((FIXTURES / "config.json").read_text())
INPUTS = load_file(FIXTURES / "inputs.safetensors")
OUTPUTS = load_file(FIXTURES / "outputs.safetensors")
TOL = {"atol": 1e-4, "rtol": 1e-4}


def var_kwargs(name: str) -> dict:
    kwargs = dict(CONFIG["modules"][name]["kwargs"])
    for unused in ("vae_local", "drop_rate", "attn_drop_rate", "drop_path_rate", "flash_if_available", "fused_if_available"):
        kwargs.pop(unused)  # inference-irrelevant (dropout) or hardware switches of the official code
    vae = CONFIG["modules"]["vqvae"]["kwargs"]
    return {**kwargs, "Cvae": vae["z_channels"], "vocab_size": vae["vocab_size"]}


@pytest.fixture
def vqvae(golden):
    model = VQVAE(**CONFIG["modules"]["vqvae"]["kwargs"])
    return load_strict(model, load_file(golden("var/public/vqvae.safetensors"))).eval()


def load_var(name: str, path: Path, container: str = "bare") -> VAR:
    model = VAR(**var_kwargs(name))
    return load_strict(model, load_state_dict(path, container), source=path.name).eval()


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda c: c.name)
def test_registered_configs_match_the_official_checkpoints(ckpt, golden):
    depth = ckpt.config["var"]["depth"]
    manifest_path = golden(f"manifests/var_d{depth}.json")
    manifest = json.loads(manifest_path.read_text())
    official = manifest["config"]["VAR"]
    ours = ckpt.config["var"]
    for key in ("num_classes", "depth", "embed_dim", "num_heads", "mlp_ratio", "norm_eps", "shared_aln", "attn_l2_norm", "patch_nums"):
        assert ours[key] == official[key], key
    assert ckpt.files["model"].filename == manifest["file"] and ckpt.files["model"].repo_id == manifest["repo"]
    assert ckpt.files["model"].container == manifest["container"] == "bare"
    with torch.device("meta"):
        model = VAR(Cvae=32, vocab_size=4096, **ours)
    assert_matches_manifest(model, manifest_path)


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda c: c.name)
def test_registered_vae_config_matches_the_official_vae(ckpt, golden):
    manifest_path = golden("manifests/vae_ch160v4096z32.json")
    manifest = json.loads(manifest_path.read_text())
    assert ckpt.files["vae"].filename == manifest["file"]
    with torch.device("meta"):
        model = VQVAE(**ckpt.config["vae"])
    assert_matches_manifest(model, manifest_path)


@pytest.mark.parametrize(("name", "file", "container"), [("var", "var_d2.pth", "bare"), ("var", "var.safetensors", "bare"),
                                                         ("var_saln", "var_saln.safetensors", "bare")])
def test_teacher_forced_logits(name, file, container):
    model = load_var(name, FIXTURES / file, container)
    with torch.no_grad():
        logits = model(INPUTS["forward.label_B"], OUTPUTS["vqvae.x_BLCv_wo_first_l"])
    torch.testing.assert_close(logits, OUTPUTS[f"{name}.forward.logits"], **TOL)


def test_training_mode_drops_labels_but_eval_does_not():
    model = load_var("var", FIXTURES / "var.safetensors")
    x = OUTPUTS["vqvae.x_BLCv_wo_first_l"]
    labels = torch.tensor([1, 2, 3])
    with torch.no_grad():
        first, second = model(labels, x), model(labels, x)
    assert torch.equal(first, second)  # the official forward drops labels at random even in eval mode
    model.train()
    model.cond_drop_rate = 1.0
    with torch.no_grad():
        dropped = model(labels, x)
    model.eval()
    with torch.no_grad():
        null = model(torch.full_like(labels, 10), x)
    torch.testing.assert_close(dropped, null)


def run_official_call(model, vqvae, *, top_k, top_p, seed, kv_cache=True):
    recorder = LogitsRecorder()
    rng = torch.Generator().manual_seed(seed)
    sampling = TokenSampling(MultinomialSampler(top_k=top_k, top_p=top_p), LinearCFG(CONFIG["cfg"]),
                             rng, processors=[recorder])
    tokens = []
    draw = sampling.draw
    sampling.draw = lambda processed, replacement=True: tokens.append(draw(processed, replacement=replacement)) or tokens[-1]
    image = generate_scales(model, vqvae, INPUTS["infer.label_B"], sampling, kv_cache=kv_cache)
    return image, recorder.logits, tokens


@pytest.mark.parametrize("name", ["var", "var_saln"])
@pytest.mark.parametrize(("case", "top_k", "top_p", "seed"), [("infer_greedy", 1, 1.0, 0), ("infer_sample", 16, 0.95, 42)])
def test_generation_reproduces_the_official_sampler(vqvae, name, case, top_k, top_p, seed):
    model = load_var(name, FIXTURES / f"{name}.safetensors")
    image, logits, tokens = run_official_call(model, vqvae, top_k=top_k, top_p=top_p, seed=seed)
    for si in range(len(model.patch_nums)):
        torch.testing.assert_close(logits[si], OUTPUTS[f"{name}.{case}.logits_cfg.{si}"], **TOL)
        assert torch.equal(tokens[si], OUTPUTS[f"{name}.{case}.idx_Bl.{si}"]), f"scale {si}"
    torch.testing.assert_close(image, OUTPUTS[f"{name}.{case}.img"], **TOL)


def test_without_kv_cache_the_same_images(vqvae):
    model = load_var("var", FIXTURES / "var.safetensors")
    cached, _, cached_tokens = run_official_call(model, vqvae, top_k=16, top_p=0.95, seed=42)
    recomputed, _, tokens = run_official_call(model, vqvae, top_k=16, top_p=0.95, seed=42, kv_cache=False)
    assert all(torch.equal(a, b) for a, b in zip(cached_tokens, tokens))
    torch.testing.assert_close(recomputed, cached, atol=1e-5, rtol=1e-5)


def test_a_missing_buffer_fails_strict_loading():
    state = load_state_dict(FIXTURES / "var_d2.pth", "bare")
    state.pop("blocks.1.attn.zero_k_bias")
    with pytest.raises(Exception, match=r"1 missing key\(s\): blocks.1.attn.zero_k_bias"):
        load_strict(VAR(**var_kwargs("var")), state)


@pytest.mark.cuda
def test_cuda_fp32_matches_the_cpu_tokens_and_autocast_runs(vqvae):
    from arctl.accelerate import CUDAAccelerator

    model = load_var("var", FIXTURES / "var.safetensors")
    _, _, cpu_tokens = run_official_call(model, vqvae, top_k=1, top_p=1.0, seed=0)
    gpu_model, gpu_vqvae = model.cuda(), vqvae.cuda()
    sampling = TokenSampling(MultinomialSampler(top_k=1), LinearCFG(CONFIG["cfg"]), torch.Generator("cuda").manual_seed(0))
    tokens = []
    draw = sampling.draw
    sampling.draw = lambda processed, replacement=True: tokens.append(draw(processed, replacement=replacement)) or tokens[-1]
    labels = INPUTS["infer.label_B"].cuda()
    generate_scales(gpu_model, gpu_vqvae, labels, sampling)
    assert all(torch.equal(a.cpu(), b) for a, b in zip(tokens, cpu_tokens))  # greedy margins are >= 0.02
    for dtype in ("bf16", "fp16"):
        acc = CUDAAccelerator(dtype=dtype)
        sampling = TokenSampling(MultinomialSampler(top_k=16, top_p=0.95), LinearCFG(1.5), acc.generator(42))
        with torch.inference_mode(), acc.autocast():
            image = generate_scales(gpu_model, gpu_vqvae, labels, sampling)
        assert image.shape == (2, 3, 64, 64) and torch.isfinite(image.float()).all()
