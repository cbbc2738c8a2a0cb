"""What the terrain model precomputes once per dataset, so that a candidate costs lookups.

Receivers are fixed, so everything about a link that does not depend on chance depends
only on where its transmitter stands. For every receiver and every node of a lattice over
the training box (LINK_STEP_DEG apart, or on every few samples of a finer grid)
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
from .diffraction import EARTH_RADIUS_KM as DIFFRACTION_RADIUS_KM
from .diffraction import bullington_loss_of_nu, spherical_earth_loss_db
from .rng import candidate_key, normal

# out[row, col, receiver, LINK_*]
LINK_EXCESS_DB = 0  # terrain loss minus free-space loss at the node
LINK_NU = 1  # Bullington's diffraction parameter of the profile
LINK_VALUES = 2


@njit(cache=True, nogil=True, inline="always")
def lattice_cell(x, size):
    """The cell of a lattice of `size` points holding position `x` (in steps from the
    first point, clamped to the lattice): the index of its first point, and how far
    beyond it `x` lies (0 to 1)."""
    x = min(max(x, 0.0), size - 1.0)
    i = min(int(x), size - 2)
    return i, x - i


@njit(cache=True, nogil=True)
def grid_height(heights, first_lat, first_lon, step, lat, lon):
    """Bilinear height of the grid at (lat, lon), clamped to the grid's edge."""
    rows, cols = heights.shape
    r, fy = lattice_cell((first_lat - lat) / step, rows)
    c, fx = lattice_cell((lon - first_lon) / step, cols)
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
                 ground):
    """Fill `ground` with the heights of the profile from (lat1, lon1) to (lat2, lon2)
    (degrees), at points evenly spaced no further apart than `spacing_km`, both ends
    included; returns (number of points, the path's length in km). The path is the
    parabola in latitude and longitude through both ends and the great-circle midpoint
    (within metres of the great circle at 300 km)."""
    p1, l1, p2, l2 = (math.radians(lat1), math.radians(lon1), math.radians(lat2),
                      math.radians(lon2))
    d = max(_haversine_rad(p1, l1, p2, l2), 1e-3)
    n = min(max(3, math.ceil(d / spacing_km) + 1), ground.shape[0])
    pm, lm = _midpoint(p1, l1, p2, l2)
    c_lat = 2.0 * (lat1 + lat2 - 2.0 * math.degrees(pm))
    c_lon = 2.0 * (lon1 + lon2 - 2.0 * math.degrees(lm))
    # grid coordinates of point i: y0 + i (by + i cy), x0 + i (bx + i cx)
    last = n - 1.0
    y0 = (first_lat - lat1) / step
    by = -(lat2 - lat1 - c_lat) / (step * last)
    cy = -c_lat / (step * last * last)
    x0 = (lon1 - first_lon) / step
    bx = (lon2 - lon1 - c_lon) / (step * last)
    cx = c_lon / (step * last * last)
    rows, cols = heights.shape
    for i in range(n):
        r, fy = lattice_cell(y0 + i * (by + i * cy), rows)
        c, fx = lattice_cell(x0 + i * (bx + i * cx), cols)
        top = heights[r, c] + (heights[r, c + 1] - heights[r, c]) * fx
        bottom = heights[r + 1, c] + (heights[r + 1, c + 1] - heights[r + 1, c]) * fx
        ground[i] = top + (bottom - top) * fy
    return n, d


def profile_tables(points: int) -> tuple[np.ndarray, np.ndarray]:
    """1 / i and 1 / sqrt(i) for i < points (0 for i = 0): `profile_loss_db` divides by
    distances along evenly spaced profiles with these."""
    i = np.arange(points, dtype=np.float64)
    inv = np.zeros(points)
    inv[1:] = 1.0 / i[1:]
    return inv, np.sqrt(inv)


def profile_points(span_deg: float, step_deg: float) -> int:
    """Profile buffer length for a box `span_deg` across at this step."""
    km = span_deg * math.pi * EARTH_RADIUS_KM / 180.0
    return math.ceil(km / (step_deg * math.pi * EARTH_RADIUS_KM / 180.0)) + 3


@njit(cache=True, nogil=True)
def profile_loss_db(ground, n, d, inv, inv_sqrt, h_tx_agl_m, h_rx_agl_m, f_mhz, k_factor,
                    sea_from_zero, two_ray):
    """`diffraction.terrain_loss_db` of the first `n` heights of `ground`, evenly spaced
    over `d` km (the sea fraction: of the points at or below 0 m when `sea_from_zero`).
    The same formulas, rearranged for the link grids: five passes over the points instead
    of eight, the spacing's divisions and square roots from the tables of
    `profile_tables`, no allocation (tests hold the two to each other). Returns
    (loss_db, nu)."""
    last = n - 1
    delta = d / last
    f_ghz = 1e-3 * f_mhz
    wavelength_m = 0.299792458 / f_ghz
    # the earth's bulge at point i: bulge * i * (last - i)
    bulge = 500.0 / (k_factor * DIFFRACTION_RADIUS_KM) * delta * delta
    h_ts = ground[0] + h_tx_agl_m
    h_rs = ground[last] + h_rx_agl_m
    # least-squares line (P.452 equations 161-164 with even steps), the sea share and the
    # steepest slope from the transmitter's end, in m per step
    v1 = 0.0
    v2 = 0.0
    sea = 1.0 if ground[0] <= 0.0 else 0.0
    s_tim = -math.inf
    for i in range(1, n):
        v1 += ground[i] + ground[i - 1]
        v2 += ground[i] * (3.0 * i - 1.0) + ground[i - 1] * (3.0 * i - 2.0)
        sea += ground[i] <= 0.0
        if i < last:
            s_tim = max(s_tim, (ground[i] + bulge * i * (last - i) - h_ts) * inv[i])
    v1 *= delta
    v2 *= delta * delta
    fresnel = math.sqrt(0.002 * d / wavelength_m) / delta
    nu = _bullington_rest(ground, n, h_ts, h_rs, s_tim, bulge, fresnel, inv, inv_sqrt, True)
    h_st = (2.0 * v1 * d - v2) / (d * d)
    h_sr = (v2 - v1 * d) / (d * d)
    # lowered by the highest obstruction of the line between the antennas (no bulge),
    # shared between the ends as the slopes towards it (P.452 Attachment 2, 5.1.6.3)
    rise = (h_rs - h_ts) * inv[last]
    h_obs = -math.inf
    slope_t = -math.inf
    slope_r = -math.inf
    for i in range(1, last):
        above = ground[i] - h_ts - rise * i
        h_obs = max(h_obs, above)
        slope_t = max(slope_t, above * inv[i])
        slope_r = max(slope_r, above * inv[last - i])
    if h_obs > 0.0:
        h_st -= h_obs * slope_t / (slope_t + slope_r)
        h_sr -= h_obs * slope_r / (slope_t + slope_r)
    h_te = h_ts - min(h_st, ground[0])
    h_re = h_rs - min(h_sr, ground[last])
    s_tim_smooth = -math.inf
    for i in range(1, last):
        s_tim_smooth = max(s_tim_smooth, (bulge * i * (last - i) - h_te) * inv[i])
    nu_smooth = _bullington_rest(ground, n, h_te, h_re, s_tim_smooth, bulge, fresnel, inv,
                                 inv_sqrt, False)
    sea_fraction = sea / n if sea_from_zero else 0.0
    free_space = 20.0 * math.log10(d) + 20.0 * math.log10(f_mhz) + 32.45
    smooth = free_space + spherical_earth_loss_db(
        d, h_te, h_re, k_factor * DIFFRACTION_RADIUS_KM, f_ghz, sea_fraction, True)
    if two_ray:
        smooth = max(smooth, 40.0 * math.log10(d * 1000.0) - 20.0 * math.log10(h_te)
                     - 20.0 * math.log10(h_re))
    excess = bullington_loss_of_nu(nu, d) - bullington_loss_of_nu(nu_smooth, d)
    return smooth + max(0.0, excess), nu


@njit(cache=True, nogil=True, inline="always")
def _bullington_rest(ground, n, h_t, h_r, s_tim, bulge, fresnel, inv, inv_sqrt, terrain):
    """`diffraction.bullington_nu` once the steepest slope from the transmitter is known
    (in m per step): over the ground when `terrain`, over sea level when not."""
    last = n - 1
    rise = (h_r - h_t) * inv[last]  # the direct line, m per step
    if s_tim <= rise:
        v_max = -math.inf
        for i in range(1, last):
            height = (ground[i] if terrain else 0.0) + bulge * i * (last - i)
            clearance = height - h_t - rise * i
            v_max = max(v_max, clearance * inv_sqrt[i] * inv_sqrt[last - i])
        return v_max * fresnel
    s_rim = -math.inf
    for i in range(1, last):
        height = (ground[i] if terrain else 0.0) + bulge * i * (last - i)
        s_rim = max(s_rim, (height - h_r) * inv[last - i])
    # the edge, in steps from the transmitter, and its height above the direct line
    i_bp = (h_r - h_t + s_rim * last) / (s_tim + s_rim)
    above = h_t + s_tim * i_bp - h_t - rise * i_bp
    return above * fresnel / math.sqrt(i_bp * (last - i_bp))


@njit(cache=True, nogil=True, parallel=True)
def link_rows(heights, first_lat, first_lon, step, link_step, row_start, row_stop, rx_lat,
              rx_lon, rx_agl_m, tx_agl_m, f_mhz, k_factor, sea_from_zero, two_ray,
              tables, out):
    """Rows [row_start, row_stop) of `out`, for every receiver: the link lattice's nodes
    are `link_step` apart from the grid's first sample (a multiple or a fraction of the
    grid's step); see the module docstring."""
    spacing_km = step * math.pi * EARTH_RADIUS_KM / 180.0
    n_rx = rx_lat.shape[0]
    cols = out.shape[1]
    inv, inv_sqrt = tables[0], tables[1]
    for row in prange(row_start, row_stop):
        ground = np.empty(tables.shape[1])
        lat = first_lat - row * link_step
        for col in range(cols):
            lon = first_lon + col * link_step
            for r in range(n_rx):
                n, d = link_profile(heights, first_lat, first_lon, step, rx_lat[r],
                                    rx_lon[r], lat, lon, spacing_km, ground)
                loss, nu = profile_loss_db(ground, n, d, inv, inv_sqrt, rx_agl_m[r],
                                           tx_agl_m, f_mhz, k_factor, sea_from_zero, two_ray)
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
