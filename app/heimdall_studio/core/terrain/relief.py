"""Shaded relief of an elevation grid, as an RGB image for maps (plain numpy).

Hill shading after Horn's slopes with the sun in the north-west at 45 degrees, over a
hypsometric tint: the sea blue, the plains green, the hills ochre, the mountains grey to
white. Large grids are reduced first, so an image never exceeds `max_side` samples a side.
"""

from __future__ import annotations

import math

import numpy as np

from .grid import ElevationGrid

SUN_AZIMUTH_DEG = 315.0
SUN_ALTITUDE_DEG = 45.0
# (height m, r, g, b): the tint between stops is linear
TINT = np.array([
    (-1.0, 170, 200, 230), (0.5, 170, 200, 230), (1.0, 120, 170, 110), (300, 170, 200, 130),
    (800, 215, 200, 150), (1500, 185, 150, 110), (2500, 175, 170, 165), (4000, 250, 250, 250),
], dtype=np.float64)


def _every(grid: ElevationGrid, max_side: int) -> int:
    """The image keeps every n-th sample of the grid, n this."""
    return max(1, math.ceil(max(grid.rows, grid.cols) / max_side))


def relief_area(grid: ElevationGrid, max_side: int = 900) -> tuple[float, float, float, float]:
    """(south, north, west, east) that `shaded_relief(grid, max_side)`'s pixels cover:
    each pixel is centred on the sample it shows and spans as many steps as samples
    were skipped."""
    every = _every(grid, max_side)
    pixel = grid.step_deg * every
    north = grid.first_lat + pixel / 2
    west = grid.first_lon - pixel / 2
    rows = math.ceil(grid.rows / every)
    cols = math.ceil(grid.cols / every)
    return north - rows * pixel, north, west, west + cols * pixel


def shaded_relief(grid: ElevationGrid, max_side: int = 900) -> np.ndarray:
    """(rows, cols, 3) uint8, row 0 the northernmost, over `relief_area(grid, max_side)`."""
    heights = np.asarray(grid.heights, dtype=np.float64)
    every = _every(grid, max_side)
    heights = heights[::every, ::every]
    step_deg = grid.step_deg * every
    mid_lat = math.radians(grid.first_lat - 0.5 * (grid.rows - 1) * grid.step_deg)
    dy = step_deg * 111_195.0
    dx = dy * max(math.cos(mid_lat), 0.05)
    padded = np.pad(heights, 1, mode="edge")
    # Horn's gradients; rows run south, so north is -y
    gx = ((padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:])
          - (padded[:-2, :-2] + 2 * padded[1:-1, :-2] + padded[2:, :-2])) / (8 * dx)
    gy = ((padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:])
          - (padded[:-2, :-2] + 2 * padded[:-2, 1:-1] + padded[:-2, 2:])) / (8 * dy)
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)  # downhill direction, from north, clockwise
    zenith = math.radians(90.0 - SUN_ALTITUDE_DEG)
    azimuth = math.radians(SUN_AZIMUTH_DEG)
    shade = (math.cos(zenith) * np.cos(slope)
             + math.sin(zenith) * np.sin(slope) * np.cos(azimuth - aspect))
    shade = np.clip(shade, 0.0, 1.0)
    tint = np.stack([np.interp(heights, TINT[:, 0], TINT[:, k]) for k in (1, 2, 3)], axis=-1)
    light = 0.55 + 0.6 * shade[..., None]  # flat ground stays near its tint
    return np.clip(tint * light, 0, 255).astype(np.uint8)
