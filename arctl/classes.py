"""Class names: ImageNet's 1,000, shipped with the core, and a generator's names for ``--class NAME``.

A name is one line of synonyms, the first one the display name (``"goldfish, Carassius auratus"``); ``--class``
takes an id, the whole line or any one synonym that names a single class, in any case.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from arctl.errors import PluginError, UsageError
from arctl.registry import GeneratorSpec

IMAGENET_CLASSES = Path(__file__).with_name("data") / "imagenet_classes.txt"


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """ImageNet-1k's class names by id: the ILSVRC-2012 synset words (``LOC_synset_mapping.txt`` without the WordNet
    ids). The list itself names two classes ``crane``: 134 is the bird, 517 the machine."""
    return tuple(IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines())


def class_names(spec: GeneratorSpec) -> tuple[str, ...]:
    """The generator's class names by id, or () when it declares none."""
    names = tuple(spec.class_names() if callable(spec.class_names) else spec.class_names)
    if names and len(names) != spec.num_classes:
        raise PluginError(f"generator {spec.name!r} names {len(names)} classes but has num_classes={spec.num_classes}")
    return names


def display_name(name: str) -> str:
    return name.split(",")[0].strip()


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def class_id(spec: GeneratorSpec, value: int | str) -> int:
    """The class id that ``value`` (an id, a digit string or a name) means for ``spec``, range checked."""
    last = spec.num_classes - 1
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, str):
        if not 0 <= value <= last:
            raise UsageError(f"--class {value}: out of range for {spec.name} (0..{last})")
        return value
    names = class_names(spec)
    if not names:
        raise UsageError(f"--class {value!r}: {spec.name} has no class names; give a class id (0..{last})")
    key = _key(value)
    whole = [i for i, name in enumerate(names) if _key(name) == key]
    found = whole or [i for i, name in enumerate(names) if key in (_key(s) for s in name.split(","))]
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(f"{i} ({names[i]})" for i in found)
        raise UsageError(f"--class {value!r} names several classes of {spec.name}: {listed}; give one of the ids")
    raise UsageError(f"--class {value!r}: no class of {spec.name} has that name{_suggest(key, names, spec.name)}")


def _suggest(key: str, names: tuple[str, ...], model: str) -> str:
    import difflib

    synonyms = {_key(s): (i, s.strip()) for i, name in reversed(list(enumerate(names))) for s in name.split(",")}
    close = difflib.get_close_matches(key, synonyms, n=3, cutoff=0.6)
    if not close:
        return f"; `arctl models {model} --classes` lists them"
    return "; did you mean " + ", ".join(f"{synonyms[k][1]!r} ({synonyms[k][0]})" for k in close) + "?"
