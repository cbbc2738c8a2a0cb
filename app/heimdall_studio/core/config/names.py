"""Dataset names: they become file names, so they may not contain path syntax."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9 ._-]{1,100}$")
NAME_RULE = ("1-100 characters: letters, digits, space, '-', '_', '.'; not '.' or '..', "
             "no space at either end")
NEW_NAME_RULE = "a name that does not end in .h5 nor start with '.' or '-'"


def validate_name(name: Any) -> str:
    """Dataset names become file names, so they may not contain path syntax."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in (".", "..") \
            or name != name.strip():
        raise ConfigError("name", name, NAME_RULE)
    return name


def validate_new_name(name: Any) -> str:
    """A name for a new dataset: `validate_name`, and none of the names that would surprise.

    Existing datasets keep any name `validate_name` allows; only new ones are held to this.
    A name ending in .h5 would make a file `a.h5.h5`, and a bare `a.h5` on the command
    line always means the dataset named `a.h5`, never the file; a leading '.' hides the
    file from listings; a leading '-' reads as an option on the command line.
    """
    validate_name(name)
    if name.lower().endswith(".h5"):
        problem = (f"ends in .h5, but the file is named after the dataset (it would be "
                   f"{name}.h5){_instead(name[:-3])}")
    elif name.startswith("."):
        problem = f"starts with '.', which hides the file from listings{_instead(name)}"
    elif name.startswith("-"):
        problem = f"starts with '-', which the command line reads as an option{_instead(name)}"
    else:
        return name
    raise ConfigError("name", name, NEW_NAME_RULE, problem=problem)


def _instead(name: str) -> str:
    """"; type 'x' instead", the name with what would surprise taken off, if any is left."""
    while True:
        trimmed = name.lstrip(".-").strip()
        if trimmed.lower().endswith(".h5"):
            trimmed = trimmed[:-3]
        if trimmed == name:
            break
        name = trimmed
    return f"; type {name!r} instead" if name else ""

