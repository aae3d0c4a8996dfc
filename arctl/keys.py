"""Secret keys of keyed watermarks: generated, written owner-only, read back with checks, never shown.

A key file is a small JSON object ``{"format": "arctl-watermark-key", "version": 1, "secret": "<64 hex>"}``
holding 32 random bytes. Only its fingerprint (a hash) ever appears in output, recipes or errors; a
watermarker derives what it needs from the secret with ``WatermarkKey.derive(label)`` (HMAC-SHA256), so
one key can serve several methods without their derived values being related.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

from arctl.errors import ArctlError
from arctl.files import atomic_write, check_output_file

KEY_FORMAT = "arctl-watermark-key"
KEY_VERSION = 1
SECRET_BYTES = 32
MAX_KEY_FILE_BYTES = 4096  # a key file is ~120 bytes; refuse to read anything large by mistake


class WatermarkKey:
    """A secret key. ``repr``/``str`` show only the fingerprint, so it cannot leak into logs or tracebacks."""

    __slots__ = ("_secret", "fingerprint")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SECRET_BYTES:
            raise ValueError(f"a watermark key has {SECRET_BYTES} bytes")
        self._secret = bytes(secret)
        self.fingerprint = hashlib.sha256(b"arctl-key-fingerprint\0" + self._secret).hexdigest()[:16]

    @classmethod
    def generate(cls) -> WatermarkKey:
        return cls(secrets.token_bytes(SECRET_BYTES))

    def derive(self, label: str) -> bytes:
        """32 bytes for ``label`` (HMAC-SHA256 of the label under the secret)."""
        return hmac.new(self._secret, label.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"WatermarkKey(fingerprint={self.fingerprint})"

    __str__ = __repr__


def write_key(path: str | os.PathLike, key: WatermarkKey, *, force: bool = False) -> Path:
    """Write ``key`` atomically with mode 0600; an existing file is kept unless ``force``."""
    path = check_output_file(path, force=force)
    text = json.dumps({"format": KEY_FORMAT, "version": KEY_VERSION, "secret": key._secret.hex()}) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text), mode=0o600)


def load_key(path: str | os.PathLike) -> WatermarkKey:
    """Read a key file; every failure is one line that names the file and never quotes its content."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ArctlError(f"key file {path}: no such file (make one with `arctl watermark keygen --out {path}`)") from None
    except IsADirectoryError:
        raise ArctlError(f"key file {path}: is a directory") from None
    except OSError as exc:
        raise ArctlError(f"key file {path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise ArctlError(f"key file {path}: too large to be an arctl watermark key")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArctlError(f"key file {path}: not an arctl watermark key (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
        raise ArctlError(f"key file {path}: not an arctl watermark key (format is not {KEY_FORMAT!r})")
    if data.get("version") != KEY_VERSION:
        raise ArctlError(f"key file {path}: key version {data.get('version')!r} is not supported (expected {KEY_VERSION})")
    secret = data.get("secret")
    try:
        value = bytes.fromhex(secret) if isinstance(secret, str) else b""
    except ValueError:
        value = b""
    if len(value) != SECRET_BYTES:
        raise ArctlError(f"key file {path}: its secret is not {SECRET_BYTES} bytes of hex")
    return WatermarkKey(value)


def exposure_warning(path: str | os.PathLike) -> str | None:
    """A warning when group or others may read the key file (it should be 0600), else None."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
    return None


def read_key(path: str | os.PathLike) -> tuple[WatermarkKey, list[str]]:
    """Load a key file and the warnings a user should see about it (one when group or others can read it)."""
    key = load_key(path)
    warning = exposure_warning(path)
    return key, [warning] if warning else []
