"""Re-running an image's recipe: the watermark it needs, the files it names, and whether the result is identical.

``reproduce(manager, path)`` is `arctl reproduce` without the printing. A recipe from `arctl generate` or
`arctl edit` is re-planned exactly (every condition, image input, batch size and seed), and only the batch the image
came from runs again. Image inputs must still hash to what the recipe recorded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arctl.errors import ArctlError, UsageError
from arctl.recipes import RECIPE_FORMAT

GENERATION_COMMANDS = ("generate", "edit")


def watermark_spec(registry, name: str | None, key_given: bool):
    """The watermarker a run asks for (None without one); a watermarker and a key go together."""
    if name is None:
        if key_given:
            raise UsageError("--key-file is only used with --watermark NAME")
        return None
    if not key_given:
        raise UsageError(f"--watermark {name} needs --key-file KEY (make one with `arctl watermark keygen --out KEY`)")
    return registry.get("watermarker", name)


def keyed_watermark(spec, key, settings):
    """The watermark built from the key and the watermarker's share of the options, or None."""
    if spec is None:
        return None
    from arctl.watermark import build_watermark

    return build_watermark(spec, key, settings.watermark_options)


def as_key(key, notes: list[str]):
    """A ``WatermarkKey`` as given, or read from a key file (its warnings go to ``notes``)."""
    from arctl.keys import WatermarkKey, read_key

    if key is None or isinstance(key, WatermarkKey):
        return key
    loaded, warnings = read_key(key)
    notes.extend(warnings)
    return loaded


def recorded_watermark(registry, recipe: dict, key, notes: list[str]):
    """(watermarker spec, key) to regenerate a marked image with: the key must be the recorded one."""
    mark = recipe.get("watermark")
    if mark is None:
        if key is not None:
            notes.append("this image carries no watermark; --key-file is not needed")
        return None, None
    if key is None:
        raise ArctlError(f"this image is watermarked ({mark['method']}, key fingerprint {mark['key']}); "
                         "pass --key-file with that key to reproduce it")
    where = f"--key-file {key}" if isinstance(key, (str, os.PathLike)) else "the key"
    key = as_key(key, notes)
    if key.fingerprint != mark["key"]:
        raise ArctlError(f"{where} (fingerprint {key.fingerprint}) is not the key this image was watermarked with "
                         f"(fingerprint {mark['key']})")
    return registry.get("watermarker", mark["method"]), key


def recorded_inputs(recipe: dict) -> dict[str, list[str]]:
    """The image inputs a recipe names, each file checked against the hash it had when the image was made."""
    from arctl.hub import file_sha256

    inputs: dict[str, list[str]] = {}
    for name, records in recipe.get("inputs", {}).items():
        for record in records:
            path = Path(record["path"])
            if not path.is_file():
                raise ArctlError(f"input image {path} (--image {name}) is gone; reproduce needs the same file")
            if file_sha256(path) != record["sha256"]:
                raise ArctlError(f"input image {path} (--image {name}) has changed since the image was made "
                                 "(its sha256 differs)")
        inputs[name] = [record["path"] for record in records]
    return inputs


def recorded_erasure(recipe: dict) -> str | None:
    """The erasure file the image's generator had applied, checked against the hash it had then."""
    from arctl.hub import file_sha256

    erasure = recipe.get("erasure")
    if erasure is None:
        return None
    path = Path(erasure["file"])
    if not path.is_file():
        raise ArctlError(f"erasure file {path} is gone; reproduce needs the same file")
    if file_sha256(path) != erasure["sha256"]:
        raise ArctlError(f"erasure file {path} has changed since the image was made (its sha256 differs)")
    return str(path)


def recorded_weights(ref, recipe: dict) -> dict[str, str]:
    """Local paths, or the exact Hub commits, of the files the image was made with."""
    from arctl.hub import resolve_file
    from arctl.registry import WeightFile

    weights = {}
    for role, source in recipe["files"].items():
        if "path" in source:
            weights[role] = source["path"]
        elif source.get("commit"):
            container = ref.checkpoint.files[role].container
            pinned = WeightFile(source["repo_id"], source["filename"], source["commit"], container)
            weights[role] = str(resolve_file(pinned, model=recipe["model"]).path)
    return weights


def check_recipe(recipe: dict) -> None:
    if recipe.get("format") != RECIPE_FORMAT:
        raise ArctlError(f"recipe format {recipe.get('format')!r} is not supported by this arctl")
    command = recipe.get("command", "generate")
    if command not in GENERATION_COMMANDS:
        raise ArctlError(f"this image was made by `arctl {command}`; reproduce re-runs the recipes of "
                         "`arctl generate` and `arctl edit`")
    if "item" not in recipe:
        raise ArctlError("this is a grid of several images; reproduce one of the single images instead")


def regenerate(manager, recipe: dict, *, device: str | None = None, dtype: str | None = None, key=None,
               notes: list[str] | None = None):
    """Re-run the one batch an image came from and return that image (``GeneratedImage``). A watermarked image
    needs its key (a ``WatermarkKey`` or a key file)."""
    from arctl import generation
    from arctl.compositions import check_composition

    notes = [] if notes is None else notes
    check_recipe(recipe)
    ref = generation.generator_ref(manager.registry, recipe["model"])
    marker, key = recorded_watermark(manager.registry, recipe, key, notes)  # before any file is fetched
    images = recorded_inputs(recipe)
    erasure = recorded_erasure(recipe)
    options = {**recipe["options"], **(recipe["watermark"]["options"] if marker else {})}
    settings = generation.resolve_settings(manager.registry, ref.owner, options=options, watermarker=marker,
                                           **recipe["sampling"])
    check_composition(ref.owner, manager.registry.get("sampler", settings.sampling.sampler), marker)
    active = keyed_watermark(marker, key, settings)
    loaded = generation.load_model(manager, recipe["model"], device=device or recipe["device"],
                                   dtype=dtype or recipe["dtype"], weights=recorded_weights(ref, recipe),
                                   erasure=erasure)
    conditions = recipe["conditions"]
    conditioning = recipe["conditioning"]
    results = generation.generate(
        manager, loaded, settings,
        classes=conditions if conditioning == "class" else None,
        prompts=conditions if conditioning == "text" else None,
        images=images, num=recipe["num"], seed=recipe["seed"], batch_size=recipe["batch_size"],
        only_batch=recipe["item"] // recipe["batch_size"], watermark=active, on_note=notes.append,
        command=recipe.get("command", "generate"),
    )
    return next(r for r in results if r.recipe["item"] == recipe["item"])


@dataclass
class Verdict:
    """What reproducing an image found: whether the pixels are identical, and what changed since."""

    image: Path
    identical: bool
    max_abs_pixel_diff: int | None  # None when the size changed
    version_changes: list[str]
    regenerated: Any  # arctl.generation.GeneratedImage
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"image": str(self.image), "identical": self.identical, "max_abs_pixel_diff": self.max_abs_pixel_diff,
                "version_changes": self.version_changes}


def reproduce(manager, path: str | os.PathLike, *, device: str | None = None, dtype: str | None = None,
              key=None) -> Verdict:
    """Regenerate the image at ``path`` from its recipe and compare it with the file, pixel by pixel."""
    import numpy as np

    from arctl.images import open_image, read_recipe

    path = Path(path)
    recipe = read_recipe(path)
    original = np.asarray(open_image(path).convert("RGB"))
    notes: list[str] = []
    regenerated = regenerate(manager, recipe, device=device, dtype=dtype, key=key, notes=notes)
    new = np.asarray(regenerated.image)
    same_size = new.shape == original.shape
    diff = int(np.abs(new.astype(int) - original.astype(int)).max()) if same_size else None
    changes = [f"{name} {recipe['versions'].get(name)} -> {version}"
               for name, version in regenerated.recipe["versions"].items() if recipe["versions"].get(name) != version]
    return Verdict(path, same_size and diff == 0, diff, changes, regenerated, notes)
