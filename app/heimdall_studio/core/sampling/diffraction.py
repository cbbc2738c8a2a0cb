"""Diffraction over a terrain profile, as compiled scalar functions: ITU-R P.526's
knife-edge loss J(v) and P.452-16's Bullington construction (section 4.2.1), the pieces
of the delta-Bullington path loss the terrain model is built from.

A profile is the ground between two antennas: distances from the transmitter in km and
heights above sea level in m, the two ends included. Antenna heights are above sea level
too. The earth's curvature enters through the effective radius k x 6371 km.
"""

from __future__ import annotations

import math

from numba import njit

EARTH_RADIUS_KM = 6371.0
KNIFE_EDGE_FROM = -0.78  # J(v) is 0 below this (P.526 equation 31)


@njit(cache=True, nogil=True)
def knife_edge_loss_db(v):
    """J(v) of P.526: the loss of a single knife edge of diffraction parameter v."""
    if v <= KNIFE_EDGE_FROM:
        return 0.0
    w = v - 0.1
    return 6.9 + 20.0 * math.log10(math.sqrt(w * w + 1.0) + w)


@njit(cache=True, nogil=True)
def bullington_loss_db(dist_km, height_m, h_tx_m, h_rx_m, wavelength_m, k_factor):
    """Bullington's loss over the profile (P.452-16 4.2.1, equations 14-20): the single
    equivalent knife edge of the profile's obstructions, with the earth's bulge, plus the
    correction (1 - exp(-L/6)) (10 + 0.02 d) for the obstructions it stands in for."""
    n = dist_km.shape[0]
    d = dist_km[n - 1]
    curvature = 1.0 / (k_factor * EARTH_RADIUS_KM)  # Ce, 1/km
    # Slope from the transmitter to each point, bulge included; the steepest one, and
    # the slope of the line between the antennas (m/km).
    s_tim = -math.inf
    for i in range(1, n - 1):
        di = dist_km[i]
        bulge = 500.0 * curvature * di * (d - di)
        s_tim = max(s_tim, (height_m[i] + bulge - h_tx_m) / di)
    s_tr = (h_rx_m - h_tx_m) / d
    if s_tim <= s_tr:  # line of sight (grazing included): the point nearest the direct line
        v_max = -math.inf
        for i in range(1, n - 1):
            di = dist_km[i]
            bulge = 500.0 * curvature * di * (d - di)
            clearance = (height_m[i] + bulge
                         - (h_tx_m * (d - di) + h_rx_m * di) / d)
            v_max = max(v_max, clearance * math.sqrt(0.002 * d / (wavelength_m * di * (d - di))))
        loss = knife_edge_loss_db(v_max)
    else:  # beyond line of sight: the edge where the two steepest lines meet
        s_rim = -math.inf
        for i in range(1, n - 1):
            di = dist_km[i]
            bulge = 500.0 * curvature * di * (d - di)
            s_rim = max(s_rim, (height_m[i] + bulge - h_rx_m) / (d - di))
        d_bp = (h_rx_m - h_tx_m + s_rim * d) / (s_tim + s_rim)
        v_b = ((h_tx_m + s_tim * d_bp - (h_tx_m * (d - d_bp) + h_rx_m * d_bp) / d)
               * math.sqrt(0.002 * d / (wavelength_m * d_bp * (d - d_bp))))
        loss = knife_edge_loss_db(v_b)
    return loss + (1.0 - math.exp(-loss / 6.0)) * (10.0 + 0.02 * d)
