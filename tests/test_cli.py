"""The CLI end to end with the example plugin: generate, reproduce, models, download, convert, env, install."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from arctl.images import read_recipe
from arctl.testing import HubCache


def generate(arctl_cli, manager, out, *args):
    result = arctl_cli.invoke(["generate", "toy-tiny", "--out", str(out), *args], manager=manager)
    assert result.exit_code == 0, result.output
    return result


def test_generate_writes_pngs_with_their_recipe(arctl_cli, toy_manager, toy_weights, tmp_path):
    out = tmp_path / "out"
    result = generate(arctl_cli, toy_manager, out, "--class", "1", "--class", "3", "--num", "3", "--seed", "7",
                      "--cfg", "3", "--top-k", "5", "--top-p", "0.9", "--temperature", "0.8", "-o", "patch=4")
    paths = result.stdout.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "toy-tiny_c1_s7_000.png", "toy-tiny_c1_s7_001.png", "toy-tiny_c1_s7_002.png",
        "toy-tiny_c3_s7_003.png", "toy-tiny_c3_s7_004.png", "toy-tiny_c3_s7_005.png",
    ]
    image = Image.open(paths[4])
    assert image.size == (16, 16)  # 4x4 tokens, 4 pixels each
    recipe = read_recipe(paths[4])
    assert recipe["model"] == "toy-tiny" and recipe["generator"] == "toy" and recipe["plugin"] == "arctl_toy"
    assert recipe["conditions"] == [1, 3] and recipe["condition"] == 3 and recipe["item"] == 4
    assert recipe["num"] == 3 and recipe["batch_size"] == 4 and recipe["seed"] == 7
    assert recipe["sampling"] == {"sampler": "multinomial", "cfg": 3.0, "cfg_schedule": "constant", "top_k": 5,
                                  "top_p": 0.9, "temperature": 0.8}
    assert recipe["options"] == {"patch": 4}
    assert recipe["files"]["model"] == {"repo_id": "arctl-tests/toy", "filename": "toy.safetensors",
                                        "revision": "main", "commit": HubCache.commit_for("arctl-tests/toy", "main")}
    assert recipe["device"] == "cpu" and recipe["dtype"] == "fp32"
    assert recipe["versions"]["torch"] == torch.__version__ and "arctl" in recipe["versions"]
    assert "Generating" not in result.stdout  # progress and summaries go to stderr
    assert "6 image(s)" in result.stderr


def test_same_seed_same_images_and_batches_differ(arctl_cli, toy_manager, toy_weights, tmp_path):
    args = ("--class", "2", "--num", "8", "--seed", "11", "--top-k", "0")
    first = generate(arctl_cli, toy_manager, tmp_path / "a", *args).stdout.split()
    second = generate(arctl_cli, toy_manager, tmp_path / "b", *args).stdout.split()
    pixels = [np.asarray(Image.open(p)) for p in first]
    assert all(np.array_equal(x, np.asarray(Image.open(p))) for x, p in zip(pixels, second))
    # batch size 4: batch 1 must not repeat batch 0's noise (the official VAR reseeding pitfall)
    assert not all(np.array_equal(pixels[i], pixels[i + 4]) for i in range(4))
    other_seed = generate(arctl_cli, toy_manager, tmp_path / "c", "--class", "2", "--num", "8", "--seed", "12")
    assert not all(np.array_equal(x, np.asarray(Image.open(p))) for x, p in zip(pixels, other_seed.stdout.split()))


def test_existing_outputs_are_never_overwritten(arctl_cli, toy_manager, toy_weights, tmp_path):
    first = generate(arctl_cli, toy_manager, tmp_path, "--class", "0", "--seed", "1").stdout.split()
    second = generate(arctl_cli, toy_manager, tmp_path, "--class", "0", "--seed", "1", "--cfg", "5").stdout.split()
    assert first[0].endswith("toy-tiny_c0_s1_000.png") and second[0].endswith("toy-tiny_c0_s1_000-1.png")
    assert read_recipe(first[0])["sampling"]["cfg"] == 2.0


def test_reproduce_says_identical_and_detects_a_change(arctl_cli, toy_manager, toy_weights, tmp_path):
    paths = generate(arctl_cli, toy_manager, tmp_path, "--class", "1", "--num", "6", "--seed", "3").stdout.split()
    target = paths[5]  # second batch
    again = arctl_cli.invoke(["reproduce", target, "--out", str(tmp_path / "again.png")], manager=toy_manager)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"{target}: identical"
    assert np.array_equal(np.asarray(Image.open(target)), np.asarray(Image.open(tmp_path / "again.png")))

    tampered = np.asarray(Image.open(target)).copy()
    tampered[0, 0] = 255 - tampered[0, 0]
    info = Image.open(target).info
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("arctl-recipe", info["arctl-recipe"])
    Image.fromarray(tampered).save(tmp_path / "tampered.png", pnginfo=meta)
    verdict = arctl_cli.invoke(["reproduce", str(tmp_path / "tampered.png"), "--json"], manager=toy_manager)
    assert verdict.exit_code == 1
    report = json.loads(verdict.stdout)
    assert report["identical"] is False and report["max_abs_pixel_diff"] > 0


def test_reproduce_from_a_pickled_checkpoint_and_local_weights(arctl_cli, toy_manager, toy_weights, tmp_path):
    paths = generate(arctl_cli, toy_manager, tmp_path, "--class", "0", "--seed", "2").stdout.split()
    pth = arctl_cli.invoke(["generate", "toy-tiny-pth", "--class", "0", "--seed", "2", "--out", str(tmp_path / "p")],
                           manager=toy_manager)
    assert pth.exit_code == 0, pth.output
    # same weights in the ckpt["model"] pickle -> the same image
    assert np.array_equal(np.asarray(Image.open(paths[0])), np.asarray(Image.open(pth.stdout.split()[0])))

    local = tmp_path / "mine.safetensors"
    from safetensors.torch import save_file

    from tests.conftest import toy_state_dict

    save_file(toy_state_dict(seed=5), local)
    mine = arctl_cli.invoke(["generate", "toy-tiny", "--class", "0", "--seed", "2", "--weights", str(local),
                             "--out", str(tmp_path / "m")], manager=toy_manager)
    assert mine.exit_code == 0, mine.output
    recipe = read_recipe(mine.stdout.split()[0])
    assert recipe["files"]["model"] == {"path": str(local), "size": local.stat().st_size}
    assert arctl_cli.invoke(["reproduce", mine.stdout.split()[0]], manager=toy_manager).exit_code == 0


def test_grid_and_json_summary(arctl_cli, toy_manager, toy_weights, tmp_path):
    result = generate(arctl_cli, toy_manager, tmp_path, "--class", "0", "--class", "1", "--num", "2", "--seed", "9",
                      "--grid", "--json")
    summary = json.loads(result.stdout)
    assert len(summary["images"]) == 4 and summary["seed"] == 9
    assert [i["condition"] for i in summary["images"]] == [0, 0, 1, 1]
    assert summary["device"] == "cpu" and summary["dtype"] == "fp32"
    assert summary["peak_memory_bytes"] > 0 and summary["images_per_second"] > 0
    grid = Image.open(summary["grid"])
    assert grid.size == (2 * 32 + 2, 2 * 32 + 2)
    assert "item" not in read_recipe(summary["grid"])
    assert summary["grid"].endswith("toy-tiny_grid_s9.png")
    refused = arctl_cli.invoke(["reproduce", summary["grid"]], manager=toy_manager)
    assert refused.exit_code == 1 and "grid of several images" in refused.stderr


def test_greedy_sampler_ignores_the_seed(arctl_cli, toy_manager, toy_weights, tmp_path):
    a = generate(arctl_cli, toy_manager, tmp_path / "a", "-c", "1", "--seed", "1", "--sampler", "greedy").stdout.split()
    b = generate(arctl_cli, toy_manager, tmp_path / "b", "-c", "1", "--seed", "2", "--sampler", "greedy").stdout.split()
    assert np.array_equal(np.asarray(Image.open(a[0])), np.asarray(Image.open(b[0])))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class", "9"], "--class 9: out of range for toy (0..3)"),
        ([], "toy is class-conditional: give at least one --class (0..3)"),
        (["--prompt", "a cat"], "toy is class-conditional: use --class, not --prompt"),
        (["-c", "1", "-o", "nope=1"], "unknown option 'nope' for toy (valid options here: patch)"),
        (["-c", "1", "-o", "patch=abc"], "option patch='abc': expected int"),
        (["-c", "1", "-o", "patch=0"], "option patch=0: must be >= 1"),
        (["-c", "1", "-o", "patch"], "-o 'patch': expected KEY=VALUE"),
        (["-c", "1", "--top-p", "0"], "--top-p 0.0: must be in (0, 1]"),
        (["-c", "1", "--temperature", "0"], "--temperature 0.0: must be > 0"),
        (["-c", "1", "--sampler", "magic"], "unknown sampler 'magic' (known: greedy, multinomial)"),
        (["-c", "1", "--cfg-schedule", "wobbly"], "unknown cfg schedule 'wobbly'"),
        (["-c", "1", "--device", "tpu"], "--device 'tpu': unknown device (known: auto, cpu, cuda, mps)"),
        (["-c", "1", "--device", "cuda:x"], "the index after ':' must be a non-negative integer"),
        (["-c", "1", "--dtype", "fp8"], "--dtype 'fp8': expected one of auto, fp32, bf16, fp16"),
        (["-c", "1", "--weights", "vae=x.pth"], "--weights vae=...: toy-tiny has no file role 'vae' (roles: model)"),
    ],
)
def test_bad_values_are_usage_errors(arctl_cli, toy_manager, toy_weights, tmp_path, args, message):
    result = arctl_cli.invoke(["generate", "toy-tiny", "--out", str(tmp_path), *args], manager=toy_manager)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: {message}" or message in result.stderr
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("args", [["--num", "0"], ["--seed", "-1"], ["--top-k", "-2"], ["--num", "x"], ["--cfg", "-1"]])
def test_typer_range_checks_exit_2(arctl_cli, toy_manager, toy_weights, tmp_path, args):
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--out", str(tmp_path), *args], manager=toy_manager)
    assert result.exit_code == 2, result.output


def test_unknown_model_and_missing_weights(arctl_cli, toy_manager, hub_cache, tmp_path):
    unknown = arctl_cli.invoke(["generate", "nope", "-c", "1"], manager=toy_manager)
    assert unknown.exit_code == 2
    assert "unknown model 'nope' (known: toy-tiny, toy-tiny-pth)" in unknown.stderr
    missing = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--out", str(tmp_path)], manager=toy_manager)
    assert missing.exit_code == 1
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: toy.safetensors from arctl-tests/toy (revision main)")
    assert "arctl download toy-tiny" in lines[0]


def test_cuda_requested_without_cuda_is_a_clear_runtime_error(arctl_cli, toy_manager, toy_weights, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--device", "cuda"], manager=toy_manager)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: --device cuda was requested but cuda is not available here"


def test_debug_shows_the_traceback(arctl_cli, toy_manager, hub_cache):
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1"], manager=toy_manager, env={"ARCTL_DEBUG": "1"})
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_models_lists_checkpoints_and_cache_state(arctl_cli, toy_manager, hub_cache, toy_plugin):
    rows = json.loads(arctl_cli.invoke(["models", "--json"], manager=toy_manager).stdout)
    assert [(r["name"], r["cached"]) for r in rows] == [("toy-tiny", "no"), ("toy-tiny-pth", "no")]
    hub_cache.add("arctl-tests/toy", "toy.pth", {"w": torch.zeros(1)}, container="model")
    rows = json.loads(arctl_cli.invoke(["models", "--json"], manager=toy_manager).stdout)
    assert {r["name"]: r["cached"] for r in rows} == {"toy-tiny": "no", "toy-tiny-pth": "yes"}
    assert rows[0]["files"]["model"]["repo_id"] == "arctl-tests/toy" and rows[0]["kind"] == "generator"
    table = arctl_cli.invoke(["models"], manager=toy_manager).stdout
    assert "toy-tiny-pth" in table and "Random-weight toy model" in table


def test_models_options(arctl_cli, toy_manager, hub_cache):
    info = json.loads(arctl_cli.invoke(["models", "toy-tiny", "--options", "--json"], manager=toy_manager).stdout)
    assert info["options"] == [{"name": "patch", "type": "int", "default": 8, "help": "pixels per token side",
                                "choices": None, "min": 1, "max": 32}]
    assert info["sampling_defaults"]["cfg"] == 2.0 and info["num_classes"] == 4
    assert "uncond + w * (cond - uncond)" in info["cfg"]
    text = arctl_cli.invoke(["models", "toy-tiny", "--options"], manager=toy_manager).stdout
    assert "-o patch=<int> (default 8)" in text
    assert arctl_cli.invoke(["models", "--options"], manager=toy_manager).exit_code == 2


def test_download_uses_the_cache_and_fails_cleanly_offline(arctl_cli, toy_manager, hub_cache, toy_weights):
    result = arctl_cli.invoke(["download", "toy-tiny", "--json"], manager=toy_manager)
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)
    assert files["model"]["source"] == "cache" and files["model"]["path"].endswith("toy.safetensors")
    (hub_cache.repo_dir("arctl-tests/toy") / "snapshots").rename(hub_cache.root / "moved")
    offline = arctl_cli.invoke(["download", "toy-tiny"], manager=toy_manager)
    assert offline.exit_code == 1 and "HF_HUB_OFFLINE is set" in offline.stderr


def test_convert_pickle_to_safetensors_keeps_keys(arctl_cli, toy_manager, tmp_path):
    from safetensors.torch import load_file

    shared = torch.randn(4, 3)
    state = {"embed.weight": shared, "head.weight": shared, "view": torch.arange(12.0)[::2], "step": torch.tensor(3)}
    torch.save({"model": state, "optimizer": {}}, tmp_path / "official.pth")
    out = tmp_path / "converted.safetensors"
    result = arctl_cli.invoke(["convert", str(tmp_path / "official.pth"), "--out", str(out)], manager=toy_manager)
    assert result.exit_code == 0, result.output
    loaded = load_file(out)
    assert sorted(loaded) == sorted(state)  # safetensors orders entries by itself; the keys are what matter
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    again = arctl_cli.invoke(["convert", str(tmp_path / "official.pth"), "--out", str(out)], manager=toy_manager)
    assert again.exit_code == 1 and "exists; pass --force" in again.stderr
    forced = arctl_cli.invoke(["convert", str(tmp_path / "official.pth"), "--out", str(out), "--force",
                               "--container", "model"], manager=toy_manager)
    assert forced.exit_code == 0
    wrong = arctl_cli.invoke(["convert", str(tmp_path / "official.pth"), "--out", str(tmp_path / "x.pt")])
    assert wrong.exit_code == 2 and "must end in .safetensors" in wrong.stderr
    missing = arctl_cli.invoke(["convert", str(tmp_path / "none.pth"), "--out", str(tmp_path / "y.safetensors")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_convert_refuses_a_malicious_pickle(arctl_cli, tmp_path):
    from tests.test_hub import RunsCode

    marker = tmp_path / "pwned"
    torch.save({"model": RunsCode(marker)}, tmp_path / "evil.pth")
    result = arctl_cli.invoke(["convert", str(tmp_path / "evil.pth"), "--out", str(tmp_path / "e.safetensors")])
    assert result.exit_code == 1 and "refusing to load" in result.stderr
    assert not marker.exists() and not (tmp_path / "e.safetensors").exists()


def test_env_reports_versions_devices_cache_and_plugins(arctl_cli, toy_manager, hub_cache):
    info = json.loads(arctl_cli.invoke(["env", "--json"], manager=toy_manager).stdout)
    assert info["packages"]["torch"] == torch.__version__.split("+")[0] or info["packages"]["torch"] == torch.__version__
    assert info["devices"][0]["device"] == "cpu" and info["devices"][0]["available"] is True
    assert info["devices"][1]["device"] == "cuda" and info["devices"][1]["available"] == torch.cuda.is_available()
    assert info["hub_cache"] == str(hub_cache.root) and info["hub_offline"] is True
    assert info["plugins"]["arctl_toy"] == {"version": None, "error": None}
    text = arctl_cli.invoke(["env"], manager=toy_manager).stdout
    assert "device cpu" in text and "available; dtypes: fp32" in text and "hub cache" in text


def test_install_and_uninstall_run_pip_of_this_python(arctl_cli, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda args: calls.append(args) or 0)
    assert arctl_cli.invoke(["install", "arctl-var", "-U", "--force-reinstall", "-e", "plugins/x"]).exit_code == 0
    assert calls[-1] == [sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall",
                         "--editable", "plugins/x", "arctl-var"]
    assert arctl_cli.invoke(["uninstall", "-y", "arctl-var"]).exit_code == 0
    assert calls[-1] == [sys.executable, "-m", "pip", "uninstall", "--yes", "arctl-var"]
    monkeypatch.setattr(subprocess, "call", lambda args: 3)
    assert arctl_cli.invoke(["install", "nonexistent-pkg"]).exit_code == 3
    assert arctl_cli.invoke(["install"]).exit_code == 2


def test_shell_completion_offers_model_names(arctl_cli, toy_manager):
    env = {"_ARCTL_COMPLETE": "complete_bash", "COMP_WORDS": "arctl generate toy", "COMP_CWORD": "2"}
    result = arctl_cli.invoke([], manager=toy_manager, env=env)
    assert result.exit_code == 0
    assert set(result.stdout.split()) == {"toy-tiny", "toy-tiny-pth"}


def test_import_and_help_do_not_import_torch():
    code = (
        "import sys, arctl, arctl.plugins, arctl.registry, arctl.cli\n"
        "assert 'torch' not in sys.modules, 'import arctl imported torch'\n"
        "from arctl.cli import main\n"
        "for argv in (['--help'], ['plugins', '--json'], ['generate', '--help']):\n"
        "    code = main(argv)\n"
        "    assert code == 0, (argv, code)\n"
        "    assert 'torch' not in sys.modules, f'arctl {argv} imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "arctl", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "generate" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "arctl", "generate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_generate_without_a_model_uses_the_default(arctl_cli, toy_manager, toy_weights, tmp_path, make_plugin_manager):
    result = arctl_cli.invoke(["generate", "--class", "2", "--seed", "1", "--out", str(tmp_path)], manager=toy_manager)
    assert result.exit_code == 0, result.output
    assert read_recipe(result.stdout.strip())["model"] == "toy-tiny"
    bare = arctl_cli.invoke(["generate", "--class", "2"], manager=make_plugin_manager())
    assert bare.exit_code == 2 and "no MODEL given" in bare.stderr
