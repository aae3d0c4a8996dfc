"""What `arctl models` reports about a checkpoint: its files, their sizes, whether they are cached, and for a
generator its conditioning, class names, sampling defaults, ``-o`` options and image inputs."""

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from arctl.classes import class_names
from arctl.registry import GeneratorSpec, ModelRef, WeightFile


def cache_state(files: Mapping[str, WeightFile], found: Mapping[str, Path | None]) -> str:
    """"yes" when every file is in the Hub cache, "partial" for some, "no" for none; "shipped" inside a package."""
    hits = [found[role] is not None for role in files]
    if all(wf.local_dir for wf in files.values()):  # shipped with a package, nothing to download
        return "shipped" if all(hits) else "missing"
    return "yes" if all(hits) else "partial" if any(hits) else "no"


def file_size(wf: WeightFile, found: Path | None) -> int | None:
    """The registered (download) size, else the size of the file where it already is: shipped inside a package, or
    in the cache."""
    if wf.size is not None:
        return wf.size
    return found.stat().st_size if found is not None else None


def describe_model(ref: ModelRef, *, with_options: bool = False) -> dict:
    from arctl.hub import cached_path

    owner, ckpt = ref.owner, ref.checkpoint
    found = {role: cached_path(wf) for role, wf in ckpt.files.items()}
    files = {role: {**wf.describe(), "size": file_size(wf, found[role])} for role, wf in ckpt.files.items()}
    sizes = [f["size"] for f in files.values()]
    info = {
        "name": ckpt.name,
        "description": ckpt.description,
        "kind": owner.kind,
        "component": owner.name,
        "plugin": owner.plugin,
        "size": None if None in sizes else sum(sizes),
        "cached": cache_state(ckpt.files, found),
        "files": files,
        "config": dict(ckpt.config),
    }
    if with_options and isinstance(owner, GeneratorSpec):
        info["conditioning"] = owner.conditioning
        info["num_classes"] = owner.num_classes
        info["class_names"] = list(class_names(owner))
        info["cfg"] = owner.cfg_help or "guidance weight w: uncond + w * (cond - uncond)"
        info["sampling_defaults"] = asdict(owner.sampling)
        info["options"] = [o.describe() for o in owner.options]
        info["image_inputs"] = [asdict(i) for i in owner.image_inputs]
    return info
