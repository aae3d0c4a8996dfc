"""The core's watermark seams with a test watermarker on the toy plugin: generate --watermark, recipes and
reproduce with keys, batch-aware processors, `arctl watermark` (post-hoc and keygen) and `arctl detect`."""

import json
import math
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

import arctl
from arctl import generation
from arctl.errors import ArctlError
from arctl.images import read_recipe
from arctl.keys import WatermarkKey, write_key
from arctl.watermark import Detection, Watermarker


class EvenTokens(Watermarker):
    """Marks by drawing only even tokens; detects by the share of even tokens (binomial with p = 1/2)."""

    def processor(self):
        def only_even(logits, ctx):
            return logits.masked_fill(torch.arange(logits.shape[-1], device=logits.device) % 2 == 1, float("-inf"))

        return only_even

    def embed(self, tokenizer, images):
        allowed = torch.arange(tokenizer.codebook_size) % 2 == 0
        return tokenizer.decode(tokenizer.encode(images, allowed=allowed))

    def detect(self, tokenizer, images):
        ids, _ = tokenizer.flat_tokens(tokenizer.encode(images))
        found = []
        for row in ids:
            n, k = len(row), int((row % 2 == 0).sum())
            p = sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n
            found.append(Detection(p, (k - n / 2) / math.sqrt(n / 4), {"even": k}))
        return found


class EvenPlugin:
    @arctl.hookimpl
    def register_watermarkers(self, register):
        register(arctl.WatermarkerSpec("even", "Only even tokens.", EvenTokens,
                                       options=(arctl.Option("strength", int, 1, "unused", min=1),)))


class OtherPlugin:
    @arctl.hookimpl
    def register_watermarkers(self, register):
        register(arctl.WatermarkerSpec("other", "Another one.", EvenTokens))


@pytest.fixture
def manager(make_plugin_manager, toy_plugin, toy_weights):
    return make_plugin_manager(toy_plugin, EvenPlugin())


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "k.key"
    write_key(path, WatermarkKey.generate())
    return path


def secret_of(path):
    return json.loads(path.read_text())["secret"]


def marked_images(arctl_cli, manager, key_file, out, *extra):
    result = arctl_cli.invoke(["generate", "-c", "1", "-n", "3", "--seed", "4", "--out", out, "--watermark", "even",
                               "--key-file", key_file, "--json", *extra], manager=manager)
    assert result.exit_code == 0, result.output
    return result, [i["path"] for i in json.loads(result.stdout)["images"]]


def test_generate_records_the_watermark_not_the_key(arctl_cli, manager, key_file, tmp_path):
    result, paths = marked_images(arctl_cli, manager, key_file, tmp_path, "-o", "strength=2")
    fingerprint = WatermarkKey(bytes.fromhex(secret_of(key_file))).fingerprint
    record = {"method": "even", "options": {"strength": 2}, "key": fingerprint}
    assert json.loads(result.stdout)["watermark"] == record
    recipe = read_recipe(paths[0])
    assert recipe["watermark"] == record and "strength" not in recipe["options"]
    assert "EvenPlugin" in recipe["versions"]
    for path in paths:
        assert secret_of(key_file) not in Path(path).read_bytes().decode("latin-1")
    assert secret_of(key_file) not in result.output
    detected = arctl_cli.invoke(["detect", *paths, "--model", "toy-tiny", "--key-file", key_file], manager=manager)
    verdicts = [line.split()[1] for line in detected.stdout.splitlines()[1:]]  # image, verdict, p-value, z-score
    assert detected.exit_code == 0 and verdicts == ["watermarked"] * 3, detected.output


def test_reproduce_needs_the_same_key(arctl_cli, manager, key_file, tmp_path):
    _, paths = marked_images(arctl_cli, manager, key_file, tmp_path)
    missing = arctl_cli.invoke(["reproduce", paths[2]], manager=manager)
    assert missing.exit_code == 1 and "pass --key-file with that key" in missing.stderr
    assert missing.stderr.count("\n") == 1
    other = tmp_path / "other.key"
    write_key(other, WatermarkKey.generate())
    wrong = arctl_cli.invoke(["reproduce", paths[2], "--key-file", other], manager=manager)
    assert wrong.exit_code == 1 and "is not the key this image was watermarked with" in wrong.stderr
    assert secret_of(other) not in wrong.output and secret_of(key_file) not in wrong.output
    same = arctl_cli.invoke(["reproduce", paths[2], "--key-file", key_file], manager=manager)
    assert same.exit_code == 0 and same.stdout.strip().endswith("identical"), same.output


@pytest.mark.parametrize(("args", "message"), [
    (["--watermark", "even"], "needs --key-file"),
    (["--key-file", "KEY"], "only used with --watermark"),
    (["--watermark", "nope", "--key-file", "KEY"], "unknown watermarker 'nope'"),
    (["-o", "strength=2"], "unknown option 'strength'"),
    (["--watermark", "even", "--key-file", "KEY", "-o", "strength=0"], "must be >= 1"),
])
def test_generate_usage_errors(arctl_cli, manager, key_file, tmp_path, args, message):
    args = [key_file if a == "KEY" else a for a in args]
    result = arctl_cli.invoke(["generate", "-c", "1", "--out", tmp_path, *args], manager=manager)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_batch_aware_processors_see_their_batch(manager):
    seen = []

    class Recorder:
        def for_batch(self, info):
            seen.append(info)
            return lambda logits, ctx: logits

    loaded = generation.load_model(manager, "toy-tiny", device="cpu")
    settings = generation.resolve_settings(manager.registry, loaded.spec)
    generation.generate(manager, loaded, settings, classes=[0, 2], num=2, seed=9, batch_size=3, processors=[Recorder()])
    assert [(i.seed, i.index, i.items) for i in seen] == [(9, 0, (0, 1, 2)), (9, 1, (3,))]
    seen.clear()
    generation.generate(manager, loaded, settings, classes=[0, 2], num=2, seed=9, batch_size=3, only_batch=1,
                        processors=[Recorder()])
    assert [(i.index, i.items) for i in seen] == [(1, (3,))]


def test_watermark_an_existing_image_then_detect(arctl_cli, manager, key_file, tmp_path):
    clean = arctl_cli.invoke(["generate", "-c", "0", "--seed", "1", "--out", tmp_path], manager=manager).stdout.strip()
    for command in (["watermark"], ["watermark", "apply"]):
        out = tmp_path / f"marked-{len(command)}.png"
        result = arctl_cli.invoke([*command, clean, "--model", "toy-tiny", "--key-file", key_file, "--out", out],
                                  manager=manager)
        assert result.exit_code == 0 and result.stdout.strip() == str(out), result.output
    recipe = read_recipe(out)
    assert recipe["command"] == "watermark" and recipe["source"] == clean and recipe["watermark"]["method"] == "even"
    found = json.loads(arctl_cli.invoke(["detect", out, "--model", "toy-tiny", "--key-file", key_file, "--json"],
                                        manager=manager).stdout)
    assert found["method"] == "even" and found["fpr"] == 0.01 and found["images"][0]["watermarked"] is True
    assert found["images"][0]["even"] == 16
    again = arctl_cli.invoke(["watermark", clean, "--model", "toy-tiny", "--key-file", key_file, "--out", out],
                             manager=manager)
    assert again.exit_code == 1 and "exists; pass --force" in again.stderr
    refused = arctl_cli.invoke(["reproduce", out], manager=manager)
    assert refused.exit_code == 1 and "made by `arctl watermark`" in refused.stderr


@pytest.mark.parametrize(("args", "code", "message"), [
    (["detect", "NOTIMAGE", "--model", "toy-tiny", "--key-file", "KEY"], 1, "not a readable image"),
    (["detect", "MISSING", "--model", "toy-tiny", "--key-file", "KEY"], 1, "no such file"),
    (["detect", "IMAGE", "--model", "toy-tiny", "--key-file", "MISSING"], 1, "key file"),
    (["detect", "IMAGE", "--model", "toy-tiny", "--key-file", "NOTIMAGE"], 1, "not an arctl watermark key"),
    (["detect", "IMAGE", "--model", "toy-tiny", "--key-file", "KEY", "--fpr", "0"], 2, "--fpr 0.0: must be in (0, 1)"),
    (["detect", "IMAGE", "--model", "nope", "--key-file", "KEY"], 2, "unknown model 'nope'"),
    (["detect", "IMAGE", "--model", "toy-tiny", "--key-file", "KEY", "--method", "x"], 2, "unknown watermarker 'x'"),
    (["detect", "IMAGE", "--model", "toy-tiny", "--key-file", "KEY", "-o", "zeta=1"], 2, "unknown option 'zeta'"),
    (["watermark", "IMAGE", "--model", "toy-tiny", "--key-file", "KEY", "--out", "x.jpg"], 2, "must end in .png"),
    (["watermark", "NOTIMAGE", "--model", "toy-tiny", "--key-file", "KEY", "--out", "OUT"], 1, "not a readable image"),
])
def test_command_errors_are_one_line(arctl_cli, manager, key_file, tmp_path, args, code, message):
    image = arctl_cli.invoke(["generate", "-c", "0", "--out", tmp_path], manager=manager).stdout.strip()
    (tmp_path / "notes.txt").write_text("not an image")
    names = {"KEY": key_file, "IMAGE": image, "NOTIMAGE": tmp_path / "notes.txt", "MISSING": tmp_path / "gone.png",
             "OUT": tmp_path / "out.png"}
    result = arctl_cli.invoke([names.get(a, a) for a in args], manager=manager)
    assert result.exit_code == code and message in result.stderr, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert secret_of(key_file) not in result.output


def test_method_is_needed_only_when_ambiguous(arctl_cli, make_plugin_manager, toy_plugin, toy_weights, key_file, tmp_path):
    image = arctl_cli.invoke(["generate", "-c", "0", "--out", tmp_path], manager=make_plugin_manager(toy_plugin)).stdout.strip()
    args = ["detect", image, "--model", "toy-tiny", "--key-file", key_file]
    none = arctl_cli.invoke(args, manager=make_plugin_manager(toy_plugin))
    assert none.exit_code == 2 and "no watermarker is installed" in none.stderr
    both = make_plugin_manager(toy_plugin, EvenPlugin(), OtherPlugin())
    assert "choose one with --method (even, other)" in arctl_cli.invoke(args, manager=both).stderr
    assert arctl_cli.invoke([*args, "--method", "other"], manager=both).exit_code == 0


def test_keygen(arctl_cli, tmp_path):
    path = tmp_path / "keys" / "mine.key"
    made = arctl_cli.invoke(["watermark", "keygen", "--out", path])
    assert made.exit_code == 0 and made.stdout.strip() == str(path), made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = WatermarkKey(bytes.fromhex(secret_of(path)))
    assert key.fingerprint in made.stderr and secret_of(path) not in made.output
    again = arctl_cli.invoke(["watermark", "keygen", "--out", path])
    assert again.exit_code == 1 and "exists; pass --force" in again.stderr and secret_of(path) == key._secret.hex()
    assert arctl_cli.invoke(["watermark", "keygen", "--out", path, "--force"]).exit_code == 0
    assert secret_of(path) != key._secret.hex()


def test_loose_key_permissions_are_warned(arctl_cli, manager, key_file, tmp_path):
    key_file.chmod(0o644)
    _, paths = marked_images(arctl_cli, manager, key_file, tmp_path)
    result = arctl_cli.invoke(["detect", paths[0], "--model", "toy-tiny", "--key-file", key_file], manager=manager)
    assert result.exit_code == 0 and "warning: key file" in result.stderr and "chmod 600" in result.stderr


def test_the_python_api_marks_with_a_key_or_a_key_file(manager, key_file, tmp_path):
    from arctl.images import RECIPE_KEY, save_png
    from arctl.keys import load_key

    pipe = arctl.load("toy-tiny", device="cpu", manager=manager)
    by_file = pipe(classes=[1], num=3, seed=4, watermark="even", key=key_file, strength=2)
    by_key = pipe(classes=[1], num=3, seed=4, watermark="even", key=load_key(key_file), strength=2)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(by_file, by_key))
    recipe = json.loads(by_file[0].info[RECIPE_KEY])
    assert recipe["watermark"]["method"] == "even" and recipe["watermark"]["options"] == {"strength": 2}
    path = save_png(by_file[2], tmp_path / "marked.png")
    with pytest.raises(ArctlError, match="pass --key-file with that key"):
        arctl.reproduce(path, manager=manager)
    assert arctl.reproduce(path, manager=manager, key=key_file).identical
    key_file.chmod(0o644)
    pipe(classes=[1], watermark="even", key=key_file)
    assert any("accessible by group or others" in note for note in pipe.notes)


def test_marking_and_detection_from_python(arctl_cli, manager, key_file, tmp_path):
    from PIL import Image

    from arctl import marking
    from arctl.keys import load_key

    _, paths = marked_images(arctl_cli, manager, key_file, tmp_path / "marked")
    request = marking.check_marking(manager, method=None, options={}, model="toy-tiny")
    loaded = marking.load_marking(manager, request, load_key(key_file), device="cpu", fpr=0.01)
    pictures = [Image.open(p).convert("RGB") for p in paths]
    notes = []
    rows = marking.detect(loaded, pictures, paths, 0.01, notes)
    assert [row["watermarked"] for row in rows] == [True] * 3 and notes == []
    [clean] = arctl.load("toy-tiny", device="cpu", manager=manager)(classes=[0], seed=1)
    marked, recipe = marking.mark(manager, loaded, clean, "clean.png", notes)
    assert recipe["command"] == "watermark" and recipe["source"] == "clean.png" and marked.size == clean.size
    assert [row["watermarked"] for row in marking.detect(loaded, [clean, marked], ["a", "b"], 0.01, notes)] == [
        False, True]
    with pytest.raises(arctl.errors.UsageError, match="unknown option 'nope' for watermarker even"):
        marking.check_marking(manager, method="even", options={"nope": "1"}, model="toy-tiny")
