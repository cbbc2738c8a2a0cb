"""GeoTIFF elevation data, through the optional `rasterio` (`pip install
'heimdall-studio[geotiff]'`).

A GeoTIFF is read when its coordinate reference system is geographic (longitude and
latitude, such as WGS 84) and its pixels are square and unrotated in degrees: then it is
an elevation grid like any tile, of whatever extent. Its no-data values are voids, filled
from their neighbours. Projected data (UTM, say) is refused with the reason: reproject it
to longitude/latitude first (`gdalwarp -t_srs EPSG:4326`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TerrainError
from .grid import ElevationGrid
from .srtm import VOID, fill_voids

GEOTIFF_SUFFIXES = (".tif", ".tiff")
EXTRA = "pip install 'heimdall-studio[geotiff]'"


def _rasterio() -> Any:
    try:
        import rasterio  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise TerrainError(f"reading GeoTIFF needs the optional rasterio package: {EXTRA}"
                           ) from None
    return rasterio


def geotiff_extent(path: str | Path) -> tuple[float, float, float, float, float]:
    """(south, north, west, east, step in degrees) of the samples' centres, from the
    file's header; TerrainError for a file this reader refuses."""
    rasterio = _rasterio()
    path = Path(path)
    try:
        with rasterio.open(path) as data:
            return _extent(data, path)
    except rasterio.errors.RasterioError as exc:
        raise TerrainError(f"{path.name} is not a readable GeoTIFF ({exc})") from None


def _extent(data: Any, path: Path) -> tuple[float, float, float, float, float]:
    crs = data.crs
    if crs is None:
        raise TerrainError(f"{path.name} has no geographic reference (no coordinate "
                           "reference system): its place is unknown")
    if not crs.is_geographic:
        raise TerrainError(f"{path.name} is in a projected reference ({crs}), not longitude "
                           "and latitude: reproject it first (gdalwarp -t_srs EPSG:4326)")
    t = data.transform
    if abs(t.b) > 1e-12 or abs(t.d) > 1e-12:
        raise TerrainError(f"{path.name} is rotated: its pixels are not aligned with "
                           "longitude and latitude")
    step = abs(t.a)
    if not (step > 0 and math.isclose(step, abs(t.e), rel_tol=1e-6)) or t.e >= 0:
        raise TerrainError(f"{path.name} has pixels of {abs(t.a):.6g} by {abs(t.e):.6g} "
                           "degrees: square pixels, rows from the north, are needed")
    if data.height < 2 or data.width < 2:
        raise TerrainError(f"{path.name} holds fewer than 2 x 2 samples")
    north = t.f - step / 2  # pixel centres
    west = t.c + step / 2
    return (north - (data.height - 1) * step, north, west, west + (data.width - 1) * step,
            step)


def read_geotiff(path: str | Path) -> ElevationGrid:
    """The GeoTIFF at `path`'s first band as an elevation grid, voids filled."""
    rasterio = _rasterio()
    path = Path(path)
    try:
        with rasterio.open(path) as data:
            _, north, west, _, step = _extent(data, path)
            band = data.read(1, masked=True)
    except rasterio.errors.RasterioError as exc:
        raise TerrainError(f"{path.name} is not a readable GeoTIFF ({exc})") from None
    heights = np.where(np.ma.getmaskarray(band), VOID, np.ma.getdata(band)).astype(np.float64)
    heights[~np.isfinite(heights)] = VOID
    if np.abs(heights[heights != VOID]).max(initial=0.0) > 9000:
        raise TerrainError(f"{path.name} holds values beyond 9,000 m: not heights in metres")
    filled = fill_voids(np.rint(heights).astype(np.int16), path.name)
    return ElevationGrid(filled, north, west, step, f"GeoTIFF {path.name}")
