"""The ground between two places: heights sampled along the great circle joining them.

Points are spaced no further apart than the grid's step (in latitude; a degree of
longitude is shorter), so no cell is skipped, and always include both ends. The result
is what the diffraction functions take: distances from the start in km and heights in m.
"""

from __future__ import annotations

import math

import numpy as np

from ..config.geo import EARTH_RADIUS_KM
from .grid import ElevationGrid

KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0


def great_circle_points(lat1: float, lon1: float, lat2: float, lon2: float,
                        count: int) -> tuple[np.ndarray, np.ndarray, float]:
    """`count` points evenly spaced on the great circle from the first place to the
    second, both included: (latitudes, longitudes, the distance in km)."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2)
    angle = 2 * math.asin(min(1.0, math.sqrt(a)))
    t = np.linspace(0.0, 1.0, count)
    if angle < 1e-12:
        return np.full(count, lat1), np.full(count, lon1), 0.0
    # slerp between the two unit vectors
    v1 = np.array([math.cos(p1) * math.cos(l1), math.cos(p1) * math.sin(l1), math.sin(p1)])
    v2 = np.array([math.cos(p2) * math.cos(l2), math.cos(p2) * math.sin(l2), math.sin(p2)])
    w1 = np.sin((1 - t) * angle) / math.sin(angle)
    w2 = np.sin(t * angle) / math.sin(angle)
    v = w1[:, None] * v1 + w2[:, None] * v2
    lat = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
    lon = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
    lat[0], lon[0], lat[-1], lon[-1] = lat1, lon1, lat2, lon2
    return lat, lon, angle * EARTH_RADIUS_KM


def terrain_profile(grid: ElevationGrid, lat1: float, lon1: float, lat2: float,
                    lon2: float) -> tuple[np.ndarray, np.ndarray]:
    """(distances from the first place in km, ground heights in m) along the path."""
    _, _, length = great_circle_points(lat1, lon1, lat2, lon2, 2)
    spacing_km = grid.step_deg * KM_PER_DEGREE
    count = max(3, math.ceil(length / spacing_km) + 1)
    lat, lon, length = great_circle_points(lat1, lon1, lat2, lon2, count)
    return np.linspace(0.0, length, count), grid.elevation(lat, lon)
