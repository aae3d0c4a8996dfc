"""`arctl generate` and `arctl edit` end to end with a tiny VAR from an offline Hub cache."""

import json

import numpy as np
import pytest
from PIL import Image

from arctl.images import read_recipe


def test_generate_end_to_end(arctl_cli, var_manager, tiny_var, tmp_path):
    result = arctl_cli.invoke(["generate", "var-tiny", "--class", "3", "--class", "7", "--num", "3", "--seed", "0",
                               "--cfg", "4", "--top-k", "20", "--top-p", "0.95", "--out", str(tmp_path), "--json"],
                              manager=var_manager)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(summary["images"]) == 6
    first = Image.open(summary["images"][0]["path"])
    assert first.size == (64, 64) and first.mode == "RGB"
    recipe = read_recipe(summary["images"][4]["path"])
    assert recipe["generator"] == "var-test" and recipe["condition"] == 7
    assert recipe["sampling"]["cfg_schedule"] == "linear" and recipe["options"] == {"more_smooth": False, "kv_cache": True}
    assert recipe["files"]["model"]["filename"] == "var_d16.pth"
    assert recipe["files"]["vae"]["filename"] == "vae_ch160v4096z32.pth"
    pixels = [np.asarray(Image.open(i["path"])) for i in summary["images"]]
    assert not np.array_equal(pixels[0], pixels[1])  # different noise within a class
    again = arctl_cli.invoke(["reproduce", summary["images"][4]["path"]], manager=var_manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output


def test_kv_cache_off_gives_the_same_images(arctl_cli, var_manager, tiny_var, tmp_path):
    args = ["generate", "var-tiny", "-c", "1", "-n", "2", "--seed", "5", "--json"]
    on = json.loads(arctl_cli.invoke([*args, "--out", str(tmp_path / "on")], manager=var_manager).stdout)
    off = json.loads(arctl_cli.invoke([*args, "--out", str(tmp_path / "off"), "-o", "kv_cache=false"],
                                      manager=var_manager).stdout)
    for a, b in zip(on["images"], off["images"]):
        assert np.array_equal(np.asarray(Image.open(a["path"])), np.asarray(Image.open(b["path"])))


def test_more_smooth_runs_and_changes_the_image(arctl_cli, var_manager, tiny_var, tmp_path):
    plain = arctl_cli.invoke(["generate", "var-tiny", "-c", "2", "--seed", "1", "--out", str(tmp_path / "a")],
                             manager=var_manager)
    smooth = arctl_cli.invoke(["generate", "var-tiny", "-c", "2", "--seed", "1", "--out", str(tmp_path / "b"),
                               "-o", "more_smooth=true"], manager=var_manager)
    assert plain.exit_code == 0 and smooth.exit_code == 0, smooth.output
    assert not np.array_equal(np.asarray(Image.open(plain.stdout.strip())), np.asarray(Image.open(smooth.stdout.strip())))


def test_class_out_of_range_for_the_checkpoint(arctl_cli, var_manager, tiny_var):
    result = arctl_cli.invoke(["generate", "var-tiny", "-c", "10"], manager=var_manager)
    assert result.exit_code == 2 and "out of range for var-test (0..9)" in result.stderr


def test_real_checkpoints_are_registered_with_the_official_files(arctl_cli, var_manager):
    rows = {r["name"]: r for r in json.loads(arctl_cli.invoke(["models", "--json"], manager=var_manager).stdout)}
    assert {"var-d16", "var-d20", "var-d24", "var-d30", "var-d36", "var-vae", "var-tiny"} <= set(rows)
    d36 = rows["var-d36"]
    assert d36["files"]["model"] == {"repo_id": "FoundationVision/var", "filename": "var_d36.pth", "revision": "main",
                                     "container": "bare", "size": 9_435_986_752}
    assert d36["config"]["var"]["shared_aln"] is True and d36["config"]["resolution"] == 512
    options = json.loads(arctl_cli.invoke(["models", "var-d16", "--options", "--json"], manager=var_manager).stdout)
    assert options["sampling_defaults"]["cfg"] == 4.0 and options["sampling_defaults"]["top_k"] == 900
    assert [o["name"] for o in options["options"]] == ["more_smooth", "kv_cache"]


def images(tmp_path, size=64):
    rng = np.random.default_rng(0)
    picture = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "in.png")
    hole = np.zeros((size, size), np.uint8)
    hole[16:48, 16:48] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    return tmp_path / "in.png", tmp_path / "hole.png"


def load_tiny(var_manager):
    from arctl import generation

    return generation.load_model(var_manager, "var-tiny", device="cpu").generator


def as_tensor(path):
    import torch

    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255


def test_an_all_black_mask_reconstructs_the_image(arctl_cli, var_manager, tiny_var, tmp_path):
    source, _ = images(tmp_path)
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(black)
    out = tmp_path / "kept.png"
    result = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(black), "--out", str(out)],
                              manager=var_manager)
    assert result.exit_code == 0, result.output
    assert "nothing will be regenerated" in result.stderr
    assert read_recipe(out)["command"] == "edit"
    tokenizer = load_tiny(var_manager).tokenizer
    expected = tokenizer.decode(tokenizer.encode(as_tensor(source)))
    got = as_tensor(out)
    assert (got - expected).abs().max() <= 1 / 255 + 1e-6  # every token teacher-forced: the VQVAE reconstruction


def test_outpainting_and_input_validation(arctl_cli, var_manager, tiny_var, tmp_path):
    source, hole = images(tmp_path, size=100)  # the wrong size on purpose
    centre = tmp_path / "centre.png"
    Image.fromarray(255 - np.asarray(Image.open(hole))).save(centre)
    result = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(centre),
                               "--out", str(tmp_path / "out.png")], manager=var_manager)
    assert result.exit_code == 0, result.output
    assert "image" in result.stderr and "resized to 64x64" in result.stderr
    assert Image.open(tmp_path / "out.png").size == (64, 64)

    (tmp_path / "broken.png").write_bytes(b"not a png")
    bad = arctl_cli.invoke(["edit", "var-tiny", "--image", str(tmp_path / "broken.png"), "--mask", str(centre),
                            "--out", str(tmp_path / "x.png")], manager=var_manager)
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "not a readable image" in bad.stderr
    missing = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(tmp_path / "none.png"),
                                "--out", str(tmp_path / "y.png")], manager=var_manager)
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    exists = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(centre),
                               "--out", str(tmp_path / "out.png")], manager=var_manager)
    assert exists.exit_code == 1 and "pass --force" in exists.stderr
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(small)
    mismatched = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(small),
                                   "--out", str(tmp_path / "z.png")], manager=var_manager)
    assert mismatched.exit_code == 2 and "they must be the same size" in mismatched.stderr
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((100, 100), np.uint16)).save(wide)  # 16-bit greyscale
    deep = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(wide),
                             "--out", str(tmp_path / "w.png")], manager=var_manager)
    assert deep.exit_code == 2 and "is not supported" in deep.stderr and deep.stderr.count("\n") == 1


def test_reproduce_reruns_an_edit_and_notices_a_changed_input(arctl_cli, var_manager, tiny_var, tmp_path):
    source, hole = images(tmp_path)
    out = tmp_path / "edited.png"
    result = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(hole), "--class", "4",
                               "--seed", "3", "--out", str(out)], manager=var_manager)
    assert result.exit_code == 0, result.output
    recipe = read_recipe(out)
    assert recipe["command"] == "edit" and recipe["condition"] == 4 and recipe["seed"] == 3
    assert recipe["inputs"]["image"] == [{"path": str(source.resolve()), "sha256": sha256(source)}]
    assert recipe["inputs"]["mask"][0]["sha256"] == sha256(hole)
    again = arctl_cli.invoke(["reproduce", str(out)], manager=var_manager)
    assert again.exit_code == 0 and again.stdout.strip().endswith("identical"), again.output
    # the same edit through `arctl generate` and VAR's image inputs gives the same pixels
    generated = arctl_cli.invoke(["generate", "var-tiny", "-c", "4", "--seed", "3", "--image", f"image={source}",
                                  "--image", f"mask={hole}", "--out", str(tmp_path / "gen")], manager=var_manager)
    assert generated.exit_code == 0, generated.output
    assert np.array_equal(np.asarray(Image.open(generated.stdout.strip())), np.asarray(Image.open(out)))
    picture = np.asarray(Image.open(source)).copy()
    picture[0, 0] ^= 255
    Image.fromarray(picture).save(source)
    changed = arctl_cli.invoke(["reproduce", str(out)], manager=var_manager)
    assert changed.exit_code == 1 and "has changed since the image was made" in changed.stderr


def test_edit_with_a_watermark_records_it(arctl_cli, var_manager, tiny_var, tmp_path):
    from arctl.keys import WatermarkKey, write_key

    source, hole = images(tmp_path)
    key = write_key(tmp_path / "k.key", WatermarkKey(bytes(32)))
    refused = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(hole), "--watermark", "nope",
                                "--key-file", str(key), "--out", str(tmp_path / "m.png")], manager=var_manager)
    assert refused.exit_code == 2 and "unknown watermarker 'nope'" in refused.stderr
    unkeyed = arctl_cli.invoke(["edit", "var-tiny", "--image", str(source), "--mask", str(hole), "--watermark", "x",
                                "--out", str(tmp_path / "m.png")], manager=var_manager)
    assert unkeyed.exit_code == 2 and "needs --key-file" in unkeyed.stderr


def sha256(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("model", ["nope"])
def test_edit_unknown_model(arctl_cli, var_manager, model, tmp_path):
    result = arctl_cli.invoke(["edit", model, "--image", "a.png", "--mask", "b.png", "--out", str(tmp_path / "o.png")],
                              manager=var_manager)
    assert result.exit_code == 2 and "unknown model 'nope'" in result.stderr
