"""Elevation grids: heights on a regular latitude/longitude lattice, and where they are.

A grid knows the latitude and longitude of its first sample (row 0 is the northernmost,
column 0 the westernmost) and one step in both directions. Cell-registered data (GLOBE:
each value is a cell's mean, its centre half a step inside the corner) and
point-registered data (SRTM: each value is at a lattice point, the tile's edges included)
are both described this way: only where the first sample lies differs, and each reader
says it. Heights between samples are bilinear in latitude and longitude.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import TerrainError

BUILTIN_FILE = "data/globe_nw_italy.npz"


@dataclass(frozen=True)
class ElevationGrid:
    """Heights in metres, `heights[row, col]` at latitude `first_lat - row * step_deg` and
    longitude `first_lon + col * step_deg`; read-only."""

    heights: np.ndarray = field(repr=False)
    first_lat: float
    first_lon: float
    step_deg: float
    source: str = ""

    def __post_init__(self) -> None:
        heights = np.asarray(self.heights, dtype=np.float32)
        if heights.ndim != 2 or min(heights.shape) < 2:
            raise TerrainError(f"an elevation grid needs at least 2 x 2 samples, not "
                               f"{heights.shape}")
        if not np.isfinite(heights).all():
            raise TerrainError("an elevation grid holds no voids (fill them first)")
        if not self.step_deg > 0:
            raise TerrainError(f"an elevation grid's step must be positive, not "
                               f"{self.step_deg}")
        heights.setflags(write=False)
        object.__setattr__(self, "heights", heights)

    @property
    def rows(self) -> int:
        return int(self.heights.shape[0])

    @property
    def cols(self) -> int:
        return int(self.heights.shape[1])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, north, west, east) of the samples: heights are known inside."""
        return (self.first_lat - (self.rows - 1) * self.step_deg, self.first_lat,
                self.first_lon, self.first_lon + (self.cols - 1) * self.step_deg)

    def covers(self, south: float, north: float, west: float, east: float) -> bool:
        s, n, w, e = self.bounds
        return s <= south and north <= n and w <= west and east <= e

    @functools.cached_property
    def sha256(self) -> str:
        """Identifies the grid: its heights, lattice and step."""
        digest = hashlib.sha256()
        digest.update(np.array([self.first_lat, self.first_lon, self.step_deg],
                               dtype="<f8").tobytes())
        digest.update(np.array(self.heights.shape, dtype="<i8").tobytes())
        digest.update(self.heights.astype("<f4").tobytes())
        return digest.hexdigest()

    def crop(self, south: float, north: float, west: float, east: float) -> ElevationGrid:
        """The smallest part of this grid whose samples cover the box (TerrainError
        when this grid does not)."""
        if not self.covers(south, north, west, east):
            s, n, w, e = self.bounds
            raise TerrainError(
                f"the elevation data ({s:.3f} to {n:.3f} N, {w:.3f} to {e:.3f} E) does not "
                f"cover {south:.3f} to {north:.3f} N, {west:.3f} to {east:.3f} E")
        eps = 1e-9
        r0 = max(0, math.floor((self.first_lat - north) / self.step_deg + eps))
        r1 = min(self.rows - 1, math.ceil((self.first_lat - south) / self.step_deg - eps))
        c0 = max(0, math.floor((west - self.first_lon) / self.step_deg + eps))
        c1 = min(self.cols - 1, math.ceil((east - self.first_lon) / self.step_deg - eps))
        r1, c1 = max(r1, r0 + 1), max(c1, c0 + 1)
        return ElevationGrid(self.heights[r0:r1 + 1, c0:c1 + 1],
                             self.first_lat - r0 * self.step_deg,
                             self.first_lon + c0 * self.step_deg, self.step_deg, self.source)

    def elevation(self, lat: np.ndarray | float, lon: np.ndarray | float) -> np.ndarray:
        """Bilinear heights at the given points; TerrainError for a point outside."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        y = (self.first_lat - lat) / self.step_deg
        x = (lon - self.first_lon) / self.step_deg
        # A point on the last row or column is inside: round-off may put it a hair out.
        eps = 1e-9
        outside = (y < -eps) | (y > self.rows - 1 + eps) | (x < -eps) | (x > self.cols - 1 + eps)
        if np.any(outside):
            s, n, w, e = self.bounds
            raise TerrainError(f"a point lies outside the elevation data ({s:.4f} to "
                               f"{n:.4f} N, {w:.4f} to {e:.4f} E)")
        y = np.clip(y, 0.0, self.rows - 1.0)
        x = np.clip(x, 0.0, self.cols - 1.0)
        r = np.minimum(np.floor(y).astype(np.intp), self.rows - 2)
        c = np.minimum(np.floor(x).astype(np.intp), self.cols - 2)
        fy = y - r
        fx = x - c
        h = self.heights
        top = h[r, c] * (1.0 - fx) + h[r, c + 1] * fx
        bottom = h[r + 1, c] * (1.0 - fx) + h[r + 1, c + 1] * fx
        return top * (1.0 - fy) + bottom * fy


@functools.cache
def builtin_grid() -> ElevationGrid:
    """The elevation grid shipped with the app: GLOBE 30 arc-second cells over north-west
    Italy (scripts/extract_globe.py made it; README cites the data)."""
    with resources.files(__package__).joinpath(BUILTIN_FILE).open("rb") as f:
        data = np.load(f)
        return ElevationGrid(data["heights"], float(data["first_lat"]),
                             float(data["first_lon"]), float(data["step_deg"]),
                             str(data["source"]))
