"""How a parameter's value reads in the app: in a table (`value_text`) and in a form field
that is read back (`field_text`).

The config holds a transmit power range as a pair, an unlimited GDOP as infinity, the
transmitters' antennas as (name, weight) pairs and a receiving antenna as an object; the
app shows them as "30 to 45", "no limit", "whip:0.5,rubber_duck:0.4,yagi:0.1" and "yagi:120".
A field shows what the config accepts back as typed ("30:45").
"""

from __future__ import annotations

import math
from typing import Any

from ..core.config.antennas import Antenna
from ..core.config.checks import mix_text
from ..core.config.params import Param

NO_LIMIT = "no limit"


def number_text(x: float) -> str:
    """Short text that reads back as exactly `x`: "37", "0.1"."""
    text = f"{x:g}"
    return text if float(text) == x else repr(float(x))


def value_text(param: Param, value: Any) -> str:
    """A value as a table cell shows it, without its unit."""
    if value is None:
        return ""
    if isinstance(value, Antenna):
        return value.text()
    if param.kind == "mix":
        return mix_text(value)
    if isinstance(value, tuple):  # a range
        lo, hi = value
        return f"{lo:g} to {hi:g}"
    if isinstance(value, float):
        return NO_LIMIT if param.allow_inf and math.isinf(value) else f"{value:g}"
    return str(value)


def field_text(param: Param, value: Any) -> str:
    """A value as a text field shows it, in the form the config reads back."""
    if isinstance(value, Antenna):
        return value.text()
    if param.kind == "mix":
        return mix_text(value)
    if isinstance(value, tuple):
        return ":".join(number_text(v) for v in value)
    if isinstance(value, float):
        return number_text(value)
    return str(value)
