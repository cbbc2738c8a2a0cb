"""The dataset config: every generation parameter, validated and immutable.

A `DatasetConfig` is the single source of truth for how a dataset's samples are drawn.
It is written into the dataset file as JSON and read back from there for expansion, so
once a dataset exists nothing outside its file can change how it grows.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import os
import re
import secrets
import stat
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError

DATASET_TYPES = ("feature_based",)
PATH_LOSS_MODELS = ("two_ray", "free_space")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9 ._-]{1,100}$")
NAME_RULE = ("1-100 characters: letters, digits, space, '-', '_', '.'; not '.' or '..', "
             "no space at either end")
NEW_NAME_RULE = "a name that does not end in .h5 nor start with '.' or '-'"
# Receiver files are small (at most 255 receivers); a larger file is refused unread, so a
# device such as /dev/zero or a huge file cannot fill memory.
MAX_RECEIVERS_FILE_BYTES = 1 << 20
MAX_SEED = 2**63 - 1
DEFAULT_CHUNK_SIZE = 4096


# ---------------------------------------------------------------------------
# field checks: each returns the normalised value or raises ConfigError


def _number(field_name: str, value: Any, lo: float, hi: float, unit: str = "",
            lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number within [lo, hi] (bounds may be open)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        too_low = number <= lo if lo_open else number < lo
        too_high = number >= hi if hi_open else number > hi
        if math.isfinite(number) and not too_low and not too_high:
            return number
    allowed = _range_text(lo, hi, unit, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field_name, value, f"a number, {allowed}")
    if not math.isfinite(float(value)):
        raise ConfigError(field_name, value, f"a finite number, {allowed}")
    raise ConfigError(field_name, value, allowed)


def _range_text(lo: float, hi: float, unit: str, lo_open: bool, hi_open: bool) -> str:
    unit = f" {unit}" if unit else ""
    if hi == math.inf:
        return (f"greater than {lo:g}" if lo_open else f"at least {lo:g}") + unit
    lo_txt = f"greater than {lo:g}" if lo_open else f"{lo:g}"
    hi_txt = f"less than {hi:g}" if hi_open else f"{hi:g}"
    return f"{lo_txt} to {hi_txt}{unit}"


def _integer(field_name: str, value: Any, lo: int, hi: int) -> int:
    allowed = f"a whole number from {lo} to {hi}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field_name, value, allowed)
    if not lo <= value <= hi:
        raise ConfigError(field_name, value, allowed)
    return value


def _text(field_name: str, value: Any, max_len: int = 100) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ConfigError(field_name, value, f"non-empty text of at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise ConfigError(field_name, value, "text without control characters")
    return value


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


def _mapping(field_name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(field_name, value, "an object of named fields")
    return value


def _reject_unknown(where: str, data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted((k for k in data if k not in known), key=str)
    if unknown:
        key = unknown[0]
        raise ConfigError(str(key) if where == "config" else f"{where}.{key}", data[key],
                          "parameters " + ", ".join(sorted(known)),
                          problem="is not a known parameter")


# ---------------------------------------------------------------------------
# value objects


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    lat: float
    lon: float
    alt_m: float
    noise_figure_db: float = 13.0
    antenna_gain_dbi: float = 0.0

    def __post_init__(self) -> None:
        where = f"receivers[{self.name!r}]" if isinstance(self.name, str) else "receivers"
        _text(f"{where}.name", self.name, 64)
        _set(self, "lat", _number(f"{where}.lat", self.lat, -90, 90, "degrees"))
        _set(self, "lon", _number(f"{where}.lon", self.lon, -180, 180, "degrees"))
        _set(self, "alt_m", _number(f"{where}.alt_m", self.alt_m, -500, 9000, "m"))
        _set(self, "noise_figure_db",
             _number(f"{where}.noise_figure_db", self.noise_figure_db, 0, 40, "dB"))
        _set(self, "antenna_gain_dbi",
             _number(f"{where}.antenna_gain_dbi", self.antenna_gain_dbi, -30, 40, "dBi"))

    @classmethod
    def from_dict(cls, data: Any, index: int = 0) -> Receiver:
        data = _mapping(f"receivers[{index}]", data)
        _reject_unknown(f"receivers[{index}]", data, _field_names(cls))
        missing = [k for k in ("name", "lat", "lon", "alt_m") if k not in data]
        if missing:
            raise ConfigError(f"receivers[{index}].{missing[0]}", None, "a value",
                              problem="is missing")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class PropagationModel:
    """Constants of the propagation model (SPEC section 3)."""

    path_loss_model: str = "two_ray"
    tx_height_m: float = 2.0
    clutter_min_db: float = 5.0
    clutter_max_db: float = 15.0
    shadowing_sigma_db: float = 6.0
    rician_k_db: float = 6.0
    los_distance_km: float = 30.0
    max_freq_offset_hz: float = 50.0

    def __post_init__(self) -> None:
        if self.path_loss_model not in PATH_LOSS_MODELS:
            raise ConfigError("propagation.path_loss_model", self.path_loss_model,
                              " or ".join(PATH_LOSS_MODELS))
        checks = {
            "tx_height_m": (0.1, 1000, "m"),
            "clutter_min_db": (0, 100, "dB"),
            "clutter_max_db": (0, 100, "dB"),
            "shadowing_sigma_db": (0, 30, "dB"),
            "rician_k_db": (-30, 40, "dB"),
            "los_distance_km": (0, 20000, "km"),
            "max_freq_offset_hz": (0, 1e6, "Hz"),
        }
        for key, (lo, hi, unit) in checks.items():
            _set(self, key, _number(f"propagation.{key}", getattr(self, key), lo, hi, unit))
        if self.clutter_max_db < self.clutter_min_db:
            raise ConfigError("propagation.clutter_max_db", self.clutter_max_db,
                              f"at least clutter_min_db ({self.clutter_min_db:g} dB)")

    @classmethod
    def from_dict(cls, data: Any) -> PropagationModel:
        data = _mapping("propagation", data)
        _reject_unknown("propagation", data, _field_names(cls))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class DatasetConfig:
    """Everything that decides which samples a dataset holds (SPEC section 1).

    The sample count is deliberately absent: it belongs to a run, not to the dataset.
    """

    name: str
    seed: int
    dataset_type: str = "feature_based"
    frequency_mhz: float = 145.0
    tx_power_dbm: float = 37.0
    min_snr_db: float = 3.0
    min_receivers: int = 3
    max_gdop: float = 10.0
    inside_ratio: float = 0.7
    margin_deg: float = 0.5
    bandwidth_hz: float = 12500.0
    receivers: tuple[Receiver, ...] = field(default_factory=lambda: default_receivers())
    propagation: PropagationModel = field(default_factory=PropagationModel)
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def __post_init__(self) -> None:
        validate_name(self.name)
        _set(self, "seed", _integer("seed", self.seed, 0, MAX_SEED))
        if self.dataset_type not in DATASET_TYPES:
            raise ConfigError("dataset_type", self.dataset_type, " or ".join(DATASET_TYPES))
        _set(self, "frequency_mhz", _number("frequency_mhz", self.frequency_mhz, 1, 6000, "MHz"))
        _set(self, "tx_power_dbm", _number("tx_power_dbm", self.tx_power_dbm, -30, 70, "dBm"))
        _set(self, "min_snr_db", _number("min_snr_db", self.min_snr_db, -20, 60, "dB"))
        _set(self, "max_gdop", _number("max_gdop", self.max_gdop, 1, math.inf, lo_open=True))
        _set(self, "inside_ratio", _number("inside_ratio", self.inside_ratio, 0, 1))
        _set(self, "margin_deg", _number("margin_deg", self.margin_deg, 0, 5, "degrees"))
        _set(self, "bandwidth_hz",
             _number("bandwidth_hz", self.bandwidth_hz, 0, 1e10, "Hz", lo_open=True))
        _set(self, "chunk_size", _integer("chunk_size", self.chunk_size, 64, 1 << 20))
        self._check_receivers()
        _set(self, "min_receivers",
             _integer("min_receivers", self.min_receivers, 3, len(self.receivers)))
        if not isinstance(self.propagation, PropagationModel):
            raise ConfigError("propagation", self.propagation, "a propagation model")
        if self.inside_ratio < 1 and self.margin_deg == 0:
            raise ConfigError("margin_deg", self.margin_deg,
                              "greater than 0 when inside_ratio is below 1 "
                              "(outside samples need a ring around the receivers)")

    def _check_receivers(self) -> None:
        receivers = self.receivers
        if isinstance(receivers, list):
            receivers = tuple(receivers)
            _set(self, "receivers", receivers)
        if not isinstance(receivers, tuple) or not all(isinstance(r, Receiver) for r in receivers):
            raise ConfigError("receivers", receivers, "a list of receivers")
        # Counted once: a per-name count over the list took minutes for a large file.
        duplicates = sorted(n for n, count in Counter(r.name for r in receivers).items()
                            if count > 1)
        if duplicates:
            raise ConfigError("receivers", duplicates[0], "unique receiver names",
                              problem="is a duplicate receiver name")
        positions = {(r.lat, r.lon) for r in receivers}
        if len(positions) < 3:
            raise ConfigError("receivers", f"{len(positions)} distinct positions",
                              "at least 3 receivers at distinct positions")
        if len(receivers) > 255:
            raise ConfigError("receivers", f"{len(receivers)} receivers", "at most 255")

    # -- conversions --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["receivers"] = [r.to_dict() for r in self.receivers]
        data["propagation"] = self.propagation.to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> DatasetConfig:
        """Strict parse: unknown keys are errors; a missing seed gets a fresh random one."""
        data = dict(_mapping("config", data))
        _reject_unknown("config", data, _field_names(cls))
        if "name" not in data:
            raise ConfigError("name", None, NAME_RULE, problem="is missing")
        if data.get("seed") is None:
            data["seed"] = new_seed()
        if "receivers" in data:
            raw = data["receivers"]
            if not isinstance(raw, (list, tuple)):
                raise ConfigError("receivers", raw, "a list of receivers")
            data["receivers"] = _shared_part("receivers", raw)
        if "propagation" in data and not isinstance(data["propagation"], PropagationModel):
            data["propagation"] = _shared_part("propagation", data["propagation"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> DatasetConfig:
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, TypeError) as exc:
            raise ConfigError("config_json", text[:60] if isinstance(text, str) else text,
                              "valid JSON", problem=f"is not valid JSON ({exc})") from None
        if isinstance(data, Mapping) and data.get("seed") is None:
            raise ConfigError("seed", None, "a stored seed", problem="is missing")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> DatasetConfig:
        return dataclasses.replace(self, **changes)


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def _receivers(raw: list[Any] | tuple[Any, ...]) -> tuple[Receiver, ...]:
    return tuple(r if isinstance(r, Receiver) else Receiver.from_dict(r, i)
                 for i, r in enumerate(raw))


_SHARED_PARTS: dict[str, Callable[[Any], Any]] = {
    "receivers": _receivers, "propagation": lambda raw: PropagationModel.from_dict(raw)}


def _shared_part(part: str, raw: Any) -> Any:
    """The receivers or the propagation model of a config, from objects or plain values.

    The datasets of a workspace mostly share these, so plain values (parsed JSON) are
    validated once per distinct value: listing a workspace parses every file's config,
    and checking seven receivers was most of that. The key is the canonical JSON, which
    tells 1 from 1.0 and from true.
    """
    try:
        key = json.dumps(raw, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # objects, or values no config file can hold
        return _SHARED_PARTS[part](raw)
    return _shared_part_from_json(part, key)


@functools.lru_cache(maxsize=64)
def _shared_part_from_json(part: str, text: str) -> Any:
    return _SHARED_PARTS[part](json.loads(text))


def _set(obj: object, name: str, value: Any) -> None:
    """Normalise a field of a frozen dataclass during validation."""
    object.__setattr__(obj, name, value)


def _refuse_constant(token: str) -> None:
    raise ValueError(f"{token} is not allowed")


def new_seed() -> int:
    """A fresh random 63-bit seed, chosen once when a dataset is created."""
    return secrets.randbits(63)


# ---------------------------------------------------------------------------
# receiver networks


@functools.lru_cache(maxsize=1)
def default_receivers() -> tuple[Receiver, ...]:
    """The default network (SPEC section 1), shipped as package data; immutable."""
    text = resources.files("heimdall_studio.core").joinpath(
        "data/default_receivers.json").read_text(encoding="utf-8")
    return parse_receivers_json(text)


def parse_receivers_json(text: str) -> tuple[Receiver, ...]:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
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
    return tuple(Receiver.from_dict(item, i) for i, item in enumerate(data))


CSV_COLUMNS = ("name", "lat", "lon", "alt_m", "noise_figure_db", "antenna_gain_dbi")


def parse_receivers_csv(text: str) -> tuple[Receiver, ...]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS[:4] if c not in header]
    if missing:
        raise ConfigError("receivers", ",".join(header) or "empty file",
                          "a CSV header with name,lat,lon,alt_m"
                          "[,noise_figure_db,antenna_gain_dbi]")
    receivers = []
    try:
        for i, row in enumerate(reader):
            receivers.append(_csv_receiver(i, row))
    except csv.Error as exc:  # e.g. a field longer than the csv module allows
        raise ConfigError("receivers", f"line {reader.line_num}", "valid CSV",
                          problem=f"is not valid CSV ({exc})") from None
    return tuple(receivers)


def _csv_receiver(i: int, row: dict[Any, Any]) -> Receiver:
    row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
    item: dict[str, Any] = {}
    for key, value in row.items():
        if key not in CSV_COLUMNS:
            raise ConfigError(f"receivers[{i}]", key, "one of: " + ", ".join(CSV_COLUMNS),
                              problem="is not a known column")
        if key == "name":
            item[key] = value
        elif value != "":
            try:
                item[key] = float(value)
            except ValueError:
                raise ConfigError(f"receivers[{i}].{key}", value, "a number") from None
    return Receiver.from_dict(item, i)


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
        return parse_receivers_csv(text)
    return parse_receivers_json(text)


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
            raise _NotSmallFile(f"is {st.st_size / (1 << 20):,.1f} MiB, over the limit")
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


def receivers_to_json(receivers: tuple[Receiver, ...]) -> str:
    return json.dumps({"receivers": [r.to_dict() for r in receivers]}, indent=2)
