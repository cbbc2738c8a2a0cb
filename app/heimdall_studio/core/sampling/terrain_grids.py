"""What the terrain model precomputes once per dataset, so that a candidate costs lookups.

Receivers are fixed, so everything about a link that does not depend on chance depends
only on where its transmitter stands. For every receiver and every node of a lattice over
the training box (the elevation grid's own, or every few of its samples for fine tiles)
`link_grids` draws the terrain profile from the receiver to the node and evaluates
`diffraction.terrain_loss_db` on it: the loss beyond free space and the diffraction
parameter (line of sight or not). The kernel interpolates both between the four nodes
around a candidate and adds the free-space loss of its exact distance.

`shadowing_field` draws, per receiver, a Gaussian random field on a lattice finer than the
shadowing decorrelation distance: exponentially correlated along each axis (Gudmundson),
seeded by the dataset's seed, the same for every chunk and every expansion.

docs/propagation.md describes both, with what they approximate.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config.geo import EARTH_RADIUS_KM
from .diffraction import terrain_loss_db
from .rng import candidate_key, normal

# out[row, col, receiver, LINK_*]
LINK_EXCESS_DB = 0  # terrain loss minus free-space loss at the node
LINK_NU = 1  # Bullington's diffraction parameter of the profile
LINK_VALUES = 2


@njit(cache=True, nogil=True)
def grid_height(heights, first_lat, first_lon, step, lat, lon):
    """Bilinear height of the grid at (lat, lon), clamped to the grid's edge."""
    rows, cols = heights.shape
    y = min(max((first_lat - lat) / step, 0.0), rows - 1.0)
    x = min(max((lon - first_lon) / step, 0.0), cols - 1.0)
    r = min(int(y), rows - 2)
    c = min(int(x), cols - 2)
    fy = y - r
    fx = x - c
    top = heights[r, c] * (1.0 - fx) + heights[r, c + 1] * fx
    bottom = heights[r + 1, c] * (1.0 - fx) + heights[r + 1, c + 1] * fx
    return top * (1.0 - fy) + bottom * fy


@njit(cache=True, nogil=True)
def _midpoint(lat1, lon1, lat2, lon2):
    """The great-circle midpoint, in radians."""
    x = math.cos(lat1) * math.cos(lon1) + math.cos(lat2) * math.cos(lon2)
    y = math.cos(lat1) * math.sin(lon1) + math.cos(lat2) * math.sin(lon2)
    z = math.sin(lat1) + math.sin(lat2)
    return math.atan2(z, math.sqrt(x * x + y * y)), math.atan2(y, x)


@njit(cache=True, nogil=True)
def _haversine_rad(lat1, lon1, lat2, lon2):
    a = (math.sin(0.5 * (lat2 - lat1)) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin(0.5 * (lon2 - lon1)) ** 2)
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@njit(cache=True, nogil=True)
def link_profile(heights, first_lat, first_lon, step, lat1, lon1, lat2, lon2, spacing_km,
                 dist, ground):
    """Fill `dist`, `ground` with the profile from (lat1, lon1) to (lat2, lon2) (degrees)
    and return its number of points: no further apart than `spacing_km`, both ends
    included. The path is the parabola in latitude and longitude through both ends and
    the great-circle midpoint (within metres of the great circle at 300 km)."""
    p1, l1, p2, l2 = (math.radians(lat1), math.radians(lon1), math.radians(lat2),
                      math.radians(lon2))
    d = max(_haversine_rad(p1, l1, p2, l2), 1e-3)
    n = min(max(3, math.ceil(d / spacing_km) + 1), dist.shape[0])
    pm, lm = _midpoint(p1, l1, p2, l2)
    lat_m = math.degrees(pm)
    lon_m = math.degrees(lm)
    c_lat = 2.0 * (lat1 + lat2 - 2.0 * lat_m)
    b_lat = lat2 - lat1 - c_lat
    c_lon = 2.0 * (lon1 + lon2 - 2.0 * lon_m)
    b_lon = lon2 - lon1 - c_lon
    for i in range(n):
        t = i / (n - 1)
        dist[i] = t * d
        ground[i] = grid_height(heights, first_lat, first_lon, step,
                                lat1 + t * (b_lat + t * c_lat), lon1 + t * (b_lon + t * c_lon))
    return n


def profile_points(span_deg: float, step_deg: float) -> int:
    """Profile buffer length for a box `span_deg` across at this step."""
    km = span_deg * math.pi * EARTH_RADIUS_KM / 180.0
    return math.ceil(km / (step_deg * math.pi * EARTH_RADIUS_KM / 180.0)) + 3


@njit(cache=True, nogil=True, parallel=True)
def link_rows(heights, first_lat, first_lon, step, every, row_start, row_stop, rx_lat,
              rx_lon, rx_agl_m, tx_agl_m, f_mhz, k_factor, sea_from_zero, two_ray,
              max_points, out):
    """Rows [row_start, row_stop) of `out` (link lattice nodes: every `every`-th grid
    sample), for every receiver; see the module docstring."""
    spacing_km = step * math.pi * EARTH_RADIUS_KM / 180.0
    n_rx = rx_lat.shape[0]
    cols = out.shape[1]
    for row in prange(row_start, row_stop):
        dist = np.empty(max_points)
        ground = np.empty(max_points)
        lat = first_lat - row * every * step
        for col in range(cols):
            lon = first_lon + col * every * step
            for r in range(n_rx):
                n = link_profile(heights, first_lat, first_lon, step, rx_lat[r], rx_lon[r],
                                 lat, lon, spacing_km, dist, ground)
                # the ends on the grid's own samples: the node's exactly
                ground[n - 1] = heights[row * every, col * every]
                sea = 0.0
                if sea_from_zero:
                    for i in range(n):
                        sea += ground[i] <= 0.0
                    sea /= n
                d = dist[n - 1]
                loss, nu = terrain_loss_db(dist[:n], ground[:n], rx_agl_m[r], tx_agl_m,
                                           f_mhz, k_factor, sea, two_ray)
                free_space = 20.0 * math.log10(d) + 20.0 * math.log10(f_mhz) + 32.45
                out[row, col, r, LINK_EXCESS_DB] = loss - free_space
                out[row, col, r, LINK_NU] = nu


@njit(cache=True, nogil=True, parallel=True)
def shadowing_field(keys, rho, out):
    """Unit-variance Gaussian fields, out[:, :, r] for receiver r, with correlation
    rho ** (|rows apart| + |columns apart|): the separable AR(1) recursion
    x[i, j] = rho x[i-1, j] + rho x[i, j-1] - rho^2 x[i-1, j-1] + (1 - rho^2) w[i, j],
    with the edges as one-dimensional AR(1) chains. Row i's innovations are draws of
    candidate i of the receiver's stream."""
    rows, cols, n_rx = out.shape
    edge = math.sqrt(1.0 - rho * rho)
    inner = 1.0 - rho * rho
    for r in prange(n_rx):
        k0 = keys[r, 0]
        k1 = keys[r, 1]
        key = candidate_key(k0, k1, 0)
        out[0, 0, r] = normal(key, 0)
        for j in range(1, cols):
            out[0, j, r] = rho * out[0, j - 1, r] + edge * normal(key, j)
        for i in range(1, rows):
            key = candidate_key(k0, k1, i)
            out[i, 0, r] = rho * out[i - 1, 0, r] + edge * normal(key, 0)
            for j in range(1, cols):
                out[i, j, r] = (rho * (out[i - 1, j, r] + out[i, j - 1, r])
                                - rho * rho * out[i - 1, j - 1, r] + inner * normal(key, j))
