"""Receivers and receiver networks: the default network, and networks read from JSON or
CSV files."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .antennas import Antenna
from .checks import (
    check_mapping,
    field_names,
    field_values,
    refuse_constant,
    reject_unknown,
    set_field,
)
from .params import RECEIVER_PARAMS
from .units import format_size

# Receiver files are small (at most 255 receivers); a larger file is refused unread, so a
# device such as /dev/zero or a huge file cannot fill memory.
MAX_RECEIVERS_FILE_BYTES = 1 << 20

# The columns of a receiver network, in file order; those without a default are required.
RECEIVER_KEYS = tuple(p.key for p in RECEIVER_PARAMS)
REQUIRED_COLUMNS = tuple(p.key for p in RECEIVER_PARAMS if p.required)
OPTIONAL_COLUMNS = tuple(p.key for p in RECEIVER_PARAMS if not p.required)
# Columns read as text from CSV (the others are numbers); the antenna is in its text form.
TEXT_COLUMNS = frozenset(p.key for p in RECEIVER_PARAMS
                         if p.kind in ("text", "choice", "antenna"))
# Columns without a fixed default: left out (or blank), the value is drawn at creation.
DRAWN_COLUMNS = frozenset(p.key for p in RECEIVER_PARAMS
                          if p.default is None and not p.required)


@dataclass(frozen=True, slots=True)
class Receiver:
    """One receiver of the network; its fields are `params.RECEIVER_PARAMS`, in order."""

    name: str
    lat: float
    lon: float
    alt_m: float
    noise_figure_db: float = 13.0
    antenna_gain_dbi: float = 0.0
    antenna_height_m: float = 10.0
    antenna: Antenna = dataclasses.field(default_factory=Antenna)
    timing: str = "none"
    calibration_db: float | None = None  # None until drawn (`network.resolve_receivers`)
    oscillator_ppm: float | None = None
    noise_floor_sigma_db: float = 2.0

    def __post_init__(self) -> None:
        where = f"receivers[{self.name!r}]" if isinstance(self.name, str) else "receivers"
        for param in RECEIVER_PARAMS:
            value = getattr(self, param.key)
            if value is None and param.key in DRAWN_COLUMNS:
                continue
            set_field(self, param.key, param.check(value, f"{where}.{param.key}"))

    @property
    def drawn(self) -> bool:
        """Whether its calibration and oscillator errors are set (drawn or given)."""
        return all(getattr(self, key) is not None for key in DRAWN_COLUMNS)

    @classmethod
    def from_dict(cls, data: Any, index: int = 0, base_dir: Path | None = None) -> Receiver:
        """A receiver from plain values; a pattern file an antenna names is read from
        `base_dir` (the folder of the receivers file)."""
        data = check_mapping(f"receivers[{index}]", data)
        reject_unknown(f"receivers[{index}]", data, field_names(cls))
        missing = [k for k in REQUIRED_COLUMNS if k not in data]
        if missing:
            raise ConfigError(f"receivers[{index}].{missing[0]}", None, "a value",
                              problem="is missing")
        if "antenna" in data and not isinstance(data["antenna"], Antenna):
            name = data.get("name")
            where = f"receivers[{name!r}]" if isinstance(name, str) else f"receivers[{index}]"
            data = {**data, "antenna": Antenna.from_value(data["antenna"], f"{where}.antenna",
                                                          base_dir)}
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = field_values(self)
        data["antenna"] = self.antenna.to_dict()
        return data

    def column_value(self, key: str) -> Any:
        """The value of column `key` in a table (/receivers, CSV, the app's): the antenna
        in its text form."""
        value = getattr(self, key)
        return value.text() if isinstance(value, Antenna) else value



@functools.lru_cache(maxsize=1)
def default_receivers() -> tuple[Receiver, ...]:
    """The default network (north-west Italy; README), shipped as package data; immutable."""
    text = resources.files(__package__).joinpath(
        "data/default_receivers.json").read_text(encoding="utf-8")
    return parse_receivers_json(text)


def parse_receivers_json(text: str, base_dir: Path | None = None) -> tuple[Receiver, ...]:
    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except ValueError as exc:
        raise ConfigError("receivers", "file", "valid JSON",
                          problem=f"is not valid JSON ({exc})") from None
    except RecursionError:  # thousands of nested brackets
        raise ConfigError("receivers", "file", "a JSON list of receivers",
                          problem="is nested too deeply") from None
    if isinstance(data, Mapping):
        data = data.get("receivers")
    if not isinstance(data, list):
        raise ConfigError("receivers", type(data).__name__,
                          'a JSON list of receivers, or {"receivers": [...]}')
    return tuple(Receiver.from_dict(item, i, base_dir) for i, item in enumerate(data))


def parse_receivers_csv(text: str, base_dir: Path | None = None) -> tuple[Receiver, ...]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ConfigError("receivers", ",".join(header) or "empty file",
                          f"a CSV header with {','.join(REQUIRED_COLUMNS)}"
                          f"[,{','.join(OPTIONAL_COLUMNS)}]")
    receivers = []
    try:
        for i, row in enumerate(reader):
            receivers.append(_csv_receiver(i, row, base_dir))
    except csv.Error as exc:  # e.g. a field longer than the csv module allows
        raise ConfigError("receivers", f"line {reader.line_num}", "valid CSV",
                          problem=f"is not valid CSV ({exc})") from None
    return tuple(receivers)


def _csv_receiver(i: int, row: dict[Any, Any], base_dir: Path | None) -> Receiver:
    row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
    item: dict[str, Any] = {}
    for key, value in row.items():
        if key not in RECEIVER_KEYS:
            raise ConfigError(f"receivers[{i}]", key, "one of: " + ", ".join(RECEIVER_KEYS),
                              problem="is not a known column")
        if key in TEXT_COLUMNS:
            if value != "" or key == "name":
                item[key] = value
        elif value != "":
            try:
                item[key] = float(value)
            except ValueError:
                raise ConfigError(f"receivers[{i}].{key}", value, "a number") from None
    return Receiver.from_dict(item, i, base_dir)


def load_receivers(path: str | Path) -> tuple[Receiver, ...]:
    """Read a receiver network from a .json or .csv file.

    Only a regular file of at most MAX_RECEIVERS_FILE_BYTES is read: a FIFO would block,
    and a device like /dev/zero never ends. The checks are made on the opened file, so
    the path cannot change in between.
    """
    path = Path(path)
    allowed = (f"a readable JSON or CSV file of at most "
               f"{MAX_RECEIVERS_FILE_BYTES // (1 << 20)} MiB")
    try:
        text = _read_small_file(path, MAX_RECEIVERS_FILE_BYTES).decode("utf-8")
    except _NotSmallFile as exc:
        raise ConfigError("receivers", str(path), allowed, problem=str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError("receivers", str(path), allowed,
                          problem=f"is not UTF-8 text ({exc.reason} at byte {exc.start})"
                          ) from None
    except OSError as exc:
        raise ConfigError("receivers", str(path), allowed,
                          problem=f"cannot be read ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".csv":
        return parse_receivers_csv(text, path.parent)
    return parse_receivers_json(text, path.parent)


class _NotSmallFile(Exception):
    """The file is not a regular file, or is over the size limit (the message says which)."""


def _read_small_file(path: Path, limit: int) -> bytes:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotSmallFile(f"is {_file_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise _NotSmallFile(f"is {format_size(st.st_size)}, over the limit")
        with open(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # it may have grown since fstat
        if len(data) > limit:
            raise _NotSmallFile("is over the size limit")
        return data
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
    return next((text for test, text in kinds if test(mode)), "a special file")
