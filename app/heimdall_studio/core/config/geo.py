"""Where samples lie (docs/generation.md, Placement): the receiver and training boxes, which sample
indices are drawn inside, and great-circle distance.

Plain Python and numpy, so that the app's window and the file readers use them without
loading numba. `physics.haversine_km` is this one compiled: the reference the kernel's
rearranged formula is tested against.
"""

from __future__ import annotations

import math

import numpy as np

from .model import DatasetConfig

EARTH_RADIUS_KM = 6371.0088
MIN_DISTANCE_KM = 0.01


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km, never below MIN_DISTANCE_KM."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(0.5 * dphi) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(0.5 * dlmb) ** 2
    d = 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
    return max(d, MIN_DISTANCE_KM)


def receiver_box(config: DatasetConfig) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) of the receivers."""
    lats = [r.lat for r in config.receivers]
    lons = [r.lon for r in config.receivers]
    return min(lats), max(lats), min(lons), max(lons)


def training_box(config: DatasetConfig) -> tuple[float, float, float, float]:
    """The receiver box grown by margin_deg on every side."""
    lat0, lat1, lon0, lon1 = receiver_box(config)
    m = config.margin_deg
    return lat0 - m, lat1 + m, lon0 - m, lon1 + m


def inside_mask(start: int, stop: int, inside_ratio: float) -> np.ndarray:
    """Which sample indices in [start, stop) are drawn inside the receiver box."""
    index = np.arange(start, stop, dtype=np.float64)
    return (np.floor((index + 1) * inside_ratio) - np.floor(index * inside_ratio)) == 1
