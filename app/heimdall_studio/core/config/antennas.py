"""Receiving antennas: their types, their gain over direction, and antenna pattern files in
the MSI Planet format (.msi, .pln).

Directions: the boresight points at `azimuth_deg`, degrees clockwise from true north.
`gain_table` gives the gain in dBi over the relative azimuth a, degrees clockwise from the
boresight (callers subtract azimuth_deg), and the elevation e, degrees above the horizon.
G is the peak gain, `gain_dbi`.

- omni: G everywhere (0 dBi unless given).
- dipole, vertical half-wave: G + 20 log10|cos(π/2 sin e) / cos e|, floored at G - 40 dB
  towards its ends (e = ±90), at every azimuth; G = 2.15 dBi, the dipole's directivity.
- yagi: G + max(-F/B, A(a) + A(e)), A(x) = 20 n log10((1 + cos x) / 2), the main lobe of a
  cos^2n(x/2) field, n making A = -3 dB at half the beamwidth. The elevation takes the same
  beamwidth as the azimuth. A(180) = -inf, so straight behind the gain is exactly G - F/B,
  which is also the level of every side and back lobe. The defaults are a 5-element 2 m
  yagi's, on the low side: DK7ZB's 144 MHz design computes to 8.4 dBd = 10.55 dBi
  (qsl.net/gw4rwr/antenna/2m5/5el.htm); the 4-element 144 MHz example of the yagi-uda
  project's output(5) manual gives 9.4-10.1 dBi, 51-55° E-plane beamwidth, F/B near 20 dB.
- pattern: G - max(0, H(a) + V'(e)), H and V the file's attenuations. Within 90° of the
  boresight (a <= 90 or a >= 270) V'(e) = V(-e mod 360) - V(0), the front half of the
  vertical cut; behind it V'(e) = V(180 + e) - V(180), the back half. So at e = 0 the table
  is G - H(a), and at a = 0 it is G - V(-e mod 360) when the cuts agree where they cross
  (H(0) = V(0), as in a consistent file); the floor at 0 keeps the gain at most G when they
  do not. Bilinear interpolation of the table interpolates the 1-degree cuts linearly.

MSI Planet files (radiomobile.pe1mew.nl/?The_program___Definitions___MSI; MathWorks
msiread; Perl RF::Antenna::Planet::MSI::Format): header lines "KEYWORD value" (NAME, MAKE,
FREQUENCY, H_WIDTH, V_WIDTH, FRONT_TO_BACK, GAIN, TILT, POLARIZATION, COMMENT), then
"HORIZONTAL 360" and "VERTICAL 360", each followed by 360 lines "angle attenuation" for
0..359 degrees; attenuations are dB below the peak, written without a sign. GAIN is in dBd
unless "dBi" follows the value (dBi = dBd + 2.15). Horizontal angle 0 is the boresight;
vertical angle 0 is the horizon in front, growing downwards (90 straight down, 180 the
horizon behind, 270 straight up), as planning tools read it (a downtilted antenna's lobe
sits at small positive angles).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .checks import check_number, check_text, field_names, reject_unknown, set_field

ANTENNA_TYPES = ("omni", "dipole", "yagi", "pattern")
DIPOLE_GAIN_DBI = 2.15
YAGI_GAIN_DBI = 9.0
YAGI_FRONT_TO_BACK_DB = 20.0
YAGI_BEAMWIDTH_DEG = 50.0

MAX_MSI_FILE_BYTES = 1 << 20  # pattern files are a few kB; larger ones are refused unread
MAX_ATTENUATION_DB = 100.0
DIPOLE_FLOOR_DB = 40.0
_DEFAULT_GAIN = {"omni": 0.0, "dipole": DIPOLE_GAIN_DBI, "yagi": YAGI_GAIN_DBI}
_TEXT_FORMS = ('"omni", "dipole", "yagi:AZIMUTH", "yagi:AZIMUTH:GAIN_DBI", "pattern:FILE.msi" '
               'or "pattern:FILE.msi:AZIMUTH"')
_MSI_ALLOWED = "an MSI Planet antenna file (.msi, .pln) of at most 1 MiB"


@dataclass(frozen=True, slots=True)
class Antenna:
    """A receiving antenna; see the module docstring for the models and angles."""

    type: str = "omni"
    azimuth_deg: float = 0.0
    gain_dbi: float | None = None
    front_to_back_db: float | None = None
    beamwidth_deg: float | None = None
    name: str = ""
    horizontal: tuple[float, ...] = ()
    vertical: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        values = {key: getattr(self, key) for key in field_names(Antenna)}
        for key, value in _normalised(values, "antenna").items():
            set_field(self, key, value)

    @classmethod
    def from_value(cls, value: Any, where: str = "antenna",
                   base_dir: Path | None = None) -> Antenna:
        """An antenna from an Antenna, a mapping (as `to_dict` writes, or with "file") or a
        text form; errors name `where`."""
        if isinstance(value, Antenna):
            return value
        if isinstance(value, str):
            return _from_text(value, where, base_dir)
        if not isinstance(value, Mapping):
            raise ConfigError(where, value, f"{_TEXT_FORMS}, or an object of named fields")
        reject_unknown(where, value, field_names(cls) | {"file"})
        data = dict(value)
        if "file" not in data:
            return cls(**_normalised(data, where))
        file = data.pop("file")
        if str(data.get("type")).strip().lower() != "pattern":
            raise ConfigError(f"{where}.file", file, 'a file only with type "pattern"',
                              problem="is not used")
        for key in ("horizontal", "vertical"):
            if key in data:
                raise ConfigError(f"{where}.{key}", data[key], '"file" or the tables, not both',
                                  problem="is given with a file")
        file = check_text(f"{where}.file", os.fspath(file) if isinstance(file, os.PathLike)
                          else file, max_len=4096)
        path = Path(file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        read = read_msi(path, where)  # the tables, name and gain
        return cls(**_normalised({**dataclasses.asdict(read), **data}, where))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; fields at their defaults are left out, except "type" (a pattern keeps
        its tables, so a configuration never depends on a file)."""
        out: dict[str, Any] = {"type": self.type}
        if self.type == "pattern":
            return {**out, "name": self.name, "gain_dbi": self.gain_dbi,
                    "azimuth_deg": self.azimuth_deg, "horizontal": list(self.horizontal),
                    "vertical": list(self.vertical)}
        if self.azimuth_deg != 0.0:
            out["azimuth_deg"] = self.azimuth_deg
        if self.gain_dbi != _DEFAULT_GAIN[self.type]:
            out["gain_dbi"] = self.gain_dbi
        if self.front_to_back_db not in (None, YAGI_FRONT_TO_BACK_DB):
            out["front_to_back_db"] = self.front_to_back_db
        if self.beamwidth_deg not in (None, YAGI_BEAMWIDTH_DEG):
            out["beamwidth_deg"] = self.beamwidth_deg
        return out

    def text(self) -> str:
        """The short form for tables and CSV ("yagi:120", "pattern:<name>:30")."""
        if self.type == "yagi":
            gain = "" if self.gain_dbi == YAGI_GAIN_DBI else f":{_num(self.gain_dbi)}"
            return f"yagi:{_num(self.azimuth_deg)}{gain}"
        if self.type == "pattern":
            return f"pattern:{self.name}:{_num(self.azimuth_deg)}"
        return self.type

    @property
    def directional(self) -> bool:
        """Whether the gain depends on the azimuth."""
        return self.type in ("yagi", "pattern")


def _num(x: float | None) -> str:
    text = f"{x:g}"
    return text if float(text) == x else repr(x)


def _normalised(values: dict[str, Any], where: str) -> dict[str, Any]:
    """The fields checked, with floats made float and defaults filled in."""
    kind = values.get("type", "omni")
    if not isinstance(kind, str) or kind.strip().lower() not in ANTENNA_TYPES:
        raise ConfigError(f"{where}.type", kind, ", ".join(ANTENNA_TYPES))
    kind = kind.strip().lower()
    out: dict[str, Any] = {"type": kind}
    azimuth = check_number(f"{where}.azimuth_deg", values.get("azimuth_deg", 0.0), 0, 360,
                           "degrees", hi_open=True)
    if azimuth != 0.0 and kind in ("omni", "dipole"):
        raise ConfigError(f"{where}.azimuth_deg", azimuth,
                          "0 (only a yagi or a pattern has a boresight)",
                          problem=f"means nothing for an antenna of type {kind!r}")
    out["azimuth_deg"] = azimuth
    gain = values.get("gain_dbi")
    if gain is None and kind == "pattern":
        raise ConfigError(f"{where}.gain_dbi", None, "a peak gain from -30 to 40 dBi",
                          problem="is missing")
    out["gain_dbi"] = (_DEFAULT_GAIN[kind] if gain is None
                       else check_number(f"{where}.gain_dbi", gain, -30, 40, "dBi"))
    yagi_only = {"front_to_back_db": (YAGI_FRONT_TO_BACK_DB, 0, 60, "dB"),
                 "beamwidth_deg": (YAGI_BEAMWIDTH_DEG, 10, 180, "degrees")}
    for key, (default, lo, hi, unit) in yagi_only.items():
        value = values.get(key)
        if kind == "yagi":
            out[key] = default if value is None else check_number(f"{where}.{key}", value,
                                                                  lo, hi, unit)
        elif value is not None:
            raise ConfigError(f"{where}.{key}", value, f"no value for type {kind!r}",
                              problem="is only for a yagi")
        else:
            out[key] = None
    pattern_only: dict[str, Any] = {"name": "", "horizontal": (), "vertical": ()}
    for key, empty in pattern_only.items():
        value = values.get(key, empty)
        if kind != "pattern":
            if not _is_empty(value):
                raise ConfigError(f"{where}.{key}", value, f"no value for type {kind!r}",
                                  problem="is only for a pattern")
            out[key] = empty
        elif key == "name":
            out[key] = check_text(f"{where}.name", value)
        else:
            out[key] = _table(f"{where}.{key}", value)
    return out


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, tuple, list)) and len(value) == 0)


def _table(field: str, value: Any) -> tuple[float, ...]:
    allowed = f"360 attenuations from 0 to {MAX_ATTENUATION_DB:g} dB, one per degree"
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise ConfigError(field, value, allowed)
    if len(value) != 360:
        raise ConfigError(field, f"{len(value)} values", allowed)
    numpy_number = (np.floating, np.integer)
    return tuple(check_number(f"{field}[{i}]", float(x) if isinstance(x, numpy_number) else x,
                              0, MAX_ATTENUATION_DB, "dB") for i, x in enumerate(value))


def _from_text(text: str, where: str, base_dir: Path | None) -> Antenna:
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind in ("omni", "dipole") and not rest:
        return Antenna(kind)
    if kind == "yagi" and rest and rest.count(":") <= 1:
        try:
            numbers = [float(part) for part in rest.split(":")]
        except ValueError:
            raise ConfigError(where, text, _TEXT_FORMS, problem="has a part that is not a number"
                              ) from None
        values = dict(zip(("azimuth_deg", "gain_dbi"), numbers, strict=False))
        return Antenna(**_normalised({"type": "yagi", **values}, where))
    if kind == "pattern" and rest.strip():
        file, _, last = rest.rpartition(":")
        azimuth: Any = 0.0
        try:
            azimuth = float(last)
        except ValueError:  # no azimuth; the colon belongs to the path ("C:\x.msi")
            file = rest
        if not file.strip():
            raise ConfigError(where, text, _TEXT_FORMS, problem="names no file")
        return Antenna.from_value({"type": "pattern", "file": file.strip(),
                                   "azimuth_deg": azimuth}, where, base_dir)
    raise ConfigError(where, text, _TEXT_FORMS)


def read_msi(path: Path, where: str = "antenna") -> Antenna:
    """A pattern antenna, azimuth 0, from an MSI Planet file; only a regular file of at most
    MAX_MSI_FILE_BYTES is read (a device or a FIFO could block or fill memory)."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(where, str(path), _MSI_ALLOWED, problem="is not a regular file")
            if st.st_size > MAX_MSI_FILE_BYTES:
                raise ConfigError(where, str(path), _MSI_ALLOWED,
                                  problem=f"is {st.st_size} bytes, over the limit")
            with open(fd, "rb", closefd=False) as f:
                data = f.read(MAX_MSI_FILE_BYTES + 1)  # it may have grown since fstat
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(where, str(path), _MSI_ALLOWED,
                          problem=f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_MSI_FILE_BYTES:
        raise ConfigError(where, str(path), _MSI_ALLOWED, problem="is over the size limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # vendors' files are often Windows-1252 or Latin-1
    return parse_msi(text, where, name=path.name)


_GAIN = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))\s*(dbd|dbi)?", re.IGNORECASE)


def parse_msi(text: str, where: str = "antenna", name: str = "") -> Antenna:
    """A pattern antenna, azimuth 0, from the text of an MSI Planet file; `name` stands for
    the file in errors and names the antenna when the file has no NAME line."""
    shown = name or "MSI text"

    def fail(problem: str, allowed: str = _MSI_ALLOWED) -> ConfigError:
        return ConfigError(where, shown, allowed, problem=problem)

    if len(text) > MAX_MSI_FILE_BYTES:
        raise fail("is over the size limit")
    header: dict[str, tuple[int, str]] = {}
    tables: dict[str, list[tuple[int, float, float]]] = {}
    current: list[tuple[int, float, float]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = [f for f in re.split(r"[,\s]+", raw.strip()) if f]
        if not fields:
            continue
        if _is_number(fields[0]):
            if current is None:
                raise fail(f"has a table row outside HORIZONTAL and VERTICAL at line {number}")
            if len(fields) != 2 or not _is_number(fields[1]):
                raise fail(f"has {raw.strip()!r} at line {number}",
                           "table rows of an angle and an attenuation in dB")
            current.append((number, float(fields[0]), float(fields[1])))
            continue
        keyword = fields[0].upper()
        current = None
        if keyword in ("HORIZONTAL", "VERTICAL"):
            if keyword in tables:
                raise fail(f"has a second {keyword} table at line {number}")
            if len(fields) > 1 and fields[1] not in ("360", "360.0"):
                raise fail(f"announces {fields[1]} {keyword} rows at line {number}",
                           "tables of 360 rows, one per degree")
            current = tables[keyword] = []
        elif keyword not in header:  # the first of each; only NAME and GAIN are used
            header[keyword] = (number, raw.strip()[len(fields[0]):].strip(" \t,"))
    cuts = {key: _msi_table(tables.get(key), key, fail) for key in ("HORIZONTAL", "VERTICAL")}
    if "GAIN" not in header:
        raise fail("has no GAIN line", "a file giving its peak gain (GAIN value dBd or dBi)")
    line, value = header["GAIN"]
    match = _GAIN.fullmatch(value)
    if match is None:
        raise fail(f"has GAIN {value!r} at line {line}", "GAIN as a number, then dBd or dBi")
    gain = float(match[1]) + (0.0 if (match[2] or "dbd").lower() == "dbi" else DIPOLE_GAIN_DBI)
    if not -30 <= gain <= 40:
        raise fail(f"has GAIN {value} ({gain:g} dBi) at line {line}", "a GAIN of -30 to 40 dBi")
    title = " ".join(header.get("NAME", (0, ""))[1].split())[:100] or name or "unnamed"
    return Antenna("pattern", gain_dbi=gain, name=title, horizontal=cuts["HORIZONTAL"],
                   vertical=cuts["VERTICAL"])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _msi_table(rows: list[tuple[int, float, float]] | None, key: str,
               fail: Callable[[str, str], ConfigError]) -> tuple[float, ...]:
    if rows is None:
        raise fail(f"has no {key} table", "a file with HORIZONTAL 360 and VERTICAL 360 tables")
    if len(rows) != 360:
        raise fail(f"has {len(rows)} {key} rows", "tables of 360 rows, one per degree")
    for expected, (line, angle, loss) in enumerate(rows):
        if not abs(angle - expected) < 1e-6:
            raise fail(f"has {key} angle {angle:g} at line {line}, not {expected}",
                       "angles 0 to 359 in order")
        if not 0 <= loss <= MAX_ATTENUATION_DB:  # also false for nan
            raise fail(f"has {key} attenuation {loss:g} at line {line}",
                       f"attenuations from 0 to {MAX_ATTENUATION_DB:g} dB, without a sign")
    return tuple(loss for _, _, loss in rows)


def gain_table(antenna: Antenna) -> np.ndarray:
    """Gain in dBi, float32 of shape (361, 181): row a = 0..360 degrees of relative azimuth
    (row 360 repeats row 0), column e + 90 for elevations e = -90..90 degrees."""
    a = np.arange(361, dtype=np.float64)
    e = np.arange(-90, 91, dtype=np.float64)
    gain = float(antenna.gain_dbi or 0.0)
    if antenna.type == "dipole":
        er = np.radians(e)
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = 20 * np.log10(np.abs(np.cos(np.pi / 2 * np.sin(er)) / np.cos(er)))
        # at ±90 cos e is zero; the true limit is -inf, which the floor replaces
        shape = np.where(np.abs(e) >= 90, -DIPOLE_FLOOR_DB, np.maximum(shape, -DIPOLE_FLOOR_DB))
        table = np.broadcast_to(gain + shape, (361, 181))
    elif antenna.type == "yagi":
        half = math.radians(float(antenna.beamwidth_deg or YAGI_BEAMWIDTH_DEG) / 2)
        n = -3.0 / (20 * math.log10((1 + math.cos(half)) / 2))
        off = np.minimum(a, 360 - a)  # computed on the offset, so exactly symmetric
        with np.errstate(divide="ignore"):
            lobe_az = 20 * n * np.log10((1 + np.cos(np.radians(off))) / 2)
            lobe_el = 20 * n * np.log10((1 + np.cos(np.radians(e))) / 2)
        floor = -float(antenna.front_to_back_db or 0.0)
        table = gain + np.maximum(floor, lobe_az[:, None] + lobe_el[None, :])
    elif antenna.type == "pattern":
        h = np.asarray(antenna.horizontal + antenna.horizontal[:1])
        v = np.asarray(antenna.vertical)
        ei = np.arange(-90, 91)
        front = v[(-ei) % 360] - v[0]
        back = v[180 + ei] - v[180]
        in_front = (a <= 90) | (a >= 270)
        loss = h[:, None] + np.where(in_front[:, None], front[None, :], back[None, :])
        table = gain - np.maximum(loss, 0.0)
    else:
        table = np.full((361, 181), gain)
    return np.array(table, dtype=np.float32)
