"""What the details view shows of a dataset's samples, computed off the GUI thread.

`summarize_dataset` is a plain function run in a worker thread; it raises what the core
raises (the details pane tells damaged samples from a file being written or held open).
Distributions come from the file's running histograms (`api.dataset_stats`: every sample,
read instantly at any size); the map shows every sample, so it reads their positions and
the fields it colours them by (`map_data`). Only plain arrays cross to the GUI thread;
h5py files are opened and closed inside the core calls, in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import api
from .map_data import MapData, dataset_relief, network_map, read_map_samples


@dataclass(frozen=True)
class Histogram:
    edges: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class DatasetSummary:
    path: Path
    num_samples: int  # in the file when its histograms were read
    histograms: dict[str, Histogram]  # keyed as core.dataset.stats.HISTOGRAMS
    map: MapData
    map_points: int


def summarize_dataset(path: Path) -> DatasetSummary:
    header, stats = api.dataset_stats(path)
    histograms = {key: Histogram(stats.edges[key], stats.counts[key]) for key in stats.counts}
    samples = read_map_samples(path, stop=stats.num_samples)
    relief, relief_bounds = dataset_relief(path)
    map_data = network_map(header.config, relief, relief_bounds, samples)
    return DatasetSummary(path=Path(path), num_samples=stats.num_samples,
                          histograms=histograms, map=map_data, map_points=len(samples))
