"""The fused generator kernel: rejection sampling of whole chunks, in parallel.

One call fills a block of consecutive chunks. Chunks run in parallel (one thread each);
inside a chunk, candidates of each stratum are drawn strictly in order from that chunk's
own stream, so the output never depends on the number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .physics import (
    fading_db,
    gdop_from_vectors,
    haversine_km,
    local_east_north_km,
    path_loss_db,
)
from .rng import candidate_key, normal_pair, uniform

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

STATUS_OK = 0  # otherwise 1 + the stratum that could not be filled


@njit(cache=True, nogil=True)
def is_inside(index, inside_ratio):
    """Stratification by sample index: every prefix keeps the inside ratio (SPEC 2)."""
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


@njit(cache=True, nogil=True)
def evaluate_candidate(key, inside, rx_box, tr_box, rx_lat, rx_lon, rx_height, rx_gain,
                       rx_noise, params, model, snr, prx, foff, dist, present, east, north):
    """Place one transmitter and propagate to every receiver.

    Fills the per-receiver scratch arrays and returns (lat, lon, detected, gdop).
    params: frequency_mhz, tx_power_dbm, min_snr_db, tx_height_m, clutter_min_db,
    clutter_max_db, shadowing_sigma_db, rician_k_linear, los_distance_km, max_freq_offset_hz.
    """
    f_mhz = params[0]
    p_tx = params[1]
    min_snr = params[2]
    h_tx = params[3]
    c_min = params[4]
    c_span = params[5] - params[4]
    sigma = params[6]
    k_lin = params[7]
    los_km = params[8]
    max_foff = params[9]
    lat, lon = draw_position(key, inside, rx_box, tr_box)
    detected = 0
    for r in range(rx_lat.shape[0]):
        base = DRAWS_POSITION + r * DRAWS_PER_LINK
        d = haversine_km(lat, lon, rx_lat[r], rx_lon[r])
        loss = path_loss_db(d, f_mhz, h_tx, rx_height[r], model)
        clutter = c_min + uniform(key, base) * c_span
        n_shadow, _ = normal_pair(key, base + 1)
        n1, n2 = normal_pair(key, base + 3)
        p = (p_tx + rx_gain[r] - loss - clutter + sigma * n_shadow
             + fading_db(n1, n2, k_lin, d < los_km))
        s = p - rx_noise[r]
        dist[r] = d
        prx[r] = p
        snr[r] = s
        foff[r] = (2.0 * uniform(key, base + 5) - 1.0) * max_foff
        present[r] = s >= min_snr
        if present[r]:
            detected += 1
        east[r], north[r] = local_east_north_km(lat, lon, rx_lat[r], rx_lon[r])
    g = gdop_from_vectors(east, north, present, rx_lat.shape[0])
    return lat, lon, detected, g


@njit(cache=True, nogil=True, parallel=True)
def generate_block(keys, chunk_first, chunk_start, chunk_stop, out_offset, inside_ratio,
                   rx_box, tr_box, rx_lat, rx_lon, rx_height, rx_gain, rx_noise, params,
                   model, min_receivers, max_gdop,
                   tx_lat, tx_lon, inside_out, gdop_out, ndet_out, mean_snr_out,
                   present_out, snr_out, prx_out, foff_out, dist_out, counters, status):
    """Fill output rows for the chunks of one block.

    Chunk j covers sample indices [chunk_first[j], chunk_stop[j]); samples before
    chunk_start[j] are drawn (to advance the streams) but not stored or counted.
    Sample index i goes to output row i - out_offset. keys[j, stratum] is that chunk's
    stream key. counters[j, stratum] = candidates, too-few rejections, GDOP rejections.
    """
    n_rx = rx_lat.shape[0]
    for j in prange(keys.shape[0]):
        snr = np.empty(n_rx)
        prx = np.empty(n_rx)
        foff = np.empty(n_rx)
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
                lat, lon, detected, g = evaluate_candidate(
                    key, inside, rx_box, tr_box, rx_lat, rx_lon, rx_height, rx_gain,
                    rx_noise, params, model, snr, prx, foff, dist, present, east, north)
                if counted:
                    counters[j, s, COUNT_CANDIDATES] += 1
                if detected >= min_receivers and g <= max_gdop:
                    break
                if counted:
                    if detected < min_receivers:
                        counters[j, s, COUNT_TOO_FEW] += 1
                    else:
                        counters[j, s, COUNT_GDOP] += 1
                if drawn[s] >= UNFILLABLE_AFTER and kept[s] * UNFILLABLE_RATIO < drawn[s]:
                    status[j] = 1 + s
                    break
            if status[j] != STATUS_OK:
                break
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
                    prx_out[row, r] = prx[r]
                    foff_out[row, r] = foff[r]
                    total += snr[r]
                else:
                    snr_out[row, r] = np.nan
                    prx_out[row, r] = np.nan
                    foff_out[row, r] = np.nan
            mean_snr_out[row] = total / detected
