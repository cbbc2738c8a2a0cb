"""The elevation grid a dataset is drawn over, from the config's terrain source.

`resolve_terrain(config)` finds the grid for a new dataset (the built-in GLOBE grid, a
sea-level sphere, or user tiles over the built-in grid) cropped to the training box, and
returns the config with the grid's identity filled in (`TerrainModel.sha256`, `step_deg`,
`bounds`). The dataset file stores that grid under /terrain, so an expansion uses it and
never this module's sources (docs/propagation.md).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..config.geo import training_box
from ..config.model import DatasetConfig
from ..errors import TerrainError
from . import library
from .grid import ElevationGrid, builtin_grid

# Grid samples kept around the training box, so every candidate and receiver has its
# four neighbours.
MARGIN_STEPS = 2
# Finer tiles are read at this step: 1 arc-second data over a training box would cost
# nine times the memory and preparation of 3 arc-seconds for detail the link grid
# (docs/propagation.md, Speed) does not resolve.
FINEST_STEP_DEG = 1.0 / 1200


def terrain_box(config: DatasetConfig, step_deg: float) -> tuple[float, float, float, float]:
    """(south, north, west, east) the grid must cover: the training box, grown by
    MARGIN_STEPS samples."""
    south, north, west, east = training_box(config)
    pad = MARGIN_STEPS * step_deg
    return south - pad, north + pad, west - pad, east + pad


def resolve_terrain(config: DatasetConfig) -> tuple[DatasetConfig, ElevationGrid | None]:
    """The config with its grid identified, and the grid (None for source `none`).

    TerrainError when the source does not cover the training box, a tile cannot be read,
    or the config names a grid (a sha256) other than the one its source gives now.
    """
    terrain = config.propagation.terrain
    if terrain.source == "none":
        return config, None
    if terrain.source == "builtin":
        base = builtin_grid()
        grid = _crop(base, config, "the built-in elevation grid (GLOBE, north-west Italy)")
    elif terrain.source == "flat":
        grid = flat_grid(config)
    else:
        grid = tiles_grid(config, terrain.tiles_dir)
    if terrain.sha256 and terrain.sha256 != grid.sha256:
        raise TerrainError(
            f"dataset '{config.name}' was drawn over elevation data with sha256 "
            f"{terrain.sha256[:12]}..., but its {terrain.source} source now gives "
            f"{grid.sha256[:12]}...")
    filled = dataclasses.replace(terrain, sha256=grid.sha256, step_deg=grid.step_deg,
                                 bounds=grid.bounds)
    propagation = dataclasses.replace(config.propagation, terrain=filled)
    return config.replace(propagation=propagation), grid


# A receiver's alt_m further than this from the elevation data is reported.
ALTITUDE_TOLERANCE_M = 100.0


def altitude_warnings(config: DatasetConfig, grid: ElevationGrid | None) -> list[str]:
    """One line per receiver whose alt_m (the site's ground altitude) disagrees with the
    elevation data by more than ALTITUDE_TOLERANCE_M: the terrain model puts its antenna
    on the data's ground, so a wrong position or altitude shows here."""
    if grid is None or config.propagation.terrain.source == "flat":
        return []  # none has no ground, flat a sea-level one by choice
    lines = []
    for r in config.receivers:
        ground = float(grid.elevation(r.lat, r.lon))
        if abs(ground - r.alt_m) > ALTITUDE_TOLERANCE_M:
            lines.append(f"receiver {r.name!r}: alt_m is {r.alt_m:,.0f} m but the elevation "
                         f"data gives {ground:,.0f} m at {r.lat:.4f} N, {r.lon:.4f} E; its "
                         f"antenna is placed {r.antenna_height_m:g} m above the data's ground")
    return lines


def _crop(grid: ElevationGrid, config: DatasetConfig, what: str) -> ElevationGrid:
    south, north, west, east = terrain_box(config, grid.step_deg)
    if not grid.covers(south, north, west, east):
        s, n, w, e = grid.bounds
        raise TerrainError(
            f"{what} covers {s:.2f} to {n:.2f} N, {w:.2f} to {e:.2f} E; the training box "
            f"of '{config.name}' ({south:.2f} to {north:.2f} N, {west:.2f} to {east:.2f} E) "
            "is not inside it. Import tiles that cover it (heimdall-studio terrain import) "
            "and choose --terrain tiles, or choose --terrain flat or none")
    return grid.crop(south, north, west, east)


def flat_grid(config: DatasetConfig) -> ElevationGrid:
    """Sea level over the training box, on the built-in grid's 30 arc-second lattice."""
    step = builtin_grid().step_deg
    first_lat, first_lon, rows, cols = _lattice(config, step)
    return ElevationGrid(np.zeros((rows, cols), np.float32), first_lat, first_lon, step,
                         "sea-level sphere")


def _lattice(config: DatasetConfig, step: float) -> tuple[float, float, int, int]:
    """(first latitude, first longitude, rows, columns) of the lattice of whole multiples
    of `step` that covers `terrain_box(config, step)`, row 0 north."""
    south, north, west, east = terrain_box(config, step)
    first_lat = math.ceil(north / step - 1e-9) * step
    first_lon = math.floor(west / step + 1e-9) * step
    rows = math.ceil((first_lat - south) / step - 1e-9) + 1
    cols = math.ceil((east - first_lon) / step - 1e-9) + 1
    return first_lat, first_lon, rows, cols


def tiles_grid(config: DatasetConfig, tiles_dir: str) -> ElevationGrid:
    """User tiles (of `tiles_dir`, or of the terrain library when empty) over the
    training box, at the finest step among them (at most FINEST_STEP_DEG); where no
    tile reaches, the built-in grid."""
    folder = Path(tiles_dir).expanduser() if tiles_dir else library.library_dir()
    where = f"the tiles in {folder}" if tiles_dir else f"the terrain library ({folder})"
    try:
        files = library.tile_files([folder])
    except TerrainError as exc:
        raise TerrainError(f"{exc}; --terrain tiles reads {where}") from None
    south, north, west, east = training_box(config)
    wanted = []
    for path in files:
        s, n, w, e = library.tile_info(path).bounds
        if s < north and n > south and w < east and e > west:
            wanted.append(path)
    if not wanted:
        raise TerrainError(f"{where} do not reach the training box of '{config.name}' "
                           f"({south:.2f} to {north:.2f} N, {west:.2f} to {east:.2f} E)")
    tiles = []
    for path in wanted:
        try:
            tiles.append(library.read_tile(path))
        except OSError as exc:  # the folder vanished, a file went unreadable
            raise TerrainError(f"cannot read {path}: {exc.strerror or exc}") from None
    step = max(min(t.step_deg for t in tiles), FINEST_STEP_DEG)
    first_lat, first_lon, rows, cols = _lattice(config, step)
    lats = first_lat - np.arange(rows) * step
    lons = first_lon + np.arange(cols) * step
    heights = np.full((rows, cols), np.nan, np.float32)
    for tile in tiles:
        s, n, w, e = tile.bounds
        rr = np.flatnonzero((lats >= s - 1e-9) & (lats <= n + 1e-9))
        cc = np.flatnonzero((lons >= w - 1e-9) & (lons <= e + 1e-9))
        if rr.size and cc.size:
            lat_grid, lon_grid = np.meshgrid(np.clip(lats[rr], s, n), np.clip(lons[cc], w, e),
                                             indexing="ij")
            heights[np.ix_(rr, cc)] = tile.elevation(lat_grid, lon_grid)
    missing = np.isnan(heights)
    if missing.any():
        base = builtin_grid()
        rows_m, cols_m = np.nonzero(missing)
        lat_m, lon_m = lats[rows_m], lons[cols_m]
        if not (base.covers(lat_m.min(), lat_m.max(), lon_m.min(), lon_m.max())):
            squares = sorted({_tile_name(math.floor(a), math.floor(o))
                              for a, o in zip(lat_m, lon_m, strict=True)})
            raise TerrainError(
                f"{where} do not cover the training box of '{config.name}', and the "
                f"built-in grid does not cover the rest; missing tiles: "
                f"{', '.join(squares[:8])}{' ...' if len(squares) > 8 else ''}")
        heights[missing] = base.elevation(lat_m, lon_m)
    names = ", ".join(sorted(p.name for p in wanted))
    covered = 100.0 * (1.0 - missing.mean())
    return ElevationGrid(heights, first_lat, first_lon, step,
                         f"tiles {names} ({covered:.0f} % of the box)"
                         + ("; the rest from GLOBE" if missing.any() else ""))


def _tile_name(lat: int, lon: int) -> str:
    return (f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}"
            f"{'E' if lon >= 0 else 'W'}{abs(lon):03d}")
