"""What `arctl models` reports about a checkpoint: its files, whether they are cached, and for a generator its
conditioning, sampling defaults, ``-o`` options and image inputs."""

from dataclasses import asdict

from arctl.registry import GeneratorSpec, ModelRef


def cache_state(ref: ModelRef) -> str:
    """"yes" when every file is in the Hub cache, "partial" for some, "no" for none; "shipped" inside a package."""
    from arctl.hub import cached_path

    files = ref.checkpoint.files.values()
    hits = [cached_path(wf) is not None for wf in files]
    if all(wf.local_dir for wf in files):  # shipped with a package, nothing to download
        return "shipped" if all(hits) else "missing"
    return "yes" if all(hits) else "partial" if any(hits) else "no"


def describe_model(ref: ModelRef, *, with_options: bool = False) -> dict:
    owner, ckpt = ref.owner, ref.checkpoint
    info = {
        "name": ckpt.name,
        "description": ckpt.description,
        "kind": owner.kind,
        "component": owner.name,
        "plugin": owner.plugin,
        "size": ckpt.size,
        "cached": cache_state(ref),
        "files": {role: wf.describe() for role, wf in ckpt.files.items()},
        "config": dict(ckpt.config),
    }
    if with_options and isinstance(owner, GeneratorSpec):
        info["conditioning"] = owner.conditioning
        info["num_classes"] = owner.num_classes
        info["cfg"] = owner.cfg_help or "guidance weight w: uncond + w * (cond - uncond)"
        info["sampling_defaults"] = asdict(owner.sampling)
        info["options"] = [o.describe() for o in owner.options]
        info["image_inputs"] = [asdict(i) for i in owner.image_inputs]
    return info
