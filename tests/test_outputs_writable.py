"""An output that cannot be written is found before any model loads: one line naming it, exit 1, for every
command that writes (generate, edit, watermark, keygen, convert, reproduce --out)."""

import os
import tempfile

import pytest
import torch
from PIL import Image

from arctl import generation, marking


@pytest.fixture
def no_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the output was checked")

    monkeypatch.setattr(generation, "load_model", refuse)
    monkeypatch.setattr(marking, "load_marking", refuse)


@pytest.fixture
def unwritable(tmp_path, monkeypatch):
    """Three folders no output can go to: read-only, below a file, and a file itself."""
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.geteuid() == 0:  # root ignores the mode bits (as on a read-only mount, the write itself must fail)
        real = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and os.path.realpath(dir) == str(read_only):
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    yield {"read-only": (read_only, f"cannot write to {read_only} (Permission denied)"),
           "below a file": (a_file / "sub", f"{a_file} is a file, not a directory"),
           "a file": (a_file, "exists and is not a directory")}
    read_only.chmod(0o755)


@pytest.fixture
def inputs(tmp_path):
    image, mask = tmp_path / "image.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), "red").save(image)
    Image.new("L", (64, 64), 255).save(mask)
    key = tmp_path / "key.json"
    weights = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(2)}, weights)
    return {"image": image, "mask": mask, "key": key, "weights": weights}


def one_error_line(result, expected):
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --out ") and expected in lines[0], result.stderr


@pytest.mark.parametrize("case", ["read-only", "below a file", "a file"])
def test_generate_checks_its_output_directory_first(arctl_cli, unwritable, no_loading, case):
    directory, expected = unwritable[case]
    one_error_line(arctl_cli.invoke(["generate", "var-shapes", "-c", "1", "--out", directory]), expected)


@pytest.mark.parametrize("case", ["read-only", "below a file"])
@pytest.mark.parametrize("command", ["edit", "watermark", "keygen", "convert"])
def test_every_file_output_is_checked_first(arctl_cli, unwritable, no_loading, inputs, tmp_path, case, command):
    directory, expected = unwritable[case]
    out = directory / "out.png"
    arctl_cli.invoke(["watermark", "keygen", "--out", inputs["key"]])
    args = {
        "edit": ["edit", "var-shapes", "--image", inputs["image"], "--mask", inputs["mask"], "--out", out],
        "watermark": ["watermark", inputs["image"], "--model", "llamagen-shapes", "--key-file", inputs["key"],
                      "--out", out],
        "keygen": ["watermark", "keygen", "--out", directory / "key.json"],
        "convert": ["convert", inputs["weights"], "--out", directory / "weights.safetensors"],
    }[command]
    one_error_line(arctl_cli.invoke(args), expected)
    assert not list(tmp_path.glob("**/.*.tmp"))


@pytest.fixture
def made(arctl_cli, tmp_path):
    """An image to reproduce."""
    [image] = arctl_cli.invoke(["generate", "var-shapes", "-c", "2", "--seed", "4", "--out", tmp_path]).stdout.split()
    return image


@pytest.mark.parametrize("case", ["read-only", "below a file"])
def test_reproduce_checks_its_output_first(arctl_cli, made, unwritable, no_loading, case):
    directory, expected = unwritable[case]
    one_error_line(arctl_cli.invoke(["reproduce", made, "--out", directory / "again.png"]), expected)


def test_reproduce_does_not_overwrite_without_force(arctl_cli, made, tmp_path):
    image = made
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    refused = arctl_cli.invoke(["reproduce", image, "--out", existing])
    assert refused.exit_code == 1 and refused.stderr.strip() == f"Error: {existing} exists; pass --force to overwrite it"
    assert existing.read_bytes() == b"keep me"
    forced = arctl_cli.invoke(["reproduce", image, "--out", existing, "--force"])
    assert forced.exit_code == 0 and forced.stdout.strip() == f"{image}: identical"
    assert Image.open(existing).tobytes() == Image.open(image).tobytes()
