"""Atomic file writes: an output is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _default_mode() if mode is None else mode)  # after: some writers replace the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
