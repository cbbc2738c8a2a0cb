"""SRTM height tiles (`.hgt`, `.hgt.zip`): one degree square each, read into a grid.

A tile is named after its south-west corner (`N45E007.hgt`) and holds big-endian int16
heights in metres, row by row from the north edge, at 1 arc-second (3601 x 3601 samples)
or 3 arc-seconds (1201 x 1201): the size of the file says which. Samples are
point-registered, so the first and last rows and columns lie on the tile's edges and
are shared with the neighbouring tiles. Voids (-32768) are filled from their neighbours.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import TerrainError
from .grid import ElevationGrid

VOID = -32768
SAMPLES_BY_SIZE = {1201 * 1201 * 2: 1201, 3601 * 3601 * 2: 3601}
_NAME = re.compile(r"^([NS])(\d{2})([EW])(\d{3})", re.IGNORECASE)


def tile_corner(name: str) -> tuple[int, int]:
    """(latitude, longitude) of a tile's south-west corner, from its file name."""
    match = _NAME.match(name)
    if match is None:
        raise TerrainError(f"{name} is not named as an SRTM tile (like N45E007.hgt): its "
                           "name gives its place")
    lat = int(match.group(2)) * (1 if match.group(1).upper() == "N" else -1)
    lon = int(match.group(4)) * (1 if match.group(3).upper() == "E" else -1)
    if not (-90 <= lat < 90 and -180 <= lon < 180):
        raise TerrainError(f"{name} names a corner that does not exist ({lat}, {lon})")
    return lat, lon


def read_hgt(path: str | Path) -> ElevationGrid:
    """The tile at `path` (`.hgt`, or a `.hgt.zip` holding one), voids filled."""
    path = Path(path)
    lat, lon = tile_corner(path.name)
    raw = _tile_bytes(path)
    samples = tile_samples(len(raw), path.name)
    heights = np.frombuffer(raw, dtype=">i2").reshape(samples, samples)
    filled = fill_voids(heights, path.name)
    return ElevationGrid(filled, float(lat + 1), float(lon), 1.0 / (samples - 1),
                         f"SRTM {path.name}")


def tile_samples(size: int, name: str) -> int:
    """Samples a side of a tile of `size` bytes; TerrainError if no tile is that size."""
    samples = SAMPLES_BY_SIZE.get(size)
    if samples is None:
        raise TerrainError(f"{name} holds {size:,} bytes: an SRTM tile holds "
                           f"{1201 * 1201 * 2:,} (3 arc-seconds) or {3601 * 3601 * 2:,} "
                           "(1 arc-second); it is truncated or not a tile")
    return samples


def tile_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The one `.hgt` file of a tile archive named `name`, of a tile's size."""
    members = [m for m in archive.infolist() if m.filename.lower().endswith(".hgt")]
    if len(members) != 1:
        raise TerrainError(f"{name} holds {len(members)} .hgt files; a tile archive holds one")
    if members[0].file_size not in SAMPLES_BY_SIZE:
        raise TerrainError(f"{name}: {members[0].filename} holds {members[0].file_size:,} "
                           "bytes, not an SRTM tile")
    return members[0]


def _tile_bytes(path: Path) -> bytes:
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                return archive.read(tile_member(archive, path.name))
        return path.read_bytes()
    except zipfile.BadZipFile:
        raise TerrainError(f"{path.name} is not a readable zip archive") from None
    except OSError as exc:
        raise TerrainError(f"{path.name} cannot be read ({exc.strerror or exc})") from None


def fill_voids(heights: np.ndarray, name: str = "the tile") -> np.ndarray:
    """Heights as float32 with each void replaced by the mean of its known neighbours,
    growing inwards until none is left (a void region is filled from its rim)."""
    out = heights.astype(np.float32)
    void = heights == VOID
    if void.all():
        raise TerrainError(f"{name} holds no height at all (every sample is void)")
    out[void] = 0.0
    while void.any():
        known = ~void
        total = np.zeros_like(out)
        count = np.zeros(out.shape, dtype=np.int32)
        for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
            total += _shifted(np.where(known, out, 0.0), axis, shift)
            count += _shifted(known.astype(np.int32), axis, shift)
        reached = void & (count > 0)
        out[reached] = total[reached] / count[reached]
        void &= ~reached
    return out


def _shifted(a: np.ndarray, axis: int, shift: int) -> np.ndarray:
    """`a` moved by one sample along `axis`, zeros coming in at the edge."""
    out = np.zeros_like(a)
    if axis == 0:
        if shift > 0:
            out[1:] = a[:-1]
        else:
            out[:-1] = a[1:]
    elif shift > 0:
        out[:, 1:] = a[:, :-1]
    else:
        out[:, :-1] = a[:, 1:]
    return out
