"""What the map of a dataset shows, read off the GUI thread (plain functions, no Qt).

The map draws every sample, so it reads its position and the fields it can be coloured
by for all of them, a slab at a time (a few bytes a sample); the SNR at one receiver is
read when it is asked for, as is the one sample clicked. Only plain arrays cross to the
GUI thread; the file is opened and closed inside the core calls, in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import api
from ..core.config.fields import SAMPLE_FIELDS
from ..core.config.geo import receiver_box, training_box
from ..core.config.model import DatasetConfig
from ..core.dataset.reader import DatasetHeader

MAP_FIELDS = ("tx_lat", "tx_lon", "inside", "gdop", "num_receivers_detected")
READ_ROWS = 1 << 18  # samples read at once
RELIEF_SIDE = 700  # samples a side of the map's shaded relief at most

Box = tuple[float, float, float, float]


_COLUMNS = ("lat", "lon", "inside", "gdop", "detected")


class GrowingArray:
    """A 1-d array appended to in place, its room doubled when full: appending n values
    costs n, however long it is. `values` is a view of what it holds."""

    def __init__(self, initial: np.ndarray, room: int = 1024):
        self._data = np.empty(max(room, len(initial)), initial.dtype)
        self._data[:len(initial)] = initial
        self.size = len(initial)

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), self._data.dtype)
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:end] = values
        self.size = end

    @property
    def values(self) -> np.ndarray:
        return self._data[:self.size]


@dataclass(frozen=True)
class MapSamples:
    """Samples [start, start + len) of a dataset, as the map colours them."""

    start: int
    lat: np.ndarray
    lon: np.ndarray
    inside: np.ndarray
    gdop: np.ndarray
    detected: np.ndarray  # receivers detecting
    snr: np.ndarray | None = None  # SNR (dB) at receiver `snr_receiver`, when read
    snr_receiver: int | None = None
    # the buffers the columns are views of, with room to grow (`extended`)
    _room: dict[str, GrowingArray] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.lat)

    def extended(self, tail: MapSamples) -> MapSamples:
        """These samples followed by `tail`, the next ones of the same dataset (its SNR
        column kept when both hold the same receiver's).

        The columns grow inside buffers of spare room, doubled when full, so a run's map
        extended every second copies only the new samples (the result's columns are
        views of those buffers; these samples' columns stay as they were)."""
        keep_snr = (self.snr is not None and tail.snr is not None
                    and self.snr_receiver == tail.snr_receiver)
        names = _COLUMNS + (("snr",) if keep_snr else ())
        room = self._room
        # only the newest samples of a buffer may add to it, and only the columns it holds
        if room is None or set(room) != set(names) or room["lat"].size != len(self):
            room = {k: GrowingArray(getattr(self, k), 2 * len(self)) for k in names}
        for k in names:
            room[k].extend(getattr(tail, k))
        columns = {k: room[k].values for k in names}
        snr = columns.pop("snr", None)
        return MapSamples(self.start, **columns, snr=snr,
                          snr_receiver=self.snr_receiver if keep_snr else None,
                          _room=room)

    def with_snr(self, receiver: int, snr: np.ndarray) -> MapSamples:
        return MapSamples(self.start, self.lat, self.lon, self.inside, self.gdop,
                          self.detected, snr, receiver)


@dataclass(frozen=True)
class MapData:
    """The map of a dataset: its network, boxes and relief, and its samples."""

    receiver_names: tuple[str, ...]
    receiver_lat: np.ndarray
    receiver_lon: np.ndarray
    receiver_box: Box  # lat0, lat1, lon0, lon1
    training_box: Box
    # Shaded relief of the elevation grid the samples were drawn over (row 0 north), and
    # the (south, north, west, east) it covers; None for a flat world.
    relief: np.ndarray | None = None
    relief_bounds: Box | None = None
    samples: MapSamples | None = None


@dataclass(frozen=True)
class SampleLinks:
    """One sample's links: where its transmitter was, each receiver's SNR (dB, NaN where
    the file holds none) and whether it detected."""

    index: int
    tx_lat: float
    tx_lon: float
    snr_db: np.ndarray
    detected: np.ndarray


def snr_field(header: DatasetHeader) -> str:
    """Every link's SNR where the file holds it (generator version 5 on), else the SNR
    of detecting links."""
    return "link_snr_db" if "link_snr_db" in header.fields else "snr_db"


def network_map(config: DatasetConfig, relief: np.ndarray | None = None,
                relief_bounds: Box | None = None,
                samples: MapSamples | None = None) -> MapData:
    """The map of a config's network, with the relief and samples given."""
    rx = config.receivers
    return MapData(
        receiver_names=tuple(r.name for r in rx),
        receiver_lat=np.array([r.lat for r in rx], float),
        receiver_lon=np.array([r.lon for r in rx], float),
        receiver_box=receiver_box(config), training_box=training_box(config),
        relief=relief, relief_bounds=relief_bounds, samples=samples)


def dataset_relief(path: Path) -> tuple[np.ndarray | None, Box | None]:
    """The shaded relief of the dataset's elevation grid, and the area it covers."""
    grid = api.dataset_terrain(path)
    if grid is None:
        return None, None
    return api.shaded_relief(grid, RELIEF_SIDE), api.relief_area(grid, RELIEF_SIDE)


def read_map_samples(path: Path, start: int = 0, stop: int | None = None,
                     snr_receiver: int | None = None) -> MapSamples:
    """Samples [start, stop) (to the last committed by default), a slab at a time; with
    the SNR at `snr_receiver` when given."""
    header = api.dataset_header(path)
    stop = header.num_samples if stop is None else min(stop, header.num_samples)
    fields = MAP_FIELDS + ((snr_field(header),) if snr_receiver is not None else ())
    parts: dict[str, list[np.ndarray]] = {k: [] for k in fields}
    for first in range(start, max(start, stop), READ_ROWS):
        arrays = api.load_dataset(path, fields=fields, start=first,
                                  stop=min(stop, first + READ_ROWS)).arrays
        for key in fields:
            column = arrays[key]
            parts[key].append(column[:, snr_receiver] if column.ndim == 2 else column)
    joined = {k: np.concatenate(v) if v else np.zeros(0, SAMPLE_FIELDS[k]) for k, v in
              parts.items()}
    snr = joined[snr_field(header)].astype(np.float32) if snr_receiver is not None else None
    return MapSamples(start, joined["tx_lat"].astype(np.float64),
                      joined["tx_lon"].astype(np.float64), joined["inside"].astype(bool),
                      joined["gdop"].astype(np.float32),
                      joined["num_receivers_detected"].astype(np.uint8), snr, snr_receiver)


def read_receiver_snr(path: Path, receiver: int, stop: int) -> np.ndarray:
    """The SNR (dB) at one receiver of samples [0, stop), float32."""
    header = api.dataset_header(path)
    field = snr_field(header)
    stop = min(stop, header.num_samples)
    parts = [api.load_dataset(path, fields=(field,), start=first,
                              stop=min(stop, first + READ_ROWS))[field][:, receiver]
             for first in range(0, stop, READ_ROWS)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def read_sample_links(path: Path, index: int) -> SampleLinks:
    """One sample's transmitter and links, read from the file."""
    header = api.dataset_header(path)
    field = snr_field(header)
    row = api.load_dataset(path, fields=("tx_lat", "tx_lon", "signal_present", field),
                           start=index, stop=index + 1).arrays
    return SampleLinks(index, float(row["tx_lat"][0]), float(row["tx_lon"][0]),
                       row[field][0].astype(np.float64), row["signal_present"][0].astype(bool))
