"""`arctl generate --watermark lbw` on LlamaGen, NAR and VAR through the same code, then `arctl detect`."""

import json
from pathlib import Path

import pytest

from arctl.images import read_recipe
from arctl.keys import load_key

# The tiny random VAR is so peaked that guidance and top-p leave it ~3 codes per image; sample it plainly.
PLAIN = {"llamagen-b": [], "nar-b": [], "var-tiny": ["--cfg", "0", "--top-p", "1"]}
# Only the finest scale of the tiny VAR reaches its pixels (see conftest), so count that one there.
SCALES = {"llamagen-b": "all", "nar-b": "all", "var-tiny": "-1"}
MODELS = sorted(PLAIN)


def generate(arctl_cli, manager, model, out, *extra):
    result = arctl_cli.invoke(["generate", model, "-c", "1", "-c", "4", "-n", "3", "--seed", "11", "--out", out,
                               "--json", *PLAIN[model], *extra], manager=manager)
    assert result.exit_code == 0, result.output
    return result, [image["path"] for image in json.loads(result.stdout)["images"]]


def detect(arctl_cli, manager, model, paths, key_file, *extra):
    result = arctl_cli.invoke(["detect", *paths, "--model", model, "--key-file", key_file, "--json",
                               "-o", f"scales={SCALES[model]}", *extra], manager=manager)
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)["images"]


@pytest.mark.parametrize("model", MODELS)
def test_the_default_hard_mark_makes_every_token_green(arctl_cli, manager, key_file, tmp_path, model):
    _, paths = generate(arctl_cli, manager, model, tmp_path, "--watermark", "lbw", "--key-file", key_file)
    _, found = detect(arctl_cli, manager, model, paths, key_file)
    # measured: p at or next to the soft score's floor 4 / 10001 (the own list beats all or all but one random list)
    assert all(f["watermarked"] and f["green"] == f["tokens"] >= 10 and f["p_value"] <= 1e-3 for f in found), found
    recipe = read_recipe(paths[0])
    assert recipe["watermark"] == {"method": "lbw", "key": load_key(key_file).fingerprint,
                                   "options": {"delta": 2.0, "gamma": 0.45, "pool": 4, "mode": "hard", "scales": "all",
                                               "score": "soft", "temperature": 0.3, "draws": 10_000}}


@pytest.mark.parametrize("model", MODELS)
def test_soft_mark_is_detected_and_clean_images_are_not(arctl_cli, manager, key_file, tmp_path, model):
    # the soft mark with the count score, on 16 tokens: a quarter of the codebook green gives it the power here
    _, marked = generate(arctl_cli, manager, model, tmp_path / "marked", "--watermark", "lbw", "--key-file", key_file,
                         "-o", "mode=soft", "-o", "delta=3", "-o", "gamma=0.25")
    _, clean = generate(arctl_cli, manager, model, tmp_path / "clean")
    _, found = detect(arctl_cli, manager, model, marked + clean, key_file, "-o", "gamma=0.25", "-o", "score=count")
    assert [f["watermarked"] for f in found] == [True] * 6 + [False] * 6, found
    assert any(f["green"] < f["tokens"] for f in found[:6])  # soft: unlike hard, red tokens stay possible


@pytest.mark.parametrize("model", MODELS)
def test_wrong_key_detects_nothing_and_the_key_never_shows(arctl_cli, manager, key_file, other_key_file, tmp_path,
                                                           model):
    made, paths = generate(arctl_cli, manager, model, tmp_path, "--watermark", "lbw", "--key-file", key_file,
                           "-o", "mode=hard")
    checked, found = detect(arctl_cli, manager, model, paths, other_key_file)
    assert not any(f["watermarked"] for f in found), found
    secrets = [json.loads(path.read_text())["secret"] for path in (key_file, other_key_file)]
    for text in [made.output, checked.output, *(Path(p).read_bytes().decode("latin-1") for p in paths)]:
        assert not any(secret in text for secret in secrets)


@pytest.mark.parametrize("model", MODELS)
def test_reproduce_with_the_key(arctl_cli, manager, key_file, tmp_path, model):
    _, paths = generate(arctl_cli, manager, model, tmp_path, "--watermark", "lbw", "--key-file", key_file,
                        "-o", "pool=3", "-o", "gamma=0.5")
    again = arctl_cli.invoke(["reproduce", paths[4], "--key-file", key_file], manager=manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output
    refused = arctl_cli.invoke(["reproduce", paths[4]], manager=manager)
    assert refused.exit_code == 1 and "pass --key-file" in refused.stderr


def test_the_pool_spreads_images_over_lists(arctl_cli, manager, key_file, tmp_path):
    _, paths = generate(arctl_cli, manager, "llamagen-b", tmp_path, "--watermark", "lbw", "--key-file", key_file,
                        "-o", "mode=hard", "-o", "pool=3", "-n", "4")
    _, found = detect(arctl_cli, manager, "llamagen-b", paths, key_file, "-o", "pool=3")
    assert all(f["watermarked"] for f in found) and len({f["list"] for f in found}) > 1
    _, single = detect(arctl_cli, manager, "llamagen-b", paths, key_file, "-o", "pool=1")
    assert any(not f["watermarked"] for f in single)  # list 0 alone does not explain the other images


@pytest.mark.parametrize("model", MODELS)
def test_detect_with_the_soft_score_on_every_family(arctl_cli, manager, key_file, other_key_file, tmp_path, model):
    _, paths = generate(arctl_cli, manager, model, tmp_path, "--watermark", "lbw", "--key-file", key_file,
                        "-o", "mode=hard")
    _, found = detect(arctl_cli, manager, model, paths, key_file, "-o", "score=soft", "-o", "draws=2000")
    assert all(f["watermarked"] and f["p_value"] <= 4 / 2001 and f["z_score"] > 3 for f in found), found
    _, wrong = detect(arctl_cli, manager, model, paths, other_key_file, "-o", "score=soft", "-o", "draws=2000")
    assert not any(f["watermarked"] for f in wrong), wrong


def test_an_fpr_below_the_soft_scores_resolution_is_a_usage_error(arctl_cli, manager, key_file, tmp_path):
    _, paths = generate(arctl_cli, manager, "llamagen-b", tmp_path)
    result = arctl_cli.invoke(["detect", *paths, "--model", "llamagen-b", "--key-file", key_file, "--fpr", "1e-4",
                               "-o", "score=soft", "-o", "draws=1000"], manager=manager)
    assert result.exit_code == 2 and "below the smallest p-value this detector can report (0.004)" in result.output
