"""PNG outputs: recipes in text chunks, atomic writes, file modes, unique names, reading back, grids."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest
from PIL import Image

from arctl.errors import ArctlError
from arctl.files import atomic_write
from arctl.images import RECIPE_KEY, jpeg, make_grid, open_image, read_recipe, save_png, stored, unique_path

RECIPE = {
    "format": 1,
    "model": "toy-tiny",
    "seed": 2**63 - 1,
    "sampling": {"cfg": 4.0, "top_k": 600, "top_p": 0.9, "temperature": 1.0},
    "conditions": [207, 88],
    "prompt": "a café \u2615 on the moon",
    "options": {"cfg_cutoff": 0.5, "flag": True, "none": None},
}


def pattern(size=(12, 10), color=(200, 30, 90)) -> Image.Image:
    img = Image.new("RGB", size, color)
    img.putpixel((0, 0), (1, 2, 3))
    img.putpixel((size[0] - 1, size[1] - 1), (250, 251, 252))
    return img


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def single_line_naming(exc: ArctlError, path: Path) -> str:
    message = str(exc)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- save_png / read_recipe ---------------------------------------------------------------------


def test_save_png_round_trips_the_recipe(tmp_path):
    img = pattern()
    path = save_png(img, tmp_path / "out.png", RECIPE)
    assert path == tmp_path / "out.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert read_recipe(path) == RECIPE
    assert read_recipe(str(path)) == RECIPE
    with Image.open(path) as back:
        assert back.format == "PNG"
        assert RECIPE_KEY == "arctl-recipe"
        assert back.text["arctl-recipe"].startswith("{")
    back = open_image(path)
    assert back.size == (12, 10) and back.mode == "RGB"
    assert back.getpixel((0, 0)) == (1, 2, 3)
    assert back.getpixel((11, 9)) == (250, 251, 252)
    assert back.getpixel((5, 5)) == (200, 30, 90)
    assert back.tobytes() == img.tobytes()


def test_save_png_creates_parent_directories_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "img.png"
    save_png(pattern(color=(0, 0, 0)), target, {"n": 1})
    save_png(pattern(color=(255, 255, 255)), target, {"n": 2})
    assert read_recipe(target) == {"n": 2}
    assert open_image(target).getpixel((4, 4)) == (255, 255, 255)
    assert sorted(p.name for p in target.parent.iterdir()) == ["img.png"]


def test_save_png_without_recipe_has_no_recipe(tmp_path):
    path = save_png(pattern(), tmp_path / "plain.png")
    with pytest.raises(ArctlError) as info:
        read_recipe(path)
    message = single_line_naming(info.value, path)
    assert "no arctl recipe" in message


def test_corrupt_recipe(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_KEY, "{not json")
    path = tmp_path / "corrupt.png"
    pattern().save(path, format="PNG", pnginfo=info)
    with pytest.raises(ArctlError) as exc:
        read_recipe(path)
    assert "corrupt" in single_line_naming(exc.value, path)


# --- atomic writes ------------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def test_failed_write_leaves_no_target_and_no_temp_file(tmp_path):
    target = tmp_path / "out.png"
    seen = []

    def write(tmp: Path):
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"half a file")
        raise Boom("disk full")

    with pytest.raises(Boom):
        atomic_write(target, write)
    assert len(seen) == 1
    assert not target.exists()
    assert not seen[0].exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_an_existing_target_untouched(tmp_path):
    target = tmp_path / "out.png"
    save_png(pattern(), target, {"old": True})
    before = target.read_bytes()

    def write(tmp: Path):
        tmp.write_bytes(b"garbage")
        raise KeyboardInterrupt  # even an interrupt cleans up

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write)
    assert target.read_bytes() == before
    assert read_recipe(target) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_failed_save_png_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "img.png"
    save_png(pattern(), target, {"v": 1})
    before = target.read_bytes()
    original_save = Image.Image.save

    def failing_save(self, fp, *args, **kwargs):
        original_save(self, fp, *args, **kwargs)  # the temp file is fully written...
        raise OSError("simulated failure after writing")  # ...but the call still fails

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="simulated"):
        save_png(pattern(color=(0, 0, 0)), target, {"v": 2})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["img.png"]


def test_write_goes_through_a_temp_file_in_the_same_directory(tmp_path):
    target = tmp_path / "x.bin"
    temps = []

    def write(tmp: Path):
        temps.append(tmp)
        assert not target.exists()  # readers never see a partial target
        tmp.write_bytes(b"complete")

    assert atomic_write(target, write) == target
    assert target.read_bytes() == b"complete"
    assert temps[0].name.startswith(".x.bin.") and temps[0].name.endswith(".tmp")
    assert not temps[0].exists()


def test_mode_follows_the_umask(tmp_path, umask_022):
    assert mode_of(save_png(pattern(), tmp_path / "a.png", RECIPE)) == 0o644
    assert mode_of(atomic_write(tmp_path / "b.txt", lambda p: p.write_text("x"))) == 0o644
    os.umask(0o077)
    assert mode_of(atomic_write(tmp_path / "c.txt", lambda p: p.write_text("x"))) == 0o600
    os.umask(0o002)
    assert mode_of(atomic_write(tmp_path / "d.txt", lambda p: p.write_text("x"))) == 0o664


def test_explicit_mode(tmp_path, umask_022):
    path = atomic_write(tmp_path / "secret", lambda p: p.write_text("token"), mode=0o600)
    assert mode_of(path) == 0o600
    assert path.read_text() == "token"
    # Replacing a 0644 file with mode=0o600 gives 0o600.
    plain = atomic_write(tmp_path / "f", lambda p: p.write_text("a"))
    assert mode_of(plain) == 0o644
    assert mode_of(atomic_write(plain, lambda p: p.write_text("b"), mode=0o600)) == 0o600


# --- unique_path --------------------------------------------------------------------------------


def test_unique_path(tmp_path):
    first = unique_path(tmp_path, "img")
    assert first == tmp_path / "img.png"
    first.write_bytes(b"")
    second = unique_path(tmp_path, "img")
    assert second == tmp_path / "img-1.png"
    second.write_bytes(b"")
    (tmp_path / "img-2.png").write_bytes(b"")
    third = unique_path(tmp_path, "img")
    assert third == tmp_path / "img-3.png"
    assert not third.exists()
    assert unique_path(tmp_path, "img", ".json") == tmp_path / "img.json"


def test_unique_path_never_returns_an_existing_file(tmp_path):
    made = set()
    for _ in range(12):
        path = unique_path(tmp_path, "grid")
        assert not path.exists()
        assert path not in made
        path.write_bytes(b"x")
        made.add(path)
    assert len(list(tmp_path.iterdir())) == 12


# --- reading bad files --------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    for reader in (open_image, read_recipe):
        with pytest.raises(ArctlError) as info:
            reader(path)
        assert "no such file" in single_line_naming(info.value, path)
        assert info.value.exit_code == 1


def test_text_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\nsecond line\n")
    for reader in (open_image, read_recipe):
        with pytest.raises(ArctlError) as info:
            reader(path)
        assert "not a readable image" in single_line_naming(info.value, path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ArctlError) as info:
        open_image(path)
    single_line_naming(info.value, path)


@pytest.mark.parametrize("keep", [8, 33, 60, 0.5, 0.9])
def test_truncated_png(tmp_path, keep):
    full = tmp_path / "full.png"
    # Noise does not compress, so the pixel data spans most of the file.
    noise = Image.frombytes("RGB", (48, 48), random.Random(0).randbytes(48 * 48 * 3))
    save_png(noise, full, RECIPE)
    data = full.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    path = tmp_path / "cut.png"
    path.write_bytes(data[:n])
    for reader in (open_image, read_recipe):
        with pytest.raises(ArctlError) as info:
            reader(path)
        message = single_line_naming(info.value, path)
        assert "not a readable image" in message


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ArctlError) as info:
        open_image(tmp_path)
    single_line_naming(info.value, tmp_path)


def test_other_image_formats_open(tmp_path):
    path = tmp_path / "x.jpg"
    Image.new("RGB", (9, 7), (10, 200, 10)).save(path, format="JPEG")
    img = open_image(path)
    assert img.size == (9, 7)
    with pytest.raises(ArctlError, match="no arctl recipe"):
        read_recipe(path)


# --- grids --------------------------------------------------------------------------------------


def test_make_grid_sizes_and_placement():
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    images = [Image.new("RGB", (8, 8), c) for c in colors]
    grid = make_grid(images, padding=2)
    assert grid.mode == "RGB"
    assert grid.size == (3 * 8 + 2 * 2, 2 * 8 + 1 * 2) == (28, 18)
    # Row-major placement: image i at column i % 3, row i // 3.
    for i, color in enumerate(colors):
        r, c = divmod(i, 3)
        assert grid.getpixel((c * 10 + 4, r * 10 + 4)) == color
        assert grid.getpixel((c * 10, r * 10)) == color
        assert grid.getpixel((c * 10 + 7, r * 10 + 7)) == color
    # Padding and the empty sixth cell are white.
    assert grid.getpixel((8, 4)) == (255, 255, 255)
    assert grid.getpixel((4, 9)) == (255, 255, 255)
    assert grid.getpixel((24, 14)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("count", "columns", "padding", "size"),
    [
        (1, None, 2, (8, 8)),
        (4, None, 2, (18, 18)),
        (5, None, 0, (24, 16)),
        (9, None, 1, (26, 26)),
        (10, None, 2, (38, 28)),
        (5, 5, 2, (48, 8)),
        (5, 1, 3, (8, 52)),
        (3, 2, 0, (16, 16)),
    ],
)
def test_make_grid_dimensions(count, columns, padding, size):
    images = [Image.new("RGB", (8, 8), (i * 20, 0, 0)) for i in range(count)]
    assert make_grid(images, columns=columns, padding=padding).size == size


def test_make_grid_converts_and_resizes_to_the_first_image():
    first = Image.new("RGB", (6, 4), (10, 20, 30))
    gray = Image.new("L", (12, 8), 128)
    rgba = Image.new("RGBA", (6, 4), (1, 2, 3, 255))
    grid = make_grid([first, gray, rgba], padding=0)
    assert grid.size == (12, 8)  # two columns of 6, two rows of 4
    assert grid.getpixel((1, 1)) == (10, 20, 30)
    assert grid.getpixel((8, 2)) == (128, 128, 128)
    assert grid.getpixel((2, 6)) == (1, 2, 3)


def test_make_grid_needs_images():
    with pytest.raises(ValueError):
        make_grid([])


def test_images_are_stored_at_8_bits_and_jpeg_changes_them():
    import torch

    axis = torch.linspace(0, 1, 64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    smooth = torch.stack((x, y, (x + y) / 2))[None].repeat(2, 1, 1, 1)  # a photo-like image, not noise
    images = smooth * 0.98 + torch.rand(2, 3, 64, 64) / 100  # inside [0, 1], off the 8-bit grid
    kept = stored(images)
    assert torch.equal(kept, stored(kept)) and (kept - images).abs().max() <= 0.5 / 255 + 1e-6
    compressed = jpeg(kept, 50)
    assert compressed.shape == kept.shape and 0 < (compressed - kept).abs().mean() < 0.05
