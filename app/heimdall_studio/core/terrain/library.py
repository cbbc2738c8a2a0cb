"""The terrain library: the user's elevation tiles, kept in one folder of the user data.

`heimdall-studio terrain import` checks each tile by reading it in full (size, name,
values), then copies it in under a temporary name and renames it into place, so the
library never holds half a tile. One file per tile: importing a tile replaces the file
of the same corner, whatever its form (`.hgt` or `.hgt.zip`) or resolution. Listing
reads names and sizes only.

GeoTIFF files (`.tif`, `.tiff`, of any extent, in longitude and latitude) are kept as
they are and replace only a file of the same name; reading them needs the optional
rasterio (`geotiff`).

The folder is `$HEIMDALL_STUDIO_TERRAIN_DIR`, else `terrain` in the user data folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import TerrainError
from .geotiff import GEOTIFF_SUFFIXES, geotiff_extent, read_geotiff
from .grid import ElevationGrid
from .srtm import read_hgt, tile_corner, tile_member, tile_samples

LIBRARY_ENV = "HEIMDALL_STUDIO_TERRAIN_DIR"
SRTM_SUFFIXES = (".hgt", ".hgt.zip")
TILE_SUFFIXES = SRTM_SUFFIXES + GEOTIFF_SUFFIXES


@dataclass(frozen=True)
class TileInfo:
    """A tile of the library: where it lies and how fine it is."""

    path: Path
    south: float
    west: float
    arcsec: float  # SRTM: 1 or 3
    size_bytes: int
    # A GeoTIFF's; an SRTM tile covers one degree from its corner.
    north: float | None = None
    east: float | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, north, west, east) in degrees."""
        north = self.south + 1 if self.north is None else self.north
        east = self.west + 1 if self.east is None else self.east
        return self.south, north, self.west, east

    def to_dict(self) -> dict[str, object]:
        south, north, west, east = self.bounds
        return {"name": self.name, "path": str(self.path), "south": south, "north": north,
                "west": west, "east": east, "arcsec": self.arcsec,
                "size_bytes": self.size_bytes}


def library_dir() -> Path:
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("heimdall-studio", appauthor=False) / "terrain"


def is_geotiff(path: Path) -> bool:
    return path.name.lower().endswith(GEOTIFF_SUFFIXES)


def read_tile(path: Path) -> ElevationGrid:
    """A tile of either kind, read in full (TerrainError says why one cannot be)."""
    return read_geotiff(path) if is_geotiff(path) else read_hgt(path)


def is_tile_name(name: str) -> bool:
    return name.lower().endswith(TILE_SUFFIXES) and not name.startswith(".")


def tile_files(paths: Iterable[str | Path]) -> list[Path]:
    """The tiles named: files as given, and the tiles directly inside each folder."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            inside = sorted(p for p in given.iterdir() if is_tile_name(p.name) and p.is_file())
            if not inside:
                raise TerrainError(f"{given} holds no .hgt, .hgt.zip or GeoTIFF tile")
            found += inside
        elif given.is_file():
            found.append(given)
        elif os.path.lexists(given):
            raise TerrainError(f"{given} is not a regular file or a folder")
        else:
            raise TerrainError(f"{given} does not exist")
    return found


def import_tiles(paths: Iterable[str | Path]) -> list[TileInfo]:
    """Check every tile first, then copy each into the library; TerrainError names the
    first that is not a readable tile, and nothing is imported then."""
    files = tile_files(paths)
    for path in files:
        if not is_tile_name(path.name):
            raise TerrainError(f"{path.name} is not a .hgt, .hgt.zip or GeoTIFF tile")
        read_tile(path)  # the whole tile, so a damaged one is refused here
    folder = library_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TerrainError(f"cannot create the terrain library {folder}: "
                           f"{exc.strerror or exc}") from None
    return [_copy_in(path, folder) for path in files]


def _copy_in(path: Path, folder: Path) -> TileInfo:
    corner = None if is_geotiff(path) else tile_corner(path.name)
    target = folder / path.name
    temporary = folder / f".{path.name}.{secrets.token_hex(4)}.part"
    try:
        shutil.copyfile(path, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise TerrainError(f"cannot copy {path.name} into {folder}: "
                           f"{exc.strerror or exc}") from None
    for other in folder.iterdir():  # one file per corner
        if (corner is not None and other != target and is_tile_name(other.name)
                and not is_geotiff(other) and _corner_of(other) == corner):
            other.unlink()
    return _info(target)


def _corner_of(path: Path) -> tuple[int, int] | None:
    try:
        return tile_corner(path.name)
    except TerrainError:
        return None


def list_tiles() -> list[TileInfo]:
    """The library's tiles, south-west first; files that are not tiles are left out."""
    folder = library_dir()
    if not folder.is_dir():
        return []
    tiles = []
    for path in folder.iterdir():
        if not is_tile_name(path.name) or (not is_geotiff(path) and _corner_of(path) is None):
            continue
        try:
            tiles.append(_info(path))
        except TerrainError:
            continue  # damaged since it was imported: import it again
    return sorted(tiles, key=lambda t: (t.south, t.west))


def tile_info(path: Path) -> TileInfo:
    """What the tile at `path` covers, from its name and size (a GeoTIFF: its header)."""
    return _info(path)


def _info(path: Path) -> TileInfo:
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode):
        raise TerrainError(f"{path.name} is not a regular file")
    if is_geotiff(path):
        south, north, west, east, step = geotiff_extent(path)
        arcsec = round(step * 3600, 3)
        return TileInfo(path, south, west, int(arcsec) if arcsec.is_integer() else arcsec,
                        st.st_size, north, east)
    south, west = tile_corner(path.name)
    raw_size = st.st_size
    if path.name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                raw_size = tile_member(archive, path.name).file_size
        except (zipfile.BadZipFile, OSError):
            raise TerrainError(f"{path.name} is not a readable zip archive") from None
    samples = tile_samples(raw_size, path.name)
    return TileInfo(path, south, west, 3600 // (samples - 1), st.st_size)
