"""Checks of single values: each returns the normalised value or raises ConfigError naming
the field, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Set
from typing import Any

from ..errors import ConfigError


def check_number(field_name: str, value: Any, lo: float, hi: float, unit: str = "",
            lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number within [lo, hi] (bounds may be open)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        too_low = number <= lo if lo_open else number < lo
        too_high = number >= hi if hi_open else number > hi
        if math.isfinite(number) and not too_low and not too_high:
            return number
    allowed = range_text(lo, hi, unit, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field_name, value, f"a number, {allowed}")
    if not math.isfinite(float(value)):
        raise ConfigError(field_name, value, f"a finite number, {allowed}")
    raise ConfigError(field_name, value, allowed)


def range_text(lo: float, hi: float, unit: str, lo_open: bool, hi_open: bool) -> str:
    unit = f" {unit}" if unit else ""
    if hi == math.inf:
        return (f"greater than {lo:g}" if lo_open else f"at least {lo:g}") + unit
    lo_txt = f"greater than {lo:g}" if lo_open else f"{lo:g}"
    hi_txt = f"less than {hi:g}" if hi_open else f"{hi:g}"
    return f"{lo_txt} to {hi_txt}{unit}"


def check_integer(field_name: str, value: Any, lo: int, hi: int) -> int:
    allowed = f"a whole number from {lo} to {hi}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field_name, value, allowed)
    if not lo <= value <= hi:
        raise ConfigError(field_name, value, allowed)
    return value


def check_range(field_name: str, value: Any, lo: float, hi: float, unit: str = ""
                ) -> float | tuple[float, float]:
    """One number within [lo, hi], or a range of two: `[30, 45]`, `(30, 45)` or the text
    `"30:45"`. A range whose ends are equal is that number; lo > hi is an error."""
    allowed = f"a number or a range lo:hi, each {range_text(lo, hi, unit, False, False)}"
    if isinstance(value, str):
        parts = value.split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(field_name, value, allowed) from None
        value = numbers[0] if len(numbers) == 1 else numbers
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(field_name, value, allowed)
        low, high = (check_number(field_name, v, lo, hi, unit) for v in value)
        if low > high:
            raise ConfigError(field_name, f"{low:g}:{high:g}", allowed,
                              problem="has its low end above its high end")
        return low if low == high else (low, high)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field_name, value, allowed)
    return check_number(field_name, value, lo, hi, unit)


def check_mix(field_name: str, value: Any, names: tuple[str, ...]
              ) -> tuple[tuple[str, float], ...]:
    """Named weights, `{"whip": 0.5, "yagi": 0.5}` or the text `"whip:0.5,yagi:0.5"`,
    normalised to add up to 1, in the order of `names`; names without weight are left
    out. Unknown names, negative or non-finite weights and an all-zero mix are errors."""
    allowed = ("weights name:w[,name:w...] with names from " + ", ".join(names)
               + ", not all zero")
    if isinstance(value, str):
        pairs: dict[str, Any] = {}
        for item in value.split(","):
            name, _, weight = item.strip().partition(":")
            try:
                pairs[name.strip()] = float(weight) if weight.strip() else 1.0
            except ValueError:
                raise ConfigError(field_name, value, allowed) from None
        value = pairs
    elif isinstance(value, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(field_name, value, allowed)
    unknown = sorted(str(k) for k in value if k not in names)
    if unknown:  # the kind is what is wrong, not its weight
        raise ConfigError(field_name, unknown[0], allowed, problem="is not a known kind")
    weights = {k: check_number(f"{field_name}.{k}", v, 0, 1e6) for k, v in value.items()}
    total = sum(weights.values())
    if total <= 0:  # shown as the user would write it, not as a dict
        raise ConfigError(field_name, mix_text(tuple(weights.items())), allowed,
                          problem="has no weight above zero")
    return tuple((k, weights[k] / total) for k in names if weights.get(k, 0) > 0)


def mix_text(mix: tuple[tuple[str, float], ...]) -> str:
    """The text form of a mix: `whip:0.5,yagi:0.5`."""
    return ",".join(f"{name}:{weight:g}" for name, weight in mix)


def check_text(field_name: str, value: Any, max_len: int = 100) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ConfigError(field_name, value, f"non-empty text of at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise ConfigError(field_name, value, "text without control characters")
    return value


def check_mapping(field_name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(field_name, value, "an object of named fields")
    return value


def reject_unknown(where: str, data: Mapping[str, Any], known: Set[str]) -> None:
    unknown = sorted((k for k in data if k not in known), key=str)
    if unknown:
        key = unknown[0]
        raise ConfigError(str(key) if where == "config" else f"{where}.{key}", data[key],
                          "parameters " + ", ".join(sorted(known)),
                          problem="is not a known parameter")


def group_from_dict(cls: Any, where: str, data: Any) -> Any:
    """An instance of the config group `cls` (a dataclass) from plain values, which must
    be a mapping of its fields and nothing else; `where` names it in errors."""
    data = check_mapping(where, data)
    reject_unknown(where, data, field_names(cls))
    return cls(**data)


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def field_names(cls: type) -> frozenset[str]:
    """The field names of a dataclass, computed once per class."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return names



def field_values(obj: Any) -> dict[str, Any]:
    """A dataclass's fields by name, as they are (not recursing as dataclasses.asdict)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def set_field(obj: object, name: str, value: Any) -> None:
    """Normalise a field of a frozen dataclass during validation."""
    object.__setattr__(obj, name, value)


def refuse_constant(token: str) -> None:
    raise ValueError(f"{token} is not allowed")

