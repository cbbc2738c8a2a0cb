"""What the details view shows of a dataset's samples, computed off the GUI thread.

`summarize_dataset` is a plain function run in a worker thread; it raises what the core
raises (the details pane tells damaged samples from a file being written or held open).
Distributions come from the file's running histograms (`api.dataset_stats`: every sample,
read instantly at any size); the map needs positions, so it reads three fields of the
first `max_points` samples only. The prefix is a fair sample: samples are independent, and
stratification is by index, so every prefix keeps the inside ratio. Only plain arrays cross
to the GUI thread; h5py files are opened and closed inside the core calls, in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import api
from ..core.config.geo import receiver_box, training_box
from .plots import MapData

MAX_MAP_POINTS = 5_000  # enough to show the boxes and the ring; setData cost grows with it
MAP_FIELDS = ("tx_lat", "tx_lon", "inside")
RELIEF_SIDE = 700  # samples a side of the map's shaded relief at most


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


def summarize_dataset(path: Path, max_points: int = MAX_MAP_POINTS) -> DatasetSummary:
    header, stats = api.dataset_stats(path)
    histograms = {key: Histogram(stats.edges[key], stats.counts[key]) for key in stats.counts}
    positions = api.load_dataset(path, fields=MAP_FIELDS, stop=max_points)
    relief, relief_bounds = _relief(path)
    config = header.config
    inside = positions["inside"]
    lat, lon = positions["tx_lat"], positions["tx_lon"]
    rx = config.receivers
    map_data = MapData(
        receiver_names=tuple(r.name for r in rx),
        receiver_lat=np.array([r.lat for r in rx]),
        receiver_lon=np.array([r.lon for r in rx]),
        receiver_box=receiver_box(config),
        training_box=training_box(config),
        inside_lat=lat[inside], inside_lon=lon[inside],
        outside_lat=lat[~inside], outside_lon=lon[~inside],
        relief=relief, relief_bounds=relief_bounds,
    )
    return DatasetSummary(path=Path(path), num_samples=stats.num_samples,
                          histograms=histograms, map=map_data, map_points=len(lat))


def _relief(path: Path) -> tuple[np.ndarray | None, tuple[float, float, float, float] | None]:
    """The shaded relief of the dataset's elevation grid, and the area it covers."""
    grid = api.dataset_terrain(path)
    if grid is None:
        return None, None
    return api.shaded_relief(grid, RELIEF_SIDE), api.relief_area(grid, RELIEF_SIDE)
