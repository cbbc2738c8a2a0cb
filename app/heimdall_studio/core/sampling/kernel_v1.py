"""Generator version 1 (Heimdall Studio 0.1): the kernel that drew its datasets.

Kept so that those datasets can still be expanded bit for bit (docs/generation.md,
Versions): this is the 0.1 kernel as it was, and must not change, even where today's
kernel (`kernel_v2`) does better. What sets it apart:
- shadowing and fading normals by Box-Muller on their own uniforms, six draws per link
  (clutter, two for shadowing, two for fading, frequency offset);
- path loss from log10(d), fading from its own log10 of |h|^2;
- haversine by differences of angles, GDOP unit vectors by division;
- a candidate stops at the first receiver after which `min_receivers` is out of reach.
The random streams themselves (`rng.stream_key`, `candidate_key`, `uniform`) are the ones
every version shares. Chunks run in parallel, one thread each.

Same interface as `kernel_v2` for `generator`: `kernel_inputs(config)`, `fill_block(...)` and the
counter and status constants.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config.geo import EARTH_RADIUS_KM, MIN_DISTANCE_KM, receiver_box, training_box
from .physics import PATH_LOSS_CODES, PATH_LOSS_TWO_RAY, noise_floor_dbm, receiver_height_m
from .rng import candidate_key, uniform

# Draws per candidate: 3 for the position, then DRAWS_PER_LINK for each receiver.
DRAWS_POSITION = 3
DRAWS_PER_LINK = 6

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
RX_LAT_RAD, RX_LON_RAD, RX_COS_LAT, RX_PEL_DB, RX_LINK_DB, RX_NOISE_DBM = range(6)
RX_COLUMNS = 6


def receiver_constants(rx_lat, rx_lon, rx_height_m, rx_gain_dbi, rx_noise_dbm, tx_height_m):
    """Link terms that do not depend on the transmitter, so the kernel skips them."""
    lat = np.radians(rx_lat)
    out = np.empty((len(rx_lat), RX_COLUMNS))
    out[:, RX_LAT_RAD] = lat
    out[:, RX_LON_RAD] = np.radians(rx_lon)
    out[:, RX_COS_LAT] = np.cos(lat)
    # plane-earth loss = 40 log10(d_km) + RX_PEL_DB (d in metres: +120 dB)
    out[:, RX_PEL_DB] = 120.0 - 20.0 * np.log10(tx_height_m) - 20.0 * np.log10(rx_height_m)
    # SNR = tx power + RX_LINK_DB - path loss - clutter + shadowing + fading
    out[:, RX_LINK_DB] = rx_gain_dbi - rx_noise_dbm
    out[:, RX_NOISE_DBM] = rx_noise_dbm
    return out


@njit(cache=True, nogil=True)
def gdop_from_vectors(east, north, use, count):
    """GDOP of a TOA fix with unknown emission time (docs/generation.md), as 0.1 computed it.

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
        norm = math.sqrt(east[i] * east[i] + north[i] * north[i])
        if norm > 0.0:
            ue = east[i] / norm
            un = north[i] / norm
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
def evaluate_candidate(key, inside, rx_box, tr_box, rx, params, model, min_receivers,
                       snr, dist, present):
    """Place one transmitter and find the SNR at every receiver.

    The formulas are those of `physics` (docs/generation.md), fused: log10(d) is shared by
    both path-loss models and Rayleigh fading takes |h|^2 straight from the Box-Muller
    radius. Draws are counter-based, so skipping work never shifts later draws. Stops
    early once too few receivers are left to reach `min_receivers`; returns
    (lat, lon, detected). params: see `kernel_params`.
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
    cos_lat = math.cos(lat_rad)
    n_rx = rx.shape[0]
    detected = 0
    for r in range(n_rx):
        base = DRAWS_POSITION + r * DRAWS_PER_LINK
        # haversine, as physics.haversine_km
        s_lat = math.sin(0.5 * (rx[r, RX_LAT_RAD] - lat_rad))
        s_lon = math.sin(0.5 * (rx[r, RX_LON_RAD] - lon_rad))
        a = s_lat * s_lat + cos_lat * rx[r, RX_COS_LAT] * s_lon * s_lon
        d = max(2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))), MIN_DISTANCE_KM)
        log_d = math.log10(d)
        loss = 20.0 * log_d + fspl_const
        if model == PATH_LOSS_TWO_RAY:
            loss = max(loss, 40.0 * log_d + rx[r, RX_PEL_DB])
        clutter = c_min + uniform(key, base) * c_span
        # shadowing: the cosine half of a Box-Muller pair
        u_s = 1.0 - uniform(key, base + 1)
        shadow = sigma * math.sqrt(-2.0 * math.log(u_s)) * math.cos(
            2.0 * math.pi * uniform(key, base + 2))
        # fading: |h|^2 from the Box-Muller pair (n1, n2) of draws base+3, base+4
        u_f = 1.0 - uniform(key, base + 3)
        half_r2 = -math.log(u_f)  # (n1^2 + n2^2) / 2
        if d < los_km:
            radius = math.sqrt(2.0 * half_r2)
            angle = 2.0 * math.pi * uniform(key, base + 4)
            re = los_amp + scatter_amp * radius * math.cos(angle)
            im = scatter_amp * radius * math.sin(angle)
            power = re * re + im * im
        else:
            power = half_r2
        fading = 10.0 * math.log10(max(power, 1e-30))
        s = p_tx + rx[r, RX_LINK_DB] - loss - clutter + shadow + fading
        dist[r] = d
        snr[r] = s
        present[r] = s >= min_snr
        if present[r]:
            detected += 1
        elif detected + (n_rx - 1 - r) < min_receivers:
            return lat, lon, detected  # cannot reach min_receivers any more
    return lat, lon, detected


@njit(cache=True, nogil=True)
def candidate_gdop(lat, lon, rx, present, east, north):
    """GDOP over the detecting receivers."""
    cos_lat = math.cos(math.radians(lat))
    lat_rad = math.radians(lat)
    lon_rad = math.radians(lon)
    for r in range(rx.shape[0]):
        east[r] = EARTH_RADIUS_KM * cos_lat * (rx[r, RX_LON_RAD] - lon_rad)
        north[r] = EARTH_RADIUS_KM * (rx[r, RX_LAT_RAD] - lat_rad)
    return gdop_from_vectors(east, north, present, rx.shape[0])


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
        20.0 * math.log10(config.frequency_mhz) + 32.45,
    ])


@njit(cache=True, nogil=True, parallel=True)
def draw_chunks(keys, chunk_first, chunk_start, chunk_stop, out_offset, inside_ratio,
                   rx_box, tr_box, rx, params, model, min_receivers, max_gdop,
                   max_freq_offset_hz,
                   tx_lat, tx_lon, inside_out, gdop_out, ndet_out, mean_snr_out,
                   present_out, snr_out, prx_out, foff_out, dist_out, counters, status):
    """Fill output rows for the chunks of one block.

    Chunk j covers sample indices [chunk_first[j], chunk_stop[j]); samples before
    chunk_start[j] are drawn (to advance the streams) but not stored or counted.
    Sample index i goes to output row i - out_offset. keys[j, stratum] is that chunk's
    stream key. counters[j, stratum] = candidates, too-few rejections, GDOP rejections.
    """
    n_rx = rx.shape[0]
    for j in prange(keys.shape[0]):
        snr = np.empty(n_rx)
        dist = np.empty(n_rx)
        east = np.empty(n_rx)
        north = np.empty(n_rx)
        present = np.zeros(n_rx, dtype=np.bool_)
        drawn = np.zeros(2, dtype=np.int64)
        kept = np.zeros(2, dtype=np.int64)
        for index in range(chunk_first[j], chunk_stop[j]):
            inside = is_inside(index, inside_ratio)
            s = 0 if inside else 1
            counted = index >= chunk_start[j]
            while True:
                key = candidate_key(keys[j, s, 0], keys[j, s, 1], drawn[s])
                drawn[s] += 1
                lat, lon, detected = evaluate_candidate(
                    key, inside, rx_box, tr_box, rx, params, model, min_receivers,
                    snr, dist, present)
                if counted:
                    counters[j, s, COUNT_CANDIDATES] += 1
                g = np.inf
                if detected >= min_receivers:
                    g = candidate_gdop(lat, lon, rx, present, east, north)
                    if g <= max_gdop:
                        break
                if counted:
                    if detected < min_receivers:
                        counters[j, s, COUNT_TOO_FEW] += 1
                    else:
                        counters[j, s, COUNT_GDOP] += 1
                if drawn[s] >= UNFILLABLE_AFTER and kept[s] * UNFILLABLE_RATIO < drawn[s]:
                    status[j, s] = STATUS_UNFILLABLE
                    break
            if status[j, s] != STATUS_OK:
                break  # the chunk's other stratum is not filled either
            kept[s] += 1
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
                    u = uniform(key, DRAWS_POSITION + r * DRAWS_PER_LINK + 5)
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
        prop.tx_height_m)
    return (np.array(receiver_box(config)), np.array(training_box(config)), constants,
            kernel_params(config), PATH_LOSS_CODES[prop.path_loss_model])


def fill_block(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start, a,
               counters, status) -> None:
    """Fill the block arrays `a` (one per sample field) for the chunks described: every
    field of every sample, so that each version owns all of what it draws."""
    rx_box, tr_box, rx, params, model = prepared
    draw_chunks(
        keys, chunk_first, chunk_start, chunk_stop, start, config.inside_ratio,
        rx_box, tr_box, rx, params, model,
        config.min_receivers, config.max_gdop, config.propagation.max_freq_offset_hz,
        a["tx_lat"], a["tx_lon"], a["inside"], a["gdop"], a["num_receivers_detected"],
        a["mean_snr_db"], a["signal_present"], a["snr_db"], a["rx_power_dbm"],
        a["freq_offset_hz"], a["distance_km"], counters, status)
    # What the kernel does not draw: constant for this version's flat world.
    a["tx_alt_m"][:] = config.propagation.tx_height_m  # flat ground at 0 m
    a["frequency_hz"][:] = config.frequency_mhz * 1e6
    a["tx_power_dbm"][:] = config.tx_power_dbm
