"""How a parameter's value reads in a form field that is read back (`field_text`).

The config holds a transmit power range as a pair, the transmitters' antennas as (name,
weight) pairs and a receiving antenna as an object. A table shows them as `Param.text`
makes them ("30 to 45"); a field shows what the config accepts back as typed ("30:45").
"""

from __future__ import annotations

from typing import Any

from ..core.config.antennas import Antenna
from ..core.config.checks import mix_text
from ..core.config.params import Param


def number_text(x: float) -> str:
    """Short text that reads back as exactly `x`: "37", "0.1"."""
    text = f"{x:g}"
    return text if float(text) == x else repr(float(x))


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
