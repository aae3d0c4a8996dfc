"""Watermark key files: owner-only, never overwritten by accident, validated, and never shown."""

import json
import os
import stat

import pytest

from arctl.errors import ArctlError
from arctl.keys import WatermarkKey, exposure_warning, load_key, write_key


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_write_and_load_round_trip_owner_only(tmp_path, umask_022):
    key = WatermarkKey.generate()
    path = write_key(tmp_path / "sub" / "k.key", key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and exposure_warning(path) is None
    data = json.loads(path.read_text())
    assert data["format"] == "arctl-watermark-key" and data["version"] == 1 and len(bytes.fromhex(data["secret"])) == 32
    again = load_key(path)
    assert again.fingerprint == key.fingerprint and again.derive("x") == key.derive("x") != key.derive("y")
    assert len(key.fingerprint) == 16 and key.fingerprint != WatermarkKey.generate().fingerprint


def test_the_secret_never_shows(tmp_path):
    key = WatermarkKey.generate()
    secret = json.loads(write_key(tmp_path / "k", key).read_text())["secret"]
    assert secret not in repr(key) and secret not in str(key) and key.fingerprint in repr(key)
    assert secret not in key.fingerprint


def test_no_overwrite_without_force(tmp_path):
    path = write_key(tmp_path / "k", WatermarkKey.generate())
    before = path.read_text()
    with pytest.raises(ArctlError, match="exists; pass --force"):
        write_key(path, WatermarkKey.generate())
    assert path.read_text() == before
    write_key(path, WatermarkKey.generate(), force=True)
    assert path.read_text() != before
    with pytest.raises(ArctlError, match="is a directory"):
        write_key(tmp_path, WatermarkKey.generate(), force=True)


BAD_FILES = {
    "missing": (None, "no such file"),
    "not-json": (b"\x89PNG\r\n", "not JSON"),
    "other-format": (b'{"format": "ssh", "version": 1, "secret": "00"}', "format is not"),
    "version": (b'{"format": "arctl-watermark-key", "version": 9, "secret": "00"}', "version 9 is not supported"),
    "short": (b'{"format": "arctl-watermark-key", "version": 1, "secret": "abcd"}', "not 32 bytes of hex"),
    "not-hex": (b'{"format": "arctl-watermark-key", "version": 1, "secret": "' + b"zz" * 32 + b'"}', "not 32 bytes"),
    "huge": (b" " * 10_000, "too large"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_key_files_fail_in_one_line_without_content(tmp_path, case):
    content, message = BAD_FILES[case]
    path = tmp_path / "k.key"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ArctlError, match=message) as info:
        load_key(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text and "abcd" not in text and "zz" not in text


def test_readable_by_others_is_warned(tmp_path):
    path = write_key(tmp_path / "k", WatermarkKey.generate())
    os.chmod(path, 0o644)
    assert "chmod 600" in exposure_warning(path) and "0644" in exposure_warning(path)
    load_key(path)  # still usable: a warning, not a refusal
