"""Plugin-specific options (``-o KEY=VALUE``): declared by components, parsed and validated by the core."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arctl.errors import UsageError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_TYPES = (int, float, str, bool)


@dataclass(frozen=True)
class Option:
    """One ``-o`` option of a component: its type, default, allowed values and a one-line help."""

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self):
        if self.type not in _TYPES:
            raise ValueError(f"option {self.name!r}: type must be one of int, float, str, bool")

    def parse(self, text: str) -> Any:
        """Turn the command-line text into a typed, range-checked value."""
        raw = text.strip()
        try:
            if self.type is bool:
                low = raw.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError
                value: Any = low in _TRUE
            else:
                value = self.type(raw)
        except ValueError:
            raise UsageError(f"option {self.name}={text!r}: expected {self.type.__name__}") from None
        return self.check(value)

    def coerce(self, value: Any) -> Any:
        """A value from Python (``pipe(..., more_smooth=True)``): text is parsed as after ``-o``; anything else must
        already have the option's type (an int passes for a float)."""
        if isinstance(value, str):
            return self.parse(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise UsageError(f"option {self.name}={value!r}: expected {self.type.__name__}")
        return self.check(value)

    def check(self, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"option {self.name}={value!r}: must be a finite number")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise UsageError(f"option {self.name}={value!r}: must be one of {allowed}")
        if self.min is not None and value < self.min:
            raise UsageError(f"option {self.name}={value!r}: must be >= {self.min}")
        if self.max is not None and value > self.max:
            raise UsageError(f"option {self.name}={value!r}: must be <= {self.max}")
        return value

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "help": self.help,
            "choices": list(self.choices) if self.choices is not None else None,
            "min": self.min,
            "max": self.max,
        }


def split_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed or repeated key is a usage error."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"-o {pair!r}: expected KEY=VALUE")
        if key in result:
            raise UsageError(f"-o {key}: given more than once")
        result[key] = value
    return result


def parse_options(raw: Mapping[str, Any], declared: Sequence[Option], *, owner: str) -> dict[str, Any]:
    """Validate ``raw`` (text as after ``-o``, or typed values from Python) against ``declared``: unknown keys are a
    usage error; missing ones take defaults."""
    by_name = {o.name: o for o in declared}
    unknown = sorted(set(raw) - set(by_name))
    if unknown:
        valid = ", ".join(sorted(by_name)) or "none"
        raise UsageError(f"unknown option {unknown[0]!r} for {owner} (valid options: {valid})")
    return {name: (opt.coerce(raw[name]) if name in raw else opt.default) for name, opt in by_name.items()}
