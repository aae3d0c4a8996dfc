"""Checkpoint files: resolution (local path > Hub cache > Hub download) and safe, strict loading.

The Hugging Face environment (HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE) is read at call time, so the
cache other HF tools fill is reused and tests can point it elsewhere. Pickles are only ever read
with ``torch.load(weights_only=True)``: nothing inside a checkpoint can run code.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arctl.errors import (
    ArctlError,
    StateDictMismatchError,
    UnsafeCheckpointError,
    UsageError,
    WeightsNotFoundError,
)
from arctl.registry import Checkpoint, WeightFile

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
SUPPORTED_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
CONTAINER_KEYS = {"model": "model", "model_ema": "model_ema", "state_dict": "state_dict", "module": "module"}
AUTO_CONTAINER_ORDER = ("model", "module", "state_dict", "model_ema")


def hf_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(os.environ.get("HF_HOME", default)).expanduser()


def cache_dir() -> Path:
    """The Hub cache, as huggingface_hub would find it with the current environment."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(explicit).expanduser() if explicit else hf_home() / "hub"


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ResolvedFile:
    """A checkpoint file on disk and where it came from (the commit is recorded in every output's recipe)."""

    path: Path
    source: str  # "local", "cache" or "download"
    weight: WeightFile | None = None
    commit: str | None = None

    def describe(self) -> dict[str, Any]:
        if self.weight is None:
            return {"path": str(self.path), "size": self.path.stat().st_size}
        if self.source == "package":  # shipped inside an installed package: identified by its content
            return {"repo_id": self.weight.repo_id, "filename": self.weight.filename, "sha256": file_sha256(self.path)}
        return {
            "repo_id": self.weight.repo_id,
            "filename": self.weight.filename,
            "revision": self.weight.revision,
            "commit": self.commit,
        }


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _snapshot_commit(path: Path, filename: str) -> str:
    # .../models--org--name/snapshots/<commit>/<filename, possibly with folders>
    return path.parents[len(Path(filename).parts) - 1].name


def cached_path(wf: WeightFile) -> Path | None:
    if wf.local_dir is not None:
        shipped = Path(wf.local_dir) / wf.filename
        return shipped if shipped.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(wf.repo_id, wf.filename, cache_dir=cache_dir(), revision=wf.revision)
    return Path(found) if isinstance(found, str) else None


def _rich_download_bar():
    import warnings

    from rich.console import Console
    from tqdm import TqdmExperimentalWarning
    from tqdm.rich import tqdm_rich

    class RichDownloadBar(tqdm_rich):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("options", {"console": Console(stderr=True)})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TqdmExperimentalWarning)
                super().__init__(*args, **kwargs)

    return RichDownloadBar


def _not_found(wf: WeightFile, model: str | None, why: str) -> WeightsNotFoundError:
    if model:
        fix = f"run `arctl download {model}` where the Hub is reachable, or pass --weights PATH"
    else:  # `arctl download` itself (it has no --weights)
        fix = "run this again where the Hub is reachable" + (", without HF_HUB_OFFLINE" if is_offline() else "")
    return WeightsNotFoundError(
        f"{wf.filename} from {wf.repo_id} (revision {wf.revision}) is not in the Hugging Face cache at "
        f"{cache_dir()} and {why}; {fix}"
    )


HUB_PREFIX = "hf://"


def parse_hub_reference(text: str, container: str) -> WeightFile:
    """``hf://org/repo/path/to/file[@revision]`` -> the WeightFile it names (same container as registered)."""
    spec, _, revision = text.removeprefix(HUB_PREFIX).partition("@")
    parts = spec.split("/")
    if len(parts) < 3 or not all(parts):
        raise UsageError(f"--weights {text}: expected hf://ORG/REPO/FILE[@REVISION]")
    return WeightFile("/".join(parts[:2]), "/".join(parts[2:]), revision or "main", container)


def resolve_file(wf: WeightFile, local: str | os.PathLike | None = None, *, model: str | None = None) -> ResolvedFile:
    """Explicit local path (or ``hf://`` reference) > Hub cache > Hub download (unless HF_HUB_OFFLINE)."""
    if isinstance(local, str) and local.startswith(HUB_PREFIX):
        wf, local = parse_hub_reference(local, wf.container), None
    if local is not None:
        path = Path(local).expanduser()
        if path.is_dir():
            raise ArctlError(f"weights file {path} is a directory; give the checkpoint file in it")
        if not path.is_file():
            raise ArctlError(f"weights file {path} does not exist")
        return ResolvedFile(path, "local")
    path = cached_path(wf)
    if wf.local_dir is not None:
        if path is None:
            raise ArctlError(f"{wf.filename} is missing from {wf.local_dir}; reinstall the plugin that ships it")
        return ResolvedFile(path, "package", wf)
    if path is not None:
        return ResolvedFile(path, "cache", wf, _snapshot_commit(path, wf.filename))
    if is_offline():
        raise _not_found(wf, model, "HF_HUB_OFFLINE is set")
    return _download(wf, model)


def _download(wf: WeightFile, model: str | None) -> ResolvedFile:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        found = hf_hub_download(
            wf.repo_id, wf.filename, revision=wf.revision, cache_dir=cache_dir(), tqdm_class=_rich_download_bar()
        )
    except LocalEntryNotFoundError:
        raise _not_found(wf, model, "the Hub could not be reached") from None
    except RepositoryNotFoundError:
        raise ArctlError(f"the Hub has no repository {wf.repo_id} (or it needs a login: `hf auth login`)") from None
    except RevisionNotFoundError:
        raise ArctlError(f"{wf.repo_id} has no revision {wf.revision}") from None
    except EntryNotFoundError:
        raise ArctlError(f"{wf.repo_id} (revision {wf.revision}) has no file {wf.filename}") from None
    except HfHubHTTPError as exc:
        raise ArctlError(f"downloading {wf.filename} from {wf.repo_id} failed: {exc}") from None
    path = Path(found)
    return ResolvedFile(path, "download", wf, _snapshot_commit(path, wf.filename))


def parse_weights(values: Sequence[str] | None, main_role: str) -> dict[str, str]:
    """``--weights PATH`` (the main file) or ``--weights ROLE=PATH``, as a role -> path mapping."""
    result: dict[str, str] = {}
    for value in values or []:
        role, sep, path = value.partition("=")
        if not sep:
            role, path = main_role, value
        if not role or not path:
            raise UsageError(f"--weights {value!r}: expected PATH or ROLE=PATH")
        if role in result:
            raise UsageError(f"--weights: file role {role!r} given twice")
        result[role] = path
    return result


def resolve_checkpoint(
    checkpoint: Checkpoint, overrides: Mapping[str, str | os.PathLike] | None = None, *, advise_download: bool = True
) -> dict[str, ResolvedFile]:
    """Resolve every file of a checkpoint; ``overrides`` maps a role to a local file."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(checkpoint.files))
    if unknown:
        roles = ", ".join(checkpoint.files)
        raise UsageError(f"--weights {unknown[0]}=...: {checkpoint.name} has no file role {unknown[0]!r} (roles: {roles})")
    model = checkpoint.name if advise_download else None
    return {role: resolve_file(wf, overrides.get(role), model=model) for role, wf in checkpoint.files.items()}


# --- reading state dicts ----------------------------------------------------------------------


def _torch_load_mmap_first(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format


def _torch_load(path: Path) -> Any:
    import warnings

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            return _torch_load_mmap_first(path)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise _unreadable(path, exc) from None
        # Name what the pickle imports, not torch's advice to allow-list it: arctl never will.
        imported = re.search(r"GLOBAL (\S+)", str(exc))
        asks = f"the Python object {imported.group(1)}" if imported else "objects other than tensors"
        raise UnsafeCheckpointError(
            f"refusing to load {path}: its pickle asks for {asks}; arctl never runs code from a checkpoint — "
            "use a .safetensors file or a plain state dict"
        ) from None
    except Exception as exc:  # truncated zip, garbage bytes, ...: torch raises many kinds
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> ArctlError:
    """Why torch could not read ``path``; its own words mean little when the file is no PyTorch file at all."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save writes a zip archive, or a pickle (protocol 2+)
        return ArctlError(f"cannot read checkpoint {path}: not a PyTorch file (neither a zip archive nor a pickle)")
    return ArctlError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}")


def _check_checkpoint_file(path: Path) -> None:
    """One true line for a path that cannot be a checkpoint, before torch or safetensors give theirs."""
    if path.is_dir():
        raise ArctlError(f"{path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise ArctlError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ArctlError(f"{path} is empty (0 bytes), not a checkpoint")


def _unwrap(obj: Any, container: str, path: Path) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ArctlError(f"{path} holds a {type(obj).__name__}, not a state dict")
    if container == "auto":
        key = next((k for k in AUTO_CONTAINER_ORDER if isinstance(obj.get(k), Mapping)), None)
        return obj[key] if key else obj
    if container == "bare":
        return obj
    key = CONTAINER_KEYS[container]
    if not isinstance(obj.get(key), Mapping):
        keys = ", ".join(map(str, list(obj)[:5]))
        raise ArctlError(f"{path} has no state dict under {key!r} (top-level keys: {keys})")
    return obj[key]


def load_state_dict(path: str | os.PathLike, container: str = "auto") -> dict[str, Any]:
    """Read a state dict from .safetensors or a weights-only pickle, unwrapping its container."""
    import torch

    path = Path(path)
    _check_checkpoint_file(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as exc:
            raise ArctlError(f"cannot read safetensors file {path}: {exc}") from None
    if suffix not in PICKLE_SUFFIXES:
        raise ArctlError(f"{path}: unsupported checkpoint type {suffix or '(none)'} (use {', '.join(SUPPORTED_SUFFIXES)})")
    state = _unwrap(_torch_load(path), container, path)
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ArctlError(f"{path}: entry {bad[0]!r} is not a tensor; the layout may not be {container!r}")
    return dict(state)


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ..." if len(keys) > limit else shown


def check_state_dict(expected: Mapping[str, Any], state: Mapping[str, Any], *, source: str = "checkpoint") -> None:
    """Raise one readable error if keys are missing or unexpected, or shapes differ."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} (checkpoint {list(state[k].shape)}, model {list(expected[k].shape)})"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {_listing(mismatched, 3)}")
    if problems:
        raise StateDictMismatchError(f"{source} does not fit the model: " + "; ".join(problems))


def load_pretrained(build, path: str | os.PathLike, container: str, device, *, ignore: tuple[str, ...] = ()):
    """``build()`` on the meta device (no wasted random init), the file loaded strictly into it, then moved to
    ``device`` in eval mode and frozen. ``ignore`` names derived entries some exports carry (dropped, not loaded)."""
    import torch

    with torch.device("meta"):
        module = build()
    state = load_state_dict(path, container)
    for key in ignore:
        state.pop(key, None)
    load_strict(module, state, source=str(path), assign=True)
    return module.to(device).eval().requires_grad_(False)


def load_strict(module, state: Mapping[str, Any], *, source: str = "checkpoint", assign: bool = False):
    """``module.load_state_dict(state, strict=True)`` with an error that names the offending keys.

    Floating tensors take the model's dtype (e.g. fp16 files into an fp32 model), also with ``assign``."""
    expected = module.state_dict()
    check_state_dict(expected, state, source=source)
    if assign:
        state = {k: v.to(expected[k].dtype) if v.is_floating_point() and v.dtype != expected[k].dtype else v
                 for k, v in state.items()}
    module.load_state_dict(state, strict=True, assign=assign)
    return module
