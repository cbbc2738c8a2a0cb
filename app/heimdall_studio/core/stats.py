"""Histograms of the sample distributions, on uniform bins fixed by the config.

The same bins serve the live plots of a run, the running histograms stored under
`/stats` in the dataset file, and the details view, so counts from successive blocks
simply add up and a dataset of any size shows its distributions at once.

    snr_db                  SNR of every detecting link, 1 dB bins from min_snr_db
    gdop                    GDOP of every sample, from 0 to max_gdop
    num_receivers_detected  detecting receivers per sample, one bin per count
    distance_km             distance of every detecting link, 0 to the training box diagonal
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .config import DatasetConfig
from .geo import haversine_km, training_box

HISTOGRAMS = ("snr_db", "gdop", "num_receivers_detected", "distance_km")
SNR_SPAN_DB = 80.0
GDOP_BINS = 60
DISTANCE_BINS = 80


def snr_edges(config: DatasetConfig) -> np.ndarray:
    low = math.floor(config.min_snr_db)
    return np.arange(low, low + SNR_SPAN_DB + 1.0, 1.0)


def gdop_edges(config: DatasetConfig) -> np.ndarray:
    """From 0 (GDOP falls below 1 with five or more receivers) to the filter limit."""
    return np.linspace(0.0, config.max_gdop, GDOP_BINS + 1)


def detected_edges(config: DatasetConfig) -> np.ndarray:
    return np.arange(len(config.receivers) + 2) - 0.5


def distance_edges(config: DatasetConfig) -> np.ndarray:
    """Up to the diagonal of the training box, the longest possible link."""
    lat0, lat1, lon0, lon1 = training_box(config)
    longest = max(haversine_km(lat0, lon0, lat1, lon1), haversine_km(lat0, lon1, lat1, lon0))
    return np.linspace(0.0, math.ceil(longest), DISTANCE_BINS + 1)


def histogram_edges(config: DatasetConfig) -> dict[str, np.ndarray]:
    return {"snr_db": snr_edges(config), "gdop": gdop_edges(config),
            "num_receivers_detected": detected_edges(config),
            "distance_km": distance_edges(config)}


def _uniform_histogram(values, mask, low, width, bins):
    counts = np.zeros(bins, dtype=np.int64)
    flat = values.ravel()
    keep = mask.ravel()
    for i in range(flat.shape[0]):
        v = flat[i]
        if not keep[i] or not np.isfinite(v):
            continue
        k = int(math.floor((v - low) / width))
        counts[min(max(k, 0), bins - 1)] += 1
    return counts


@functools.cache
def _compiled_histogram():
    """`_uniform_histogram` compiled, or loaded from numba's cache, on first use: importing
    this module does not load numba, which the app's window never needs."""
    from numba import njit

    return njit(cache=True, nogil=True)(_uniform_histogram)


def histogram(values: np.ndarray, edges: np.ndarray,
              mask: np.ndarray | None = None) -> np.ndarray:
    """Counts of the finite (and masked-in) values on uniform `edges`.

    Values past either end join the end bins, so every value is counted.
    """
    values = np.asarray(values)
    if values.dtype.kind != "f":  # counts: the kernel is compiled for float inputs
        values = values.astype(np.float64)
    if mask is None:
        mask = np.ones(values.shape, dtype=np.bool_)
    width = (edges[-1] - edges[0]) / (len(edges) - 1)
    return _compiled_histogram()(values, np.asarray(mask, dtype=np.bool_), float(edges[0]),
                              float(width), len(edges) - 1)


def block_histograms(edges: dict[str, np.ndarray],
                     arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The four histograms of a set of samples."""
    present = arrays["signal_present"]
    return {
        "snr_db": histogram(arrays["snr_db"], edges["snr_db"], present),
        "gdop": histogram(arrays["gdop"], edges["gdop"]),
        "num_receivers_detected": histogram(arrays["num_receivers_detected"],
                                            edges["num_receivers_detected"]),
        "distance_km": histogram(arrays["distance_km"], edges["distance_km"], present),
    }
