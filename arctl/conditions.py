"""What a run generates for: class ids or prompts, and the image conditions a generator declares.

Every input is checked here, at the boundary, before any weights load: class ranges, empty prompts, and each
image file (readable, a pixel format that converts to the mode the generator wants, large enough, the same size
as the inputs it goes with). An image input is given once for every condition or once per condition, in order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arctl.classes import class_id
from arctl.errors import UsageError
from arctl.registry import GeneratorSpec

# Pixel formats that convert to RGB or L without losing meaning; 16-bit and float images do not.
CONVERTIBLE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


@dataclass(frozen=True)
class InputImage:
    """One image condition as read: where it came from, its content hash, and the picture in the declared mode."""

    name: str
    path: Path
    sha256: str
    picture: Any = field(repr=False)  # PIL.Image.Image, already converted

    def record(self) -> dict[str, str]:
        return {"path": str(self.path), "sha256": self.sha256}


@dataclass(frozen=True)
class Condition:
    """One condition: a class id or a prompt (None: the generator's null condition) and its image inputs by name."""

    value: Any
    images: Mapping[str, InputImage] = field(default_factory=dict)


def read_input_image(name: str, path: str | os.PathLike, mode: str, min_size: int) -> InputImage:
    """Read one image condition, or fail with one line naming the file."""
    from arctl.images import open_image

    path = Path(path).expanduser().resolve()
    picture = open_image(path)
    if picture.mode not in CONVERTIBLE_MODES:
        raise UsageError(f"--image {name}={path}: pixel format {picture.mode} is not supported; save it as 8-bit RGB "
                         "or greyscale")
    if min(picture.size) < min_size:
        raise UsageError(f"--image {name}={path}: {picture.size[0]}x{picture.size[1]} is too small "
                         f"(at least {min_size}x{min_size})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return InputImage(name, path, digest, picture.convert(mode))


def read_image_inputs(spec: GeneratorSpec, given: Mapping[str, Sequence[Any]], count: int | None) -> list[dict]:
    """Per condition, its image inputs by name. ``given`` maps an input name to one path (every condition) or to
    ``count`` paths (one per condition); with ``count`` None the longest list decides how many conditions there are."""
    given = {name: list(paths) for name, paths in given.items() if paths}
    declared = {spec.image_input(name).name: spec.image_input(name) for name in given}  # unknown names fail here
    for image_input in spec.image_inputs:
        if image_input.required and image_input.name not in given:
            raise UsageError(f"{spec.name} needs --image {image_input.name}=PATH ({image_input.description})")
        if image_input.name in given:
            missing = [n for n in image_input.with_ if n not in given]
            if missing:
                raise UsageError(f"--image {image_input.name}=... goes with --image {missing[0]}=PATH")
    lengths = {len(paths) for paths in given.values()} - {1}
    count = count if count is not None else max(lengths, default=1)
    for name, paths in given.items():
        if len(paths) not in (1, count):
            raise UsageError(f"--image {name}: given {len(paths)} times for {count} conditions (give it once, or "
                             "once per condition)")
    read = {name: [read_input_image(name, p, declared[name].mode, declared[name].min_size) for p in paths]
            for name, paths in given.items()}
    per_condition = [{name: images[i if len(images) > 1 else 0] for name, images in read.items()}
                     for i in range(count)]
    for images in per_condition:
        for name, image in images.items():
            for companion in declared[name].with_:
                other = images[companion]
                if image.picture.size != other.picture.size:
                    raise UsageError(f"--image {name}={image.path} is {image.picture.size[0]}x{image.picture.size[1]}"
                                     f" but --image {companion}={other.path} is {other.picture.size[0]}x"
                                     f"{other.picture.size[1]}; they must be the same size")
    return per_condition


def check_conditions(spec: GeneratorSpec, classes: Sequence[int | str] | None = None,
                     prompts: Sequence[str] | None = None,
                     images: Mapping[str, Sequence[Any]] | None = None) -> list[Condition]:
    """The conditions to generate for, validated against what the generator accepts. A class is an id, a digit string
    or one of the generator's class names (``arctl.classes.class_id``).

    A class-conditional generator given image conditions but no class generates for its null class (editing
    without a target class)."""
    classes, prompts, images = list(classes or []), list(prompts or []), dict(images or {})
    values: list[Any]
    if spec.conditioning == "class":
        if prompts:
            raise UsageError(f"{spec.name} is class-conditional: use --class, not --prompt")
        if not classes and not any(images.values()):
            raise UsageError(f"{spec.name} is class-conditional: give at least one --class (0..{spec.num_classes - 1})")
        values = [class_id(spec, c) for c in classes]
    elif spec.conditioning == "text":
        if classes:
            raise UsageError(f"{spec.name} is text-conditional: use --prompt, not --class")
        if not prompts or any(not p.strip() for p in prompts):
            raise UsageError(f"{spec.name} is text-conditional: give at least one non-empty --prompt")
        values = prompts
    else:
        if classes or prompts:
            raise UsageError(f"{spec.name} is unconditional: it takes neither --class nor --prompt")
        values = []
    per_condition = read_image_inputs(spec, images, len(values) or None)
    if not values:
        values = [None] * len(per_condition)
    return [Condition(value, inputs) for value, inputs in zip(values, per_condition)]


def image_tensors(conditions: Sequence[Condition], size: int, notes: list[str]):
    """The batch's image inputs by name: float tensors [B, C, size, size] in [0, 1], one row per condition; a
    picture of another size is resized (bicubic) with a note."""
    import numpy as np
    import torch

    tensors = {}
    for name in conditions[0].images if conditions else ():
        rows = []
        for condition in conditions:
            image = condition.images[name]
            picture = image.picture
            if picture.size != (size, size):
                notes.append(f"--image {name} {image.path} is {picture.size[0]}x{picture.size[1]}; resized to "
                             f"{size}x{size}")
                picture = picture.resize((size, size), resample=3)  # PIL's BICUBIC
            array = np.asarray(picture, dtype=np.uint8)
            rows.append(array[..., None] if array.ndim == 2 else array)
        tensors[name] = torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2).float().div(255)
    return tensors
