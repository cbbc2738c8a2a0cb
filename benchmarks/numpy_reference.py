"""A straightforward vectorized numpy evaluation of the SPEC's model, for comparison.

This is how one would write the generator without numba: whole arrays of candidates,
one numpy expression per formula. It evaluates candidates only (no rejection
bookkeeping, no file), so its rate is an upper bound for such an implementation.
"""

from __future__ import annotations

import numpy as np

from heimdall_studio.core.config.geo import EARTH_RADIUS_KM, receiver_box, training_box
from heimdall_studio.core.config.model import DatasetConfig


def evaluate_candidates(config: DatasetConfig, n: int, rng: np.random.Generator,
                        inside: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Draw n transmitters; return (kept mask, SNR matrix) per SPEC sections 2-4."""
    prop = config.propagation
    rx_lat = np.array([r.lat for r in config.receivers])
    rx_lon = np.array([r.lon for r in config.receivers])
    rx_alt = np.array([r.alt_m for r in config.receivers])
    noise = -174 + 10 * np.log10(config.bandwidth_hz) + np.array(
        [r.noise_figure_db for r in config.receivers])
    gain = np.array([r.antenna_gain_dbi for r in config.receivers])
    lat0, lat1, lon0, lon1 = receiver_box(config) if inside else training_box(config)
    lat = rng.uniform(lat0, lat1, n)[:, None]
    lon = rng.uniform(lon0, lon1, n)[:, None]
    p1, p2 = np.radians(lat), np.radians(rx_lat)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(rx_lon - lon) / 2) ** 2)
    d = np.maximum(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1))), 0.01)
    fspl = 20 * np.log10(d) + 20 * np.log10(config.frequency_mhz) + 32.45
    h_rx = np.maximum(rx_alt, 10.0)
    pel = 40 * np.log10(d * 1000) - 20 * np.log10(prop.tx_height_m) - 20 * np.log10(h_rx)
    loss = np.maximum(fspl, pel) if prop.path_loss_model == "two_ray" else fspl
    clutter = rng.uniform(prop.clutter_min_db, prop.clutter_max_db, d.shape)
    shadow = rng.normal(0, prop.shadowing_sigma_db, d.shape)
    k = 10 ** (prop.rician_k_db / 10)
    scatter = (rng.normal(size=d.shape) + 1j * rng.normal(size=d.shape)) / np.sqrt(2)
    h = np.where(d < prop.los_distance_km,
                 np.sqrt(k / (k + 1)) + np.sqrt(1 / (k + 1)) * scatter, scatter)
    fading = 10 * np.log10(np.maximum(np.abs(h) ** 2, 1e-30))
    snr = config.tx_power_dbm + gain - loss - clutter + shadow + fading - noise
    detected = snr >= config.min_snr_db
    # GDOP over detecting receivers, from the sums of G^T G
    east = EARTH_RADIUS_KM * np.cos(p1) * np.radians(rx_lon - lon)
    north = EARTH_RADIUS_KM * np.radians(rx_lat - lat)
    norm = np.hypot(east, north)
    ue, un = np.where(detected, east / norm, 0), np.where(detected, north / norm, 0)
    count = detected.sum(axis=1)
    see, snn, sen = (ue * ue).sum(1), (un * un).sum(1), (ue * un).sum(1)
    se, sn = ue.sum(1), un.sum(1)
    c00, c11 = snn * count - sn * sn, see * count - se * se
    det = see * c00 - sen * (sen * count - sn * se) + se * (sen * sn - snn * se)
    with np.errstate(divide="ignore", invalid="ignore"):
        gdop = np.where((count >= 3) & (det > 1e-12 * count),
                        np.sqrt(np.abs((c00 + c11) / det)), np.inf)
    kept = (count >= config.min_receivers) & (gdop <= config.max_gdop)
    return kept, snr
