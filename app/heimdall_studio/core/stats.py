"""Histograms of the sample distributions, on bins fixed by the config.

The same bins serve the live plots of a run and the details view of a dataset, so counts
from successive blocks simply add up.
"""

from __future__ import annotations

import math

import numpy as np

from .config import DatasetConfig

SNR_BIN_DB = 1.0
GDOP_BINS = 60
DISTANCE_BINS = 80


def snr_edges(config: DatasetConfig) -> np.ndarray:
    """1 dB bins from the detection threshold up to 80 dB above it."""
    low = math.floor(config.min_snr_db)
    return np.arange(low, low + 80 + SNR_BIN_DB, SNR_BIN_DB)


def gdop_edges(config: DatasetConfig) -> np.ndarray:
    """From the ideal 1 up to the filter limit: every kept sample falls inside."""
    return np.linspace(0.0, config.max_gdop, GDOP_BINS + 1)


def detected_edges(config: DatasetConfig) -> np.ndarray:
    return np.arange(len(config.receivers) + 2) - 0.5


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of the finite values on `edges`; values past the ends join the end bins."""
    values = np.asarray(values).ravel()
    values = values[np.isfinite(values)]
    bins = len(edges) - 1
    index = np.searchsorted(edges, values, side="right") - 1
    np.clip(index, 0, bins - 1, out=index)
    return np.bincount(index, minlength=bins).astype(np.int64)
