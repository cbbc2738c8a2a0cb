"""The fused generator kernel: rejection sampling of whole chunks, in parallel.

One call fills a block of consecutive chunks. Each stratum of each chunk is a piece of
work for one thread; inside it, candidates are drawn strictly in order from that chunk's
stream for the stratum, so the output never depends on the number of threads.

This is generator version 2 (`config/versions.py`); `generator` calls it through `kernel_inputs` and
`fill_block`, as it calls every version's kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config.geo import EARTH_RADIUS_KM, MIN_DISTANCE_KM, receiver_box, training_box
from .physics import (
    PATH_LOSS_CODES,
    PATH_LOSS_TWO_RAY,
    free_space_loss_db,
    gdop_from_vectors,
    noise_floor_dbm,
    receiver_height_m,
)
from .rng import candidate_key, normal, uniform

# Draws per candidate: 3 for the position, then DRAWS_PER_LINK for each receiver
# (clutter, shadowing, two fading normals, frequency offset).
DRAWS_POSITION = 3
DRAWS_PER_LINK = 5
DRAW_FREQ_OFFSET = 4

RAYLEIGH_SCATTER = math.sqrt(0.5)  # |CN(0, 1)|: each of re, im is N(0, 1/2)
# 10 log10(x) = DB_PER_NEPER * ln(x); libm's log is several times faster than its log10.
DB_PER_NEPER = 10.0 / math.log(10.0)

# counters[chunk, stratum, :]
COUNT_CANDIDATES = 0
COUNT_TOO_FEW = 1
COUNT_GDOP = 2

# Give up on a stratum below 1 kept per UNFILLABLE_RATIO candidates after UNFILLABLE_AFTER.
UNFILLABLE_AFTER = 1_000_000
UNFILLABLE_RATIO = 10_000

STATUS_OK = 0  # status[chunk, stratum]; STATUS_UNFILLABLE if it could not be filled
STATUS_UNFILLABLE = 1


@njit(cache=True, nogil=True)
def is_inside(index, inside_ratio):
    """Stratification by sample index: every prefix keeps the inside ratio (docs/generation.md)."""
    return math.floor((index + 1) * inside_ratio) - math.floor(index * inside_ratio) == 1


@njit(cache=True, nogil=True)
def draw_position(key, inside, rx_box, tr_box):
    """Transmitter lat/lon: uniform in the receiver box, or in the ring around it."""
    u_lat = uniform(key, 0)
    u_lon = uniform(key, 1)
    lat0, lat1, lon0, lon1 = rx_box[0], rx_box[1], rx_box[2], rx_box[3]
    if inside:
        return lat0 + u_lat * (lat1 - lat0), lon0 + u_lon * (lon1 - lon0)
    t_lat0, t_lat1, t_lon0, t_lon1 = tr_box[0], tr_box[1], tr_box[2], tr_box[3]
    # The ring is four rectangles: full-width strips north and south, then west and east.
    width = t_lon1 - t_lon0
    a_north = (t_lat1 - lat1) * width
    a_south = (lat0 - t_lat0) * width
    a_west = (lat1 - lat0) * (lon0 - t_lon0)
    a_east = (lat1 - lat0) * (t_lon1 - lon1)
    pick = uniform(key, 2) * (a_north + a_south + a_west + a_east)
    if pick < a_north:
        return lat1 + u_lat * (t_lat1 - lat1), t_lon0 + u_lon * width
    pick -= a_north
    if pick < a_south:
        return t_lat0 + u_lat * (lat0 - t_lat0), t_lon0 + u_lon * width
    pick -= a_south
    if pick < a_west:
        return lat0 + u_lat * (lat1 - lat0), t_lon0 + u_lon * (lon0 - t_lon0)
    return lat0 + u_lat * (lat1 - lat0), lon1 + u_lon * (t_lon1 - lon1)


# Per-receiver constants, precomputed once per run: rx[r, RX_*]
(RX_LAT_RAD, RX_LON_RAD, RX_COS_LAT, RX_SIN_HALF_LAT, RX_COS_HALF_LAT, RX_SIN_HALF_LON,
 RX_COS_HALF_LON, RX_PEL_DB, RX_CROSSOVER_KM, RX_LINK_DB, RX_NOISE_DBM) = range(11)
RX_COLUMNS = 11


def receiver_constants(rx_lat, rx_lon, rx_height_m, rx_gain_dbi, rx_noise_dbm, tx_height_m,
                       frequency_mhz, model):
    """Link terms that do not depend on the transmitter, so the kernel skips them."""
    lat = np.radians(rx_lat)
    lon = np.radians(rx_lon)
    out = np.empty((len(rx_lat), RX_COLUMNS))
    out[:, RX_LAT_RAD] = lat
    out[:, RX_LON_RAD] = lon
    out[:, RX_COS_LAT] = np.cos(lat)
    out[:, RX_SIN_HALF_LAT] = np.sin(0.5 * lat)
    out[:, RX_COS_HALF_LAT] = np.cos(0.5 * lat)
    out[:, RX_SIN_HALF_LON] = np.sin(0.5 * lon)
    out[:, RX_COS_HALF_LON] = np.cos(0.5 * lon)
    # plane-earth loss = 40 log10(d_km) + RX_PEL_DB (d in metres: +120 dB)
    out[:, RX_PEL_DB] = 120.0 - 20.0 * np.log10(tx_height_m) - 20.0 * np.log10(rx_height_m)
    # Beyond this distance plane-earth loss exceeds free-space loss (two-ray model).
    if model == PATH_LOSS_TWO_RAY:
        out[:, RX_CROSSOVER_KM] = 10.0 ** ((fspl_constant_db(frequency_mhz)
                                            - out[:, RX_PEL_DB]) / 20.0)
    else:
        out[:, RX_CROSSOVER_KM] = np.inf
    # SNR = tx power + RX_LINK_DB - path loss - clutter + shadowing + fading
    out[:, RX_LINK_DB] = rx_gain_dbi - rx_noise_dbm
    out[:, RX_NOISE_DBM] = rx_noise_dbm
    return out


def fspl_constant_db(frequency_mhz):
    """Free-space loss = 20 log10(d_km) + this: the loss at 1 km."""
    return free_space_loss_db(1.0, frequency_mhz)


@njit(cache=True, nogil=True)
def evaluate_candidate(key, inside, rx_box, tr_box, rx, params, snr, dist, present,
                       east, north):
    """Place one transmitter and find the SNR at every receiver.

    The formulas are those of `physics` (docs/generation.md), rearranged to save libm calls:
    - haversine takes sin((a - b) / 2) from the half-angle sines and cosines of both
      ends, so the transmitter costs four sin/cos and each link none;
    - the path loss is 20 or 40 log10(d) plus a constant (two-ray picks the larger,
      which is the 40 log10 branch beyond a per-receiver crossover distance), and shares
      one logarithm with the fading: 10 log10(|h|^2 / d^2) or 10 log10(|h|^2 / d^4);
    - normals come from the ziggurat (`rng.normal`); Rayleigh is Rician without the
      line-of-sight term.
    Every link is evaluated: stopping once `min_receivers` is out of reach saves less
    than the unpredictable branch costs. Also fills the local east/north offsets of the
    receivers that GDOP needs (physics.local_east_north_km). Returns
    (lat, lon, detected); params: see `kernel_params`.
    """
    p_tx = params[0]
    min_snr = params[1]
    c_min = params[2]
    c_span = params[3]
    sigma = params[4]
    los_amp = params[5]
    scatter_amp = params[6]
    los_km = params[7]
    fspl_const = params[8]
    lat, lon = draw_position(key, inside, rx_box, tr_box)
    lat_rad = math.radians(lat)
    lon_rad = math.radians(lon)
    half_lat = 0.5 * lat_rad
    half_lon = 0.5 * lon_rad
    s_hlat = math.sin(half_lat)
    c_hlat = math.cos(half_lat)
    s_hlon = math.sin(half_lon)
    c_hlon = math.cos(half_lon)
    cos_lat = (c_hlat - s_hlat) * (c_hlat + s_hlat)
    n_rx = rx.shape[0]
    detected = 0
    for r in range(n_rx):
        base = DRAWS_POSITION + r * DRAWS_PER_LINK
        # haversine (physics.haversine_km) with sin(x - y) = sin x cos y - cos x sin y
        s_lat = rx[r, RX_SIN_HALF_LAT] * c_hlat - rx[r, RX_COS_HALF_LAT] * s_hlat
        s_lon = rx[r, RX_SIN_HALF_LON] * c_hlon - rx[r, RX_COS_HALF_LON] * s_hlon
        a = s_lat * s_lat + cos_lat * rx[r, RX_COS_LAT] * s_lon * s_lon
        d = max(2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))), MIN_DISTANCE_KM)
        clutter = c_min + uniform(key, base) * c_span
        shadow = sigma * normal(key, base + 1)
        # fading: h = line of sight + scatter * (n1 + i n2), E|h|^2 = 1
        if d < los_km:
            re = los_amp + scatter_amp * normal(key, base + 2)
            spread = scatter_amp
        else:
            re = RAYLEIGH_SCATTER * normal(key, base + 2)
            spread = RAYLEIGH_SCATTER
        im = spread * normal(key, base + 3)
        power = max(re * re + im * im, 1e-30)
        if d > rx[r, RX_CROSSOVER_KM]:  # plane-earth: 40 log10(d) + RX_PEL_DB
            gain_db = DB_PER_NEPER * math.log(power / (d * d * d * d)) - rx[r, RX_PEL_DB]
        else:  # free space: 20 log10(d) + fspl_const
            gain_db = DB_PER_NEPER * math.log(power / (d * d)) - fspl_const
        s = p_tx + rx[r, RX_LINK_DB] + gain_db - clutter + shadow
        dist[r] = d
        snr[r] = s
        present[r] = s >= min_snr
        detected += present[r]
        east[r] = EARTH_RADIUS_KM * cos_lat * (rx[r, RX_LON_RAD] - lon_rad)
        north[r] = EARTH_RADIUS_KM * (rx[r, RX_LAT_RAD] - lat_rad)
    return lat, lon, detected


def kernel_params(config) -> np.ndarray:
    """The scalar parameters `evaluate_candidate` reads, in its order."""
    prop = config.propagation
    k = 10.0 ** (prop.rician_k_db / 10.0)
    return np.array([
        config.tx_power_dbm, config.min_snr_db, prop.clutter_min_db,
        prop.clutter_max_db - prop.clutter_min_db, prop.shadowing_sigma_db,
        math.sqrt(k / (k + 1.0)),  # line-of-sight amplitude of Rician h
        math.sqrt(1.0 / (2.0 * (k + 1.0))),  # scatter amplitude per unit normal
        prop.los_distance_km,
        fspl_constant_db(config.frequency_mhz),
    ])


@njit(cache=True, nogil=True, parallel=True)
def draw_chunks(keys, chunk_first, chunk_start, chunk_stop, out_offset, inside_ratio,
                   rx_box, tr_box, rx, params, min_receivers, max_gdop,
                   max_freq_offset_hz,
                   tx_lat, tx_lon, inside_out, gdop_out, ndet_out, mean_snr_out,
                   present_out, snr_out, prx_out, foff_out, dist_out, counters, status):
    """Fill output rows for the chunks of one block.

    Chunk j covers sample indices [chunk_first[j], chunk_stop[j]); samples before
    chunk_start[j] are drawn (to advance the streams) but not stored or counted.
    Sample index i goes to output row i - out_offset. keys[j, stratum] is that chunk's
    stream key. counters[j, stratum] = candidates, too-few rejections, GDOP rejections.

    Each stratum of each chunk has a stream of its own, so the two are filled in parallel
    too: a block of three chunks is six pieces of work for two threads, not three.
    """
    n_rx = rx.shape[0]
    for item in prange(2 * keys.shape[0]):
        j = item // 2
        s = item % 2
        snr = np.empty(n_rx)
        dist = np.empty(n_rx)
        east = np.empty(n_rx)
        north = np.empty(n_rx)
        present = np.zeros(n_rx, dtype=np.bool_)
        drawn = 0
        kept = 0
        inside = s == 0
        for index in range(chunk_first[j], chunk_stop[j]):
            if is_inside(index, inside_ratio) != inside:
                continue  # the other stratum's sample
            counted = index >= chunk_start[j]
            while True:
                key = candidate_key(keys[j, s, 0], keys[j, s, 1], drawn)
                drawn += 1
                lat, lon, detected = evaluate_candidate(
                    key, inside, rx_box, tr_box, rx, params, snr, dist, present, east, north)
                if counted:
                    counters[j, s, COUNT_CANDIDATES] += 1
                g = np.inf
                if detected >= min_receivers:
                    g = gdop_from_vectors(east, north, present, n_rx)
                    if g <= max_gdop:
                        break
                if counted:
                    if detected < min_receivers:
                        counters[j, s, COUNT_TOO_FEW] += 1
                    else:
                        counters[j, s, COUNT_GDOP] += 1
                if drawn >= UNFILLABLE_AFTER and kept * UNFILLABLE_RATIO < drawn:
                    status[j, s] = STATUS_UNFILLABLE
                    break
            if status[j, s] != STATUS_OK:
                break
            kept += 1
            if not counted:
                continue
            row = index - out_offset
            tx_lat[row] = lat
            tx_lon[row] = lon
            inside_out[row] = inside
            gdop_out[row] = g
            ndet_out[row] = detected
            total = 0.0
            for r in range(n_rx):
                present_out[row, r] = present[r]
                dist_out[row, r] = dist[r]
                if present[r]:
                    snr_out[row, r] = snr[r]
                    prx_out[row, r] = snr[r] + rx[r, RX_NOISE_DBM]
                    u = uniform(key, DRAWS_POSITION + r * DRAWS_PER_LINK + DRAW_FREQ_OFFSET)
                    foff_out[row, r] = (2.0 * u - 1.0) * max_freq_offset_hz
                    total += snr[r]
                else:
                    snr_out[row, r] = np.nan
                    prx_out[row, r] = np.nan
                    foff_out[row, r] = np.nan
            mean_snr_out[row] = total / detected


# ---------------------------------------------------------------------------
# what `generator` calls


def kernel_inputs(config) -> tuple:
    """Config values converted once per run into the arrays the kernel takes."""
    prop = config.propagation
    rx = config.receivers
    constants = receiver_constants(
        np.array([r.lat for r in rx]), np.array([r.lon for r in rx]),
        # flat terrain: ground is 0 m under every transmitter
        np.array([receiver_height_m(r.alt_m, 0.0) for r in rx]),
        np.array([r.antenna_gain_dbi for r in rx]),
        np.array([noise_floor_dbm(config.bandwidth_hz, r.noise_figure_db) for r in rx]),
        prop.tx_height_m, config.frequency_mhz, PATH_LOSS_CODES[prop.path_loss_model])
    return (np.array(receiver_box(config)), np.array(training_box(config)), constants,
            kernel_params(config))


def fill_block(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start, a,
               counters, status) -> None:
    """Fill the block arrays `a` (one per sample field) for the chunks described: every
    field of every sample, so that each version owns all of what it draws."""
    rx_box, tr_box, rx, params = prepared
    draw_chunks(
        keys, chunk_first, chunk_start, chunk_stop, start, config.inside_ratio,
        rx_box, tr_box, rx, params,
        config.min_receivers, config.max_gdop, config.propagation.max_freq_offset_hz,
        a["tx_lat"], a["tx_lon"], a["inside"], a["gdop"], a["num_receivers_detected"],
        a["mean_snr_db"], a["signal_present"], a["snr_db"], a["rx_power_dbm"],
        a["freq_offset_hz"], a["distance_km"], counters, status)
    # What the kernel does not draw: constant for this version's flat world.
    a["tx_alt_m"][:] = config.propagation.tx_height_m  # flat ground at 0 m
    a["frequency_hz"][:] = config.frequency_mhz * 1e6
    a["tx_power_dbm"][:] = config.tx_power_dbm
