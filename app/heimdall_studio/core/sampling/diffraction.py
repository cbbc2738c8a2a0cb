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

EARTH_RADIUS_KM = 6371.0  # P.452's own value (config.geo uses the mean radius 6371.0088)
KNIFE_EDGE_FROM = -0.78  # J(v) is 0 below this (P.526 equation 31)


@njit(cache=True, nogil=True)
def knife_edge_loss_db(v):
    """J(v) of P.526: the loss of a single knife edge of diffraction parameter v."""
    if v <= KNIFE_EDGE_FROM:
        return 0.0
    w = v - 0.1
    return 6.9 + 20.0 * math.log10(math.sqrt(w * w + 1.0) + w)


@njit(cache=True, nogil=True)
def bullington_nu(dist_km, height_m, h_tx_m, h_rx_m, wavelength_m, k_factor):
    """The diffraction parameter of Bullington's single equivalent knife edge (P.452-16
    4.2.1, equations 14-19): of the point nearest the direct ray on a line-of-sight path
    (negative when the ray clears everything), of the edge where the two steepest lines
    from the antennas meet on a path beyond it. The earth's bulge is included."""
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
        return v_max
    # beyond line of sight: the edge where the two steepest lines meet
    s_rim = -math.inf
    for i in range(1, n - 1):
        di = dist_km[i]
        bulge = 500.0 * curvature * di * (d - di)
        s_rim = max(s_rim, (height_m[i] + bulge - h_rx_m) / (d - di))
    d_bp = (h_rx_m - h_tx_m + s_rim * d) / (s_tim + s_rim)
    return ((h_tx_m + s_tim * d_bp - (h_tx_m * (d - d_bp) + h_rx_m * d_bp) / d)
            * math.sqrt(0.002 * d / (wavelength_m * d_bp * (d - d_bp))))


@njit(cache=True, nogil=True)
def bullington_loss_db(dist_km, height_m, h_tx_m, h_rx_m, wavelength_m, k_factor):
    """Bullington's loss over the profile as P.452-16 gives it (4.2.1, equation 20): the
    knife-edge loss J(v) of the single equivalent edge, plus the correction
    (1 - exp(-L/6)) (10 + 0.02 d) for the obstructions it stands in for."""
    d = dist_km[dist_km.shape[0] - 1]
    return bullington_loss_of_nu(bullington_nu(dist_km, height_m, h_tx_m, h_rx_m,
                                               wavelength_m, k_factor), d)


@njit(cache=True, nogil=True)
def bullington_loss_of_nu(nu, d_km):
    """P.452-16 equation 20: the knife-edge loss of the equivalent edge of diffraction
    parameter `nu`, corrected for a path `d_km` long."""
    loss = knife_edge_loss_db(nu)
    return loss + (1.0 - math.exp(-loss / 6.0)) * (10.0 + 0.02 * d_km)


# Ground electrical constants of P.452 4.2.2.1: land, and sea water.
LAND_PERMITTIVITY, LAND_CONDUCTIVITY = 22.0, 0.003
SEA_PERMITTIVITY, SEA_CONDUCTIVITY = 80.0, 5.0


@njit(cache=True, nogil=True)
def _height_gain_db(b, k):
    """G(Y) of P.452 equation 35, at least 2 + 20 log10(K)."""
    if b > 2.0:
        g = 17.6 * math.sqrt(b - 1.1) - 5.0 * math.log10(b - 1.1) - 8.0
    else:
        g = 20.0 * math.log10(b + 0.1 * b ** 3)
    return max(g, 2.0 + 20.0 * math.log10(k))


@njit(cache=True, nogil=True)
def first_term_loss_db(d_km, h_te_m, h_re_m, radius_km, f_ghz, permittivity, conductivity,
                       vertical):
    """The first-term spherical-earth diffraction loss (P.452-16 equations 30-37) over
    ground of the given permittivity and conductivity (S/m)."""
    k = (0.036 * (radius_km * f_ghz) ** (-1.0 / 3.0)
         * ((permittivity - 1.0) ** 2 + (18.0 * conductivity / f_ghz) ** 2) ** -0.25)
    if vertical:
        k *= math.sqrt(permittivity ** 2 + (18.0 * conductivity / f_ghz) ** 2)
    k2 = k * k
    beta = (1.0 + 1.6 * k2 + 0.67 * k2 * k2) / (1.0 + 4.5 * k2 + 1.53 * k2 * k2)
    x = 21.88 * beta * (f_ghz / radius_km ** 2) ** (1.0 / 3.0) * d_km
    y_scale = 0.9575 * beta * (f_ghz ** 2 / radius_km) ** (1.0 / 3.0)
    if x >= 1.6:
        distance_term = 11.0 + 10.0 * math.log10(x) - 17.6 * x
    else:
        distance_term = -20.0 * math.log10(x) - 5.6488 * x ** 1.425
    return (-distance_term - _height_gain_db(beta * y_scale * h_te_m, k)
            - _height_gain_db(beta * y_scale * h_re_m, k))


@njit(cache=True, nogil=True)
def _first_term_mixed_db(d_km, h_te_m, h_re_m, radius_km, f_ghz, sea_fraction, vertical):
    land = first_term_loss_db(d_km, h_te_m, h_re_m, radius_km, f_ghz, LAND_PERMITTIVITY,
                              LAND_CONDUCTIVITY, vertical)
    if sea_fraction <= 0.0:
        return land
    sea = first_term_loss_db(d_km, h_te_m, h_re_m, radius_km, f_ghz, SEA_PERMITTIVITY,
                             SEA_CONDUCTIVITY, vertical)
    return sea_fraction * sea + (1.0 - sea_fraction) * land


@njit(cache=True, nogil=True)
def spherical_earth_loss_db(d_km, h_te_m, h_re_m, radius_km, f_ghz, sea_fraction, vertical):
    """Diffraction loss of a smooth sphere of radius `radius_km` between antennas h_te,
    h_re above it (P.452-16 4.2.2, equations 21-29): the first-term loss beyond the
    marginal line-of-sight distance, that loss scaled by the clearance's shortfall
    inside it, 0 where the first Fresnel zone is clear enough."""
    wavelength_m = 0.299792458 / f_ghz
    d_los = math.sqrt(2.0 * radius_km) * (math.sqrt(0.001 * h_te_m) + math.sqrt(0.001 * h_re_m))
    if d_km >= d_los:
        return _first_term_mixed_db(d_km, h_te_m, h_re_m, radius_km, f_ghz, sea_fraction,
                                    vertical)
    c = (h_te_m - h_re_m) / (h_te_m + h_re_m)
    m = 250.0 * d_km * d_km / (radius_km * (h_te_m + h_re_m))
    b = (2.0 * math.sqrt((m + 1.0) / (3.0 * m))
         * math.cos(math.pi / 3.0 + math.acos(1.5 * c * math.sqrt(3.0 * m / (m + 1.0) ** 3))
                    / 3.0))
    d_se1 = 0.5 * d_km * (1.0 + b)
    d_se2 = d_km - d_se1
    h_se = ((h_te_m - 500.0 * d_se1 * d_se1 / radius_km) * d_se2
            + (h_re_m - 500.0 * d_se2 * d_se2 / radius_km) * d_se1) / d_km
    h_req = 17.456 * math.sqrt(d_se1 * d_se2 * wavelength_m / d_km)
    if h_se > h_req:
        return 0.0
    radius_m = 500.0 * (d_km / (math.sqrt(h_te_m) + math.sqrt(h_re_m))) ** 2
    loss = _first_term_mixed_db(d_km, h_te_m, h_re_m, radius_m, f_ghz, sea_fraction, vertical)
    return max(0.0, (1.0 - h_se / h_req) * loss)


@njit(cache=True, nogil=True)
def least_squares_heights(dist_km, height_m):
    """Heights above sea level, at the two ends, of the least-squares straight line
    through the profile (P.452-16 Attachment 2, 5.1.6.2, equations 161-164)."""
    n = dist_km.shape[0]
    d = dist_km[n - 1]
    v1 = 0.0
    v2 = 0.0
    for i in range(1, n):
        step = dist_km[i] - dist_km[i - 1]
        v1 += step * (height_m[i] + height_m[i - 1])
        v2 += step * (height_m[i] * (2.0 * dist_km[i] + dist_km[i - 1])
                      + height_m[i - 1] * (dist_km[i] + 2.0 * dist_km[i - 1]))
    return (2.0 * v1 * d - v2) / (d * d), (v2 - v1 * d) / (d * d)


@njit(cache=True, nogil=True)
def smooth_earth_heights(dist_km, height_m, h_ts_m, h_rs_m):
    """Heights above sea level, at the two ends, of the smooth surface the effective
    antenna heights of diffraction are measured from (P.452-16 Attachment 2, 5.1.6.2
    and 5.1.6.3): the least-squares straight line through the profile, lowered where
    the terrain stands above the line between the antennas (by the highest obstruction,
    shared between the ends as the slopes towards it), and not above the ground."""
    n = dist_km.shape[0]
    d = dist_km[n - 1]
    h_st, h_sr = least_squares_heights(dist_km, height_m)
    h_obs = -math.inf
    slope_t = -math.inf
    slope_r = -math.inf
    for i in range(1, n - 1):
        di = dist_km[i]
        above = height_m[i] - (h_ts_m * (d - di) + h_rs_m * di) / d
        h_obs = max(h_obs, above)
        slope_t = max(slope_t, above / di)
        slope_r = max(slope_r, above / (d - di))
    if h_obs > 0.0:
        h_st -= h_obs * slope_t / (slope_t + slope_r)
        h_sr -= h_obs * slope_r / (slope_t + slope_r)
    return min(h_st, height_m[0]), min(h_sr, height_m[n - 1])


@njit(cache=True, nogil=True)
def delta_bullington_loss_db(dist_km, height_m, h_tx_agl_m, h_rx_agl_m, f_ghz, k_factor,
                             sea_fraction, vertical):
    """The delta-Bullington diffraction loss of P.452-16 4.2.3 (equation 40): Bullington
    over the real profile, plus what the smooth sphere loses beyond what Bullington
    gives it, `L = L_bull(profile) + max(L_dsph - L_bull(smooth), 0)`. Antenna heights
    are above the ground at the two ends."""
    d = dist_km[dist_km.shape[0] - 1]
    nu, nu_smooth, h_te, h_re = _profile_and_smooth_nu(dist_km, height_m, h_tx_agl_m,
                                                       h_rx_agl_m, f_ghz, k_factor)
    sphere = spherical_earth_loss_db(d, h_te, h_re, k_factor * EARTH_RADIUS_KM, f_ghz,
                                     sea_fraction, vertical)
    return bullington_loss_of_nu(nu, d) + max(
        sphere - bullington_loss_of_nu(nu_smooth, d), 0.0)


@njit(cache=True, nogil=True)
def _profile_and_smooth_nu(dist_km, height_m, h_tx_agl_m, h_rx_agl_m, f_ghz, k_factor):
    """Bullington's diffraction parameter of the profile and of its smooth profile (sea
    level, the antennas at their heights above the smooth earth), and those heights:
    `(nu, nu_smooth, h_te, h_re)`, what both delta-Bullington losses are made of."""
    n = dist_km.shape[0]
    wavelength_m = 0.299792458 / f_ghz
    h_ts = height_m[0] + h_tx_agl_m
    h_rs = height_m[n - 1] + h_rx_agl_m
    nu = bullington_nu(dist_km, height_m, h_ts, h_rs, wavelength_m, k_factor)
    h_st, h_sr = smooth_earth_heights(dist_km, height_m, h_ts, h_rs)
    h_te = h_ts - h_st
    h_re = h_rs - h_sr
    nu_smooth = bullington_nu(dist_km, height_m * 0.0, h_te, h_re, wavelength_m, k_factor)
    return nu, nu_smooth, h_te, h_re


# Line of sight: the terrain leaves at least this share of the first Fresnel zone clear.
# The clearance of a point is -h / r1 with r1 the zone's radius there, and v = sqrt(2) h / r1,
# so 60 % clearance is v <= -0.6 sqrt(2).
FRESNEL_CLEARANCE = 0.6
LINE_OF_SIGHT_NU = -FRESNEL_CLEARANCE * math.sqrt(2.0)


@njit(cache=True, nogil=True)
def terrain_loss_db(dist_km, height_m, h_tx_agl_m, h_rx_agl_m, f_mhz, k_factor,
                    sea_fraction, two_ray):
    """The terrain model's basic transmission loss of one link (docs/propagation.md) and
    the diffraction parameter of its profile (line of sight when at most
    LINE_OF_SIGHT_NU): `(loss_db, nu)`.

        h't, h'r  antenna heights above the smooth earth of the profile (P.452-16
                  Attachment 2, 5.1.6.3: the least-squares line, lowered under what
                  obstructs the line between the antennas, not above the ground at
                  either end)
        L_smooth  max(plane earth(h't, h'r), free space + spherical earth(h't, h'r))
                  (free space + spherical earth only when not `two_ray`)
        L         L_smooth + max(0, L_bull(profile) - L_bull(smooth profile))

    L_bull is P.452's Bullington loss (its single equivalent knife edge, with the earth's
    bulge, and the correction of equation 20); the smooth profile is sea level with the
    antennas at h't, h'r, over the same points.
    """
    d = dist_km[dist_km.shape[0] - 1]
    f_ghz = 1e-3 * f_mhz
    nu, nu_smooth, h_te, h_re = _profile_and_smooth_nu(dist_km, height_m, h_tx_agl_m,
                                                       h_rx_agl_m, f_ghz, k_factor)
    free_space = 20.0 * math.log10(d) + 20.0 * math.log10(f_mhz) + 32.45
    smooth = free_space + spherical_earth_loss_db(d, h_te, h_re, k_factor * EARTH_RADIUS_KM,
                                                  f_ghz, sea_fraction, True)
    if two_ray:
        smooth = max(smooth, 40.0 * math.log10(d * 1000.0) - 20.0 * math.log10(h_te)
                     - 20.0 * math.log10(h_re))
    excess = bullington_loss_of_nu(nu, d) - bullington_loss_of_nu(nu_smooth, d)
    return smooth + max(0.0, excess), nu
