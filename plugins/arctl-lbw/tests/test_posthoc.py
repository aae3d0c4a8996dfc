"""`arctl watermark IMAGE` (post-hoc marking) then `arctl detect`, and the commands' failure modes."""

import json

import numpy as np
import pytest
from PIL import Image

from arctl.images import read_recipe

SCALES = {"llamagen-b": "all", "nar-b": "all", "var-tiny": "-1"}  # the tiny VAR keeps only its finest scale


def photo(path, size=8, seed=0):
    """A clean 'photo': a flat background with a block of another colour and some noise."""
    rng = np.random.default_rng(seed)
    pixels = np.full((size, size, 3), rng.integers(0, 256, 3), dtype=np.int64)
    pixels[size // 4 : size // 2 + 2, size // 4 :] = rng.integers(0, 256, 3)
    pixels = np.clip(pixels + rng.integers(-40, 40, pixels.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def detect(arctl_cli, manager, model, paths, key_file, *extra):
    result = arctl_cli.invoke(["detect", *paths, "--model", model, "--key-file", key_file, "--json",
                               "-o", f"scales={SCALES[model]}", *extra], manager=manager)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["images"]


@pytest.mark.parametrize("model", sorted(SCALES))
def test_marked_images_are_detected_and_originals_are_not(arctl_cli, manager, key_file, tmp_path, model):
    originals = [photo(tmp_path / f"photo{i}.png", seed=i) for i in range(4)]
    marked = []
    for i, original in enumerate(originals):
        out = tmp_path / "marked" / f"{i}.png"
        result = arctl_cli.invoke(["watermark", original, "--model", model, "--key-file", key_file, "--out", out],
                                  manager=manager)
        assert result.exit_code == 0 and result.stdout.strip() == str(out), result.output
        marked.append(out)
    found = detect(arctl_cli, manager, model, marked + originals, key_file)
    assert [f["watermarked"] for f in found] == [True] * 4 + [False] * 4, found
    assert all(f["green"] == f["tokens"] for f in found[:4])  # every recovered token is green
    recipe = read_recipe(marked[0])
    assert recipe["command"] == "watermark" and recipe["model"] == model and recipe["watermark"]["method"] == "lbw"
    assert "arctl_lbw" in recipe["versions"] and "arctl" in recipe["versions"]


def test_marking_is_deterministic_and_resizes_to_the_tokenizer(arctl_cli, manager, key_file, tmp_path):
    big = photo(tmp_path / "big.png", size=20)
    # shrunk to 8x8 the photo keeps 5 distinct codes: all green is p = 4 * 0.45^5 = 0.07 at the default gamma, so
    # this test marks and detects with smaller lists (4 * 0.25^5 = 0.004)
    lists = ["-o", "gamma=0.25"]
    outs = [tmp_path / "a.png", tmp_path / "b.png"]
    for out in outs:
        result = arctl_cli.invoke(["watermark", big, "--model", "llamagen-b", "--key-file", key_file, "--out", out,
                                   *lists], manager=manager)
        assert result.exit_code == 0 and "is 20x20; resized to 8x8" in result.stderr, result.output
    a, b = (np.asarray(Image.open(p)) for p in outs)
    assert a.shape == (8, 8, 3) and np.array_equal(a, b)
    checked = arctl_cli.invoke(["detect", big, outs[0], "--model", "llamagen-b", "--key-file", key_file, *lists],
                               manager=manager)
    verdicts = [line.split()[1] for line in checked.stdout.splitlines()[1:]]  # image, verdict, p-value, z-score
    assert verdicts == ["not", "watermarked"], checked.output


def test_wrong_key_sees_no_post_hoc_mark(arctl_cli, manager, key_file, other_key_file, tmp_path):
    marked = []
    for i in range(6):
        out = tmp_path / f"m{i}.png"
        arctl_cli.invoke(["watermark", photo(tmp_path / f"p{i}.png", seed=10 + i), "--model", "nar-b",
                          "--key-file", key_file, "--out", out], manager=manager)
        marked.append(out)
    assert not any(f["watermarked"] for f in detect(arctl_cli, manager, "nar-b", marked, other_key_file))


@pytest.mark.parametrize(("command", "code", "message"), [
    (["detect", "TEXT"], 1, "not a readable image"),
    (["detect", "FOLDER"], 1, "not a readable image"),
    (["detect", "PHOTO", "GONE"], 1, "no such file"),
    (["detect", "TRUNCATED"], 1, "not a readable image"),
    (["watermark", "TEXT", "--out", "OUT"], 1, "not a readable image"),
    (["detect", "PHOTO", "-o", "gamma=2"], 2, "must be <= 0.99"),
    (["detect", "PHOTO", "-o", "mode=medium"], 2, "must be one of soft, hard"),
    (["detect", "PHOTO", "-o", "pool=0"], 2, "must be >= 1"),
    (["detect", "PHOTO", "-o", "scales=last"], 2, "option scales='last'"),
    (["detect", "PHOTO", "-o", "scales=5"], 2, "this tokenizer has scales 0..0, not 5"),
    (["detect", "PHOTO", "-o", "colour=red"], 2, "unknown option 'colour'"),
    (["detect", "PHOTO", "--fpr", "1.5"], 2, "--fpr 1.5: must be in (0, 1)"),
    (["watermark", "PHOTO", "--out", "OUT", "-o", "delta=-1"], 2, "must be >= 0.0"),
])
def test_bad_inputs_fail_in_one_line(arctl_cli, manager, key_file, tmp_path, command, code, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "folder.png").mkdir()
    photo(tmp_path / "photo.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "photo.png").read_bytes()[:60])
    names = {"TEXT": tmp_path / "notes.txt", "FOLDER": tmp_path / "folder.png", "PHOTO": tmp_path / "photo.png",
             "GONE": tmp_path / "gone.png", "TRUNCATED": tmp_path / "cut.png", "OUT": tmp_path / "out.png"}
    args = [names.get(a, a) for a in command] + ["--model", "llamagen-b", "--key-file", key_file]
    result = arctl_cli.invoke(args, manager=manager)
    assert result.exit_code == code and message in result.stderr, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert json.loads(key_file.read_text())["secret"] not in result.output
