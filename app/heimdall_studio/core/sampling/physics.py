"""Propagation and geometry formulas of docs/generation.md (Propagation; Geometry and the
filter), as numba scalar functions.

They are the reference: the generator kernel (`kernel_v2`) calls `gdop_from_vectors` and
evaluates the link formulas rearranged to save libm calls; tests hold it to these.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..config import geo
from ..config.geo import EARTH_RADIUS_KM

MIN_RX_HEIGHT_M = 10.0
THERMAL_NOISE_DBM_HZ = -174.0

PATH_LOSS_TWO_RAY = 0
PATH_LOSS_FREE_SPACE = 1
PATH_LOSS_CODES = {"two_ray": PATH_LOSS_TWO_RAY, "free_space": PATH_LOSS_FREE_SPACE}


# Great-circle distance in km, never below MIN_DISTANCE_KM: geo's, compiled (the kernel
# writes it out rearranged; tests hold it to this).
haversine_km = njit(cache=True, nogil=True)(geo.haversine_km)


@njit(cache=True, nogil=True)
def free_space_loss_db(d_km, f_mhz):
    return 20.0 * math.log10(d_km) + 20.0 * math.log10(f_mhz) + 32.45


@njit(cache=True, nogil=True)
def plane_earth_loss_db(d_km, h_tx_m, h_rx_m):
    return (40.0 * math.log10(d_km * 1000.0)
            - 20.0 * math.log10(h_tx_m) - 20.0 * math.log10(h_rx_m))


@njit(cache=True, nogil=True)
def path_loss_db(d_km, f_mhz, h_tx_m, h_rx_m, model):
    fspl = free_space_loss_db(d_km, f_mhz)
    if model == PATH_LOSS_FREE_SPACE:
        return fspl
    return max(fspl, plane_earth_loss_db(d_km, h_tx_m, h_rx_m))


@njit(cache=True, nogil=True)
def receiver_height_m(rx_alt_m, ground_m):
    return max(rx_alt_m - ground_m, MIN_RX_HEIGHT_M)


@njit(cache=True, nogil=True)
def noise_floor_dbm(bandwidth_hz, noise_figure_db):
    return THERMAL_NOISE_DBM_HZ + 10.0 * math.log10(bandwidth_hz) + noise_figure_db


@njit(cache=True, nogil=True)
def fading_db(n1, n2, rician_k_linear, line_of_sight):
    """10 log10 |h|^2 with E|h|^2 = 1, from two standard normals.

    Rician with factor K on line-of-sight links, Rayleigh otherwise.
    """
    scatter = (n1 * n1 + n2 * n2) * 0.5  # |CN(0, 1)|^2
    if line_of_sight:
        k = rician_k_linear
        los = math.sqrt(k / (k + 1.0))
        s = math.sqrt(1.0 / (2.0 * (k + 1.0)))
        re = los + s * n1
        im = s * n2
        power = re * re + im * im
    else:
        power = scatter
    return 10.0 * math.log10(max(power, 1e-30))


@njit(cache=True, nogil=True)
def gdop_from_vectors(east, north, use, count):
    """GDOP of a TOA fix with unknown emission time (docs/generation.md).

    `east`, `north`: vectors from the transmitter to each receiver; only entries with
    `use[i]` count. Fewer than three, or a singular geometry, gives +inf.
    """
    n = 0
    see = 0.0
    snn = 0.0
    sen = 0.0
    se = 0.0
    sn = 0.0
    for i in range(count):
        if not use[i]:
            continue
        norm2 = east[i] * east[i] + north[i] * north[i]
        if norm2 > 0.0:
            inv = 1.0 / math.sqrt(norm2)
            ue = east[i] * inv
            un = north[i] * inv
        else:
            ue = 0.0
            un = 0.0
        n += 1
        see += ue * ue
        snn += un * un
        sen += ue * un
        se += ue
        sn += un
    if n < 3:
        return np.inf
    # G^T G = [[see, sen, se], [sen, snn, sn], [se, sn, n]]; only Q00 + Q11 is needed.
    c00 = snn * n - sn * sn
    c11 = see * n - se * se
    c01 = sen * n - sn * se
    c02 = sen * sn - snn * se
    det = see * c00 - sen * c01 + se * c02
    if det <= 1e-12 * n:
        return np.inf
    trace = (c00 + c11) / det
    if trace <= 0.0:
        return np.inf
    return math.sqrt(trace)


@njit(cache=True, nogil=True)
def local_east_north_km(tx_lat, tx_lon, rx_lat, rx_lon):
    """Equirectangular east/north offset (km) of a receiver from the transmitter."""
    east = EARTH_RADIUS_KM * math.cos(math.radians(tx_lat)) * math.radians(rx_lon - tx_lon)
    north = EARTH_RADIUS_KM * math.radians(rx_lat - tx_lat)
    return east, north


@njit(cache=True, nogil=True)
def gdop_at(tx_lat, tx_lon, rx_lat, rx_lon, use):
    """GDOP for a transmitter position and the receivers flagged in `use`."""
    count = rx_lat.shape[0]
    east = np.empty(count)
    north = np.empty(count)
    for i in range(count):
        east[i], north[i] = local_east_north_km(tx_lat, tx_lon, rx_lat[i], rx_lon[i])
    return gdop_from_vectors(east, north, use, count)


@njit(cache=True, nogil=True)
def gdop_of_samples(tx_lat, tx_lon, rx_lat, rx_lon, present):
    """`gdop_at` of every sample: `verify` recomputes stored GDOP with it."""
    out = np.empty(tx_lat.shape[0])
    for i in range(tx_lat.shape[0]):
        out[i] = gdop_at(tx_lat[i], tx_lon[i], rx_lat, rx_lon, present[i])
    return out
