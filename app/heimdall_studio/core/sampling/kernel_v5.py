"""Generator version 5: version 4's samples, and the truth an IQ record is drawn from.

Every field version 4 writes is drawn exactly as version 4 draws it, from the same
draws of the same streams (tested). Two fields of truth are added, for every receiver,
detecting or not:

- `link_snr_db`: the link's SNR in the noise bandwidth (version 4 keeps it only where the
  receiver detects, as `snr_db`);
- `arrival_ns`: when the signal reaches the receiver's record after emission: the
  propagation delay, late by the excess delay on obstructed links, plus the receiver's
  clock error. For a timed receiver these are the terms of its `toa_ns` (which adds the
  emission instant and the measurement error); an untimed receiver's record starts at
  an unknown instant, uniform within plus or minus `measurement.untimed_offset_ms`.

Those draws were left unused by version 4 wherever it stored nothing (a receiver that
does not detect, or is untimed), so they change nothing of what it stores.

The IQ records of an `iq_raw` dataset are a pure function of these stored values, the
config and the sample's index (`iq_synthesis`), drawn after this kernel.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
from numba import njit, prange

from ..config.model import DatasetConfig
from ..terrain.grid import ElevationGrid
from . import kernel_v4
from .kernel_v2 import RX_CROSSOVER_KM, RX_PEL_DB, is_inside
from .kernel_v4 import (
    COUNT_CANDIDATES,
    COUNT_GDOP,
    COUNT_TOO_FEW,
    DRAW_TX_OFFSET,
    DRAWS_PER_LINK,
    DRAWS_SAMPLE,
    LINK_CLOCK,
    LINK_EXCESS_DELAY,
    NS_PER_KM,
    P_FLAT,
    P_FREQ_HZ,
    P_FSPL,
    P_NLOS_NS,
    P_TX_PPM,
    RX4_CLOCK_NS,
    RX4_TIMED,
    STATUS_OK,
    STATUS_UNFILLABLE,
    UNFILLABLE_AFTER,
    UNFILLABLE_RATIO,
    evaluate_candidate,
    measure,
)
from .physics import gdop_from_vectors
from .rng import candidate_key, normal, uniform
from .terrain_grids import grid_height

__all__ = [
    "COUNT_CANDIDATES",
    "COUNT_GDOP",
    "COUNT_TOO_FEW",
    "STATUS_OK",
    "STATUS_UNFILLABLE",
    "UNFILLABLE_AFTER",
    "UNFILLABLE_RATIO",
    "fill_block",
    "kernel_inputs",
    "preparation",
]


class LinkInputs(kernel_v4.NetworkInputs):
    """Version 4's inputs, and each receiver's untimed record offset (0 when timed)."""

    def __init__(self, network: kernel_v4.NetworkInputs, config: DatasetConfig):
        vars(self).update(vars(network))
        half_ns = config.measurement.untimed_offset_ms * 1e6
        self.untimed_ns = np.array([0.0 if r.timing != "none" else half_ns
                                    for r in config.receivers])


def preparation(config: DatasetConfig, grid: ElevationGrid | None
                ) -> Generator[float, None, object]:
    """Version 4's preparation (the link grids, the receivers' drawn errors)."""
    network = yield from kernel_v4.preparation(config, grid)
    assert isinstance(network, kernel_v4.NetworkInputs)
    return LinkInputs(network, config)


@njit(cache=True, nogil=True)
def link_truth(key, row, n_rx, rx4, params, snr, dist, los, untimed_ns, link_snr_out,
               arrival_out):
    """Every link's SNR and arrival in its receiver's record (module docstring), with
    the draws version 4 makes for a timed, detecting receiver's arrival time."""
    for r in range(n_rx):
        base = DRAWS_SAMPLE + r * DRAWS_PER_LINK
        link_snr_out[row, r] = snr[r]
        delay = dist[r] * NS_PER_KM
        if not los[r]:
            delay -= params[P_NLOS_NS] * math.sqrt(dist[r]) * math.log(
                1.0 - uniform(key, base + LINK_EXCESS_DELAY))
        if rx4[r, RX4_TIMED] > 0.0:
            clock = rx4[r, RX4_CLOCK_NS] * normal(key, base + LINK_CLOCK)
        else:
            clock = untimed_ns[r] * (2.0 * uniform(key, base + LINK_CLOCK) - 1.0)
        arrival_out[row, r] = delay + clock


@njit(cache=True, nogil=True, parallel=True)
def draw_chunks(keys, chunk_first, chunk_start, chunk_stop, out_offset, inside_ratio,
                rx_box, tr_box, rx, rx4, patterns, tx_yagi, tx_mix, tx_gains, params,
                link, link_at, shadow, shadow_at, elevation, elevation_at, tx_height_m,
                min_receivers, max_gdop, untimed_ns, tx_lat, tx_lon, tx_alt, inside_out,
                gdop_out, ndet_out, mean_snr_out, present_out, snr_out, prx_out, foff_out,
                dist_out, loss_out, los_out, ground_out, toa_out, noise_out, power_out,
                antenna_out, bearing_out, tx_offset_out, link_snr_out, arrival_out,
                counters, status):
    """`kernel_v4.draw_chunks`, which also stores each link's truth (`link_truth`).

    The loop is version 4's, written out again: a version's kernel must not change
    when another's does."""
    n_rx = rx.shape[0]
    fspl_const = params[P_FSPL]
    flat = params[P_FLAT] > 0.0
    for item in prange(2 * keys.shape[0]):
        j = item // 2
        s = item % 2
        snr = np.empty(n_rx)
        noise = np.empty(n_rx)
        dist = np.empty(n_rx)
        east = np.empty(n_rx)
        north = np.empty(n_rx)
        excess = np.empty(n_rx)
        tx = np.empty(4)
        los = np.zeros(n_rx, dtype=np.bool_)
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
                    key, inside, rx_box, tr_box, rx, rx4, patterns, tx_yagi, tx_mix,
                    tx_gains, params, link, link_at, shadow, shadow_at, elevation,
                    elevation_at, tx_height_m, snr, noise, dist, present, east, north,
                    excess, los, tx)
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
            ground = 0.0
            if not flat:
                ground = grid_height(elevation, elevation_at[0], elevation_at[1],
                                     elevation_at[2], lat, lon)
            tx_offset = 1e-6 * params[P_FREQ_HZ] * params[P_TX_PPM] * normal(key, DRAW_TX_OFFSET)
            tx_lat[row] = lat
            tx_lon[row] = lon
            tx_alt[row] = ground + tx_height_m
            ground_out[row] = ground
            inside_out[row] = inside
            gdop_out[row] = g
            ndet_out[row] = detected
            power_out[row] = tx[0]
            antenna_out[row] = tx[1]
            bearing_out[row] = tx[2]
            tx_offset_out[row] = tx_offset
            for r in range(n_rx):
                present_out[row, r] = present[r]
                dist_out[row, r] = dist[r]
                log_d = math.log10(dist[r])
                loss = 20.0 * log_d + fspl_const + excess[r]
                if flat and dist[r] > rx[r, RX_CROSSOVER_KM]:
                    loss = 40.0 * log_d + rx[r, RX_PEL_DB]
                loss_out[row, r] = loss
                los_out[row, r] = los[r]
            total = measure(key, row, n_rx, rx, rx4, params, snr, noise, dist, present, los,
                            tx_offset, snr_out, prx_out, foff_out, toa_out, noise_out)
            mean_snr_out[row] = total / detected
            link_truth(key, row, n_rx, rx4, params, snr, dist, los, untimed_ns,
                       link_snr_out, arrival_out)


# ---------------------------------------------------------------------------
# what `generator` calls


def kernel_inputs(config: DatasetConfig, terrain: ElevationGrid | None = None) -> object:
    """`preparation` run to its end."""
    steps = preparation(config, terrain)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def fill_block(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start, a,
               counters, status) -> None:
    """Fill the block arrays `a` (one per sample field) for the chunks described; the
    IQ fields of an iq_raw dataset are left to `iq_synthesis`."""
    t = prepared
    draw_chunks(
        keys, chunk_first, chunk_start, chunk_stop, start, config.inside_ratio,
        t.rx_box, t.tr_box, t.rx, t.rx4, t.patterns, t.tx_yagi, t.tx_mix, t.tx_gains,
        t.params, t.link, t.link_at, t.shadow, t.shadow_at, t.elevation,
        t.elevation_at, config.propagation.tx_height_m, config.min_receivers,
        config.max_gdop, t.untimed_ns, a["tx_lat"], a["tx_lon"], a["tx_alt_m"],
        a["inside"], a["gdop"], a["num_receivers_detected"], a["mean_snr_db"],
        a["signal_present"], a["snr_db"], a["rx_power_dbm"], a["freq_offset_hz"],
        a["distance_km"], a["path_loss_db"], a["line_of_sight"], a["tx_ground_m"],
        a["toa_ns"], a["noise_floor_dbm"], a["tx_power_dbm"], a["tx_antenna"],
        a["tx_bearing_deg"], a["tx_freq_offset_hz"], a["link_snr_db"], a["arrival_ns"],
        counters, status)
    a["frequency_hz"][:] = config.frequency_mhz * 1e6
