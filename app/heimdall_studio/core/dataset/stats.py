"""Histograms of the sample distributions, on uniform bins fixed by the config, and the
running histograms a dataset file keeps under /stats.

The same bins serve the live plots of a run, the running histograms stored under
`/stats` in the dataset file, and the details view, so counts from successive blocks
simply add up and a dataset of any size shows its distributions at once.

    snr_db                  SNR of every detecting link, 1 dB bins from min_snr_db
    gdop                    GDOP of every sample, from 0 to max_gdop
    num_receivers_detected  detecting receivers per sample, one bin per count
    distance_km             distance of every detecting link, 0 to the training box diagonal
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..config.geo import haversine_km, training_box
from ..config.model import DatasetConfig
from .layout import COPY_SLAB_ROWS, STATS_UPDATE_RETRIES, STATS_UPDATE_WAIT_S, STATS_UPDATING
from .reader import DatasetHeader, guard_read, open_read, parse_header

HISTOGRAMS = ("snr_db", "gdop", "num_receivers_detected", "distance_km")
SNR_SPAN_DB = 80.0
GDOP_BINS = 60
DISTANCE_BINS = 80


def snr_edges(config: DatasetConfig) -> np.ndarray:
    low = math.floor(config.min_snr_db)
    return np.arange(low, low + SNR_SPAN_DB + 1.0, 1.0)


# Where the GDOP histogram ends without a limit; larger GDOPs join its last bin.
UNLIMITED_GDOP_SPAN = 30.0


def gdop_edges(config: DatasetConfig) -> np.ndarray:
    """From 0 (GDOP falls below 1 with five or more receivers) to the filter limit."""
    top = config.max_gdop if math.isfinite(config.max_gdop) else UNLIMITED_GDOP_SPAN
    return np.linspace(0.0, top, GDOP_BINS + 1)


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


def histogram(values: np.ndarray, edges: np.ndarray,
              mask: np.ndarray | None = None) -> np.ndarray:
    """Counts of the finite (and masked-in) values on uniform `edges`.

    Values past either end join the end bins, so every value is counted. This is the
    definition; a run counts its blocks with the compiled `sampling.histograms`, which
    gives the same counts (tested) faster (benchmarks/README.md).
    """
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values)
    if mask is not None:
        keep &= np.asarray(mask, dtype=np.bool_)
    bins = len(edges) - 1
    width = (edges[-1] - edges[0]) / bins
    index = np.floor((values[keep] - float(edges[0])) / float(width))
    np.clip(index, 0, bins - 1, out=index)
    return np.bincount(index.astype(np.intp), minlength=bins).astype(np.int64)


Counter = Callable[..., np.ndarray]


def block_histograms(edges: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                     histogram: Counter = histogram) -> dict[str, np.ndarray]:
    """The four histograms of a set of samples, counted by `histogram` (this module's, or
    its compiled twin `sampling.histograms.histogram`)."""
    present = arrays["signal_present"]
    return {
        "snr_db": histogram(arrays["snr_db"], edges["snr_db"], present),
        "gdop": histogram(arrays["gdop"], edges["gdop"]),
        "num_receivers_detected": histogram(arrays["num_receivers_detected"],
                                            edges["num_receivers_detected"]),
        "distance_km": histogram(arrays["distance_km"], edges["distance_km"], present),
    }


# ---------------------------------------------------------------------------
# the running histograms of a file


@dataclass(frozen=True)
class DatasetStats:
    """Histograms over all committed samples, keyed by name."""

    num_samples: int
    edges: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]


def stored_histograms(f: h5py.File, header: DatasetHeader) -> DatasetStats | None:
    """The running histograms as stored, whatever sample count they cover; None if there
    are none, they are being updated, or their bins are not the config's."""
    group = f.get("stats")
    if not isinstance(group, h5py.Group):
        return None
    try:
        covered = int(group.attrs["num_samples"])
        if covered < 0:  # mid-update (or a writer died there): the counts may be mixed
            return None
        expected = histogram_edges(header.config)
        counts = {k: group[k][()] for k in HISTOGRAMS}
        edges = {k: group[f"{k}_edges"][()] for k in HISTOGRAMS}
    except (KeyError, OSError, TypeError, ValueError):
        return None
    for k in HISTOGRAMS:
        if not np.array_equal(edges[k], expected[k]) or counts[k].shape != (len(edges[k]) - 1,):
            return None
    return DatasetStats(covered, edges, counts)


def count_histograms(f: h5py.File, header: DatasetHeader) -> DatasetStats:
    """The histograms counted from the committed samples (a file without usable stored
    ones)."""
    edges = histogram_edges(header.config)
    counts = {k: np.zeros(len(e) - 1, np.int64) for k, e in edges.items()}
    fields = ("snr_db", "gdop", "num_receivers_detected", "distance_km", "signal_present")
    for i in range(0, header.num_samples, COPY_SLAB_ROWS):
        stop = min(header.num_samples, i + COPY_SLAB_ROWS)
        part = block_histograms(edges, {k: f["samples"][k][i:stop] for k in fields})
        for k in counts:
            counts[k] += part[k]
    return DatasetStats(header.num_samples, edges, counts)


def read_stored_histograms(path: str | Path) -> tuple[DatasetHeader, DatasetStats | None]:
    """The file's header and its stored histograms if they cover exactly its committed
    samples, else None (what `verify` compares its own count with)."""
    path = Path(path)
    with guard_read(path), open_read(path) as f:
        header = parse_header(f.id, path)
        stored = stored_histograms(f, header)
        if stored is None or stored.num_samples != header.num_samples:
            return header, None
        return header, stored


def _stats_updating(f: h5py.File) -> bool:
    try:
        return int(f["stats"].attrs["num_samples"]) == STATS_UPDATING
    except (KeyError, OSError, TypeError, ValueError):
        return False


def read_stats(path: str | Path) -> tuple[DatasetHeader, DatasetStats]:
    """Distributions of the dataset, instantly from its running histograms.

    While a run writes, the histograms may lead the committed count by one block:
    `DatasetStats.num_samples` says what they cover. A commit marks them as being updated
    for a few milliseconds; a reader that finds the mark looks again a little later
    before it gives up on them. Only a file without usable histograms (missing, or left
    marked by a writer that died) is scanned.
    """
    path = Path(path)
    with guard_read(path):
        attempt = 0
        while True:
            with open_read(path) as f:
                header = parse_header(f.id, path)
                stored = stored_histograms(f, header)
                if stored is not None:
                    return header, stored
                if attempt == STATS_UPDATE_RETRIES or not _stats_updating(f):
                    return header, count_histograms(f, header)
            attempt += 1
            time.sleep(STATS_UPDATE_WAIT_S)
