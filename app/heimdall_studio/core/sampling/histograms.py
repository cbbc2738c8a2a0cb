"""`dataset.stats.histogram` compiled: a run counts every block it commits, and this gives
the same counts (tested) faster: `block_histograms(edges, arrays, histogram)`."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _uniform_histogram(values, mask, low, width, bins):
    counts = np.zeros(bins, dtype=np.int64)
    flat = values.ravel()
    keep = mask.ravel()
    for i in range(flat.shape[0]):
        v = flat[i]
        if not keep[i] or not np.isfinite(v):
            continue
        k = math.floor((v - low) / width)
        counts[min(max(k, 0), bins - 1)] += 1
    return counts


def histogram(values: np.ndarray, edges: np.ndarray,
              mask: np.ndarray | None = None) -> np.ndarray:
    """`dataset.stats.histogram`, compiled."""
    values = np.asarray(values)
    if values.dtype.kind != "f":  # counts: the kernel is compiled for float inputs
        values = values.astype(np.float64)
    if mask is None:
        mask = np.ones(values.shape, dtype=np.bool_)
    width = (edges[-1] - edges[0]) / (len(edges) - 1)
    return _uniform_histogram(values, np.asarray(mask, dtype=np.bool_), float(edges[0]),
                              float(width), len(edges) - 1)

