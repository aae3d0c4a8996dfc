"""Atomic file writes (an output is either complete or absent, never half-written), and checks that an output
can be written at all, made before any work so that a run never fails at its last step."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from arctl.errors import ArctlError


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write, *, mode: int | None = None) -> Path:
    """Call ``write(tmp_path)`` then move the result into place, so readers never see half a file.

    ``mode`` defaults to what a plain ``open()`` would give (0o666 less the umask); pass 0o600 for secrets.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, _default_mode() if mode is None else mode)  # after: some writers replace the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a directory outputs can be written into (it may not exist yet), or one line naming it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ArctlError(f"{flag} {path}: exists and is not a directory")
    _check_writable(path, flag, path)
    return path


def check_output_file(path: str | os.PathLike, flag: str = "--out", *, force: bool = False) -> Path:
    """``path`` as a file that can be written (its directory may not exist yet; an existing file only with
    ``force``), or one line naming it."""
    path = Path(path)
    if path.is_dir():
        raise ArctlError(f"{flag} {path}: is a directory")
    if path.exists() and not force:
        raise ArctlError(f"{path} exists; pass --force to overwrite it")
    _check_writable(path.parent, flag, path)
    return path


def _check_writable(directory: Path, flag: str, given: Path) -> None:
    """Try to create a file in ``directory`` or, while it does not exist yet, in the closest folder above it:
    the only test that holds for read-only mounts, ACLs and root alike."""
    existing = directory.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ArctlError(f"{flag} {given}: {existing} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".arctl-write-test-", dir=existing)
    except OSError as exc:
        raise ArctlError(f"{flag} {given}: cannot write to {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
