"""Training batches straight from a dataset file: (features, target) numpy arrays.

The caller chooses the split: pass the sample indices of a split (see `shuffled_split`
and `runs_split`; an index given twice is read twice, for oversampling) and iterate.
Reading stays sequential on disk: the file is walked in slabs, the split's rows of each
slab are gathered, and, when shuffling, both the slab order and the rows inside a shuffle
buffer of several slabs are permuted with a seeded generator. No deep-learning framework
is needed; the arrays drop into any of them, for example `torch.from_numpy(x)`.

Features are measurements only (`config.fields.MEASUREMENT_FIELDS`: what a real network
reports) unless `allow_truth` is set: a model that learns from the stored GDOP or
distances learns from the answer. Targets are the transmitter's latitude and longitude,
or east and north in km around an origin (`target_frame="km"`), where a degree of
longitude and one of latitude no longer weigh differently in a loss.

An `iq_raw` dataset also gives each receiver's recorded baseband (`iq=True`): batches are
then (features, records, target), the records float32 (batch, R, 2, L), real and
imaginary parts of each record, in sqrt(mW) as stored, whichever way the file stores them.
Slabs are then sized by bytes: memory stays near `buffer_bytes` plus a batch, whatever
the dataset's size.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.fields import (
    IQ_SCALE_FIELD,
    MEASUREMENT_FIELDS,
    PER_RECEIVER_FIELDS,
    RECORD_FIELDS,
    row_bytes,
)
from ..config.geo import EARTH_RADIUS_KM, receiver_box
from ..dataset.layout import slab_rows
from ..dataset.reader import DatasetHeader, read_header, read_samples

# Signal strength and which receivers heard it. The frequency offset is left out: each
# receiver's is drawn on its own, noise a model cannot learn from (docs/generation.md).
DEFAULT_FEATURES = ("snr_db", "signal_present")
DEFAULT_TARGET = ("tx_lat", "tx_lon")
TARGET_FRAMES = ("degrees", "km")
SLAB_ROWS = 1 << 15  # at most; fewer when rows are large (IQ records)
# What the decoded rows awaiting their batch (the shuffle buffer) may take by default
BUFFER_BYTES = 256 << 20
Batch = tuple[np.ndarray, ...]  # (features, target), or (features, records, target)


def shuffled_split(num_samples: int, fractions: Sequence[float],
                   seed: int = 0) -> list[np.ndarray]:
    """Disjoint sorted index sets, e.g. `shuffled_split(n, (0.8, 0.1, 0.1), seed=1)`."""
    if any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise ValueError("fractions must be non-negative and add up to at most 1")
    order = np.random.default_rng(seed).permutation(num_samples)
    bounds = np.round(np.cumsum([0.0, *fractions]) * num_samples).astype(int)
    return [np.sort(order[a:b]) for a, b in itertools.pairwise(bounds)]


def runs_split(header: DatasetHeader, holdout_runs: Sequence[int]) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """(train, holdout) indices, holding out whole create/expand runs by history row."""
    held = np.zeros(header.num_samples, dtype=bool)
    for i in holdout_runs:
        row = header.history[i]
        held[row.first_index:min(header.num_samples, row.first_index + row.count)] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


@dataclass
class BatchLoader:
    """Iterate (features, target) batches of the samples `indices` (all by default), or
    (features, records, target) with `iq`.

    features: per-sample or per-receiver fields, concatenated along axis 1 as float32;
    NaN (receivers that did not detect) becomes `nan_value`, so keep `signal_present`
    among the features to tell them apart. Arrival times (`toa_ns`) are given relative
    to the sample's earliest one (`relative_to_first`): their emission instant is
    unknown, and float32 could not hold them absolute to the nanosecond. With
    `feature_scaling` (offset, scale) of the feature width, each batch is
    (x - offset) / scale (see `fit_scaling`). Ground-truth
    fields are refused as features unless `allow_truth`.
    target: fields stacked as float64; with `target_frame="km"` the transmitter's east
    and north in km of the plane tangent at `origin` (lat, lon; by default the centre of
    the receiver box), see `to_local_km`.

    records (`iq=True`, iq_raw datasets only): each sample's IQ records as float32
    (batch, R, 2, L), real then imaginary part, in sqrt(mW) (mean |x|^2 is the received
    power in mW; `noise_floor_dbm`, a measurement, scales them to the noise if wanted).
    Features may then be empty, `()`: x is (batch, 0).

    Each full pass is an epoch with an order of its own, reproducible from the seed; a
    pass left before its end (a peek with `next(iter(loader))`) does not count, and
    `set_epoch` chooses one. Shuffling permutes the order of the file's slabs, and the
    rows within `shuffle_buffer_slabs` slabs at a time; slabs hold at most SLAB_ROWS
    rows and the buffer at most about `buffer_bytes` of decoded rows (an IQ sample of
    7 receivers x 10,000 values takes 560 kB: the default buffer mixes some 470 samples),
    plus the rows left over for the next batch.
    """

    path: Path
    indices: np.ndarray | None = None  # None: every sample
    batch_size: int = 1024
    features: tuple[str, ...] = DEFAULT_FEATURES
    target: tuple[str, ...] = DEFAULT_TARGET
    shuffle: bool = False
    seed: int = 0
    nan_value: float = 0.0
    drop_last: bool = False
    shuffle_buffer_slabs: int = 8
    allow_truth: bool = False
    feature_scaling: tuple[np.ndarray, np.ndarray] | None = None
    target_frame: str = "degrees"
    origin: tuple[float, float] | None = None
    iq: bool = False
    buffer_bytes: int = BUFFER_BYTES

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.header = read_header(self.path)
        n = self.header.num_samples
        # The rows read, in file order: the given indices sorted, repeats kept.
        self._rows: np.ndarray = (np.arange(n) if self.indices is None
                                  else np.sort(np.asarray(self.indices, dtype=np.int64)))
        self.indices = self._rows
        if self._rows.size and (self._rows[0] < 0 or self._rows[-1] >= n):
            raise IndexError(f"indices must lie in [0, {n})")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.shuffle_buffer_slabs < 1:
            raise ValueError("shuffle_buffer_slabs must be at least 1")
        self.features = tuple(self.features)
        self.target = tuple(self.target)
        self._check_fields()
        if self.target_frame not in TARGET_FRAMES:
            raise ValueError(f"target_frame must be one of {', '.join(TARGET_FRAMES)}")
        if self.target_frame == "km":
            if self.target != DEFAULT_TARGET:
                raise ValueError("target_frame='km' gives the transmitter's east and north: "
                                 "leave target as ('tx_lat', 'tx_lon')")
            if self.origin is None:
                lat0, lat1, lon0, lon1 = receiver_box(self.header.config)
                self.origin = ((lat0 + lat1) / 2, (lon0 + lon1) / 2)
        if self.feature_scaling is not None:
            offset, scale = (np.asarray(a, dtype=np.float32) for a in self.feature_scaling)
            if offset.shape != (self.feature_width,) or scale.shape != (self.feature_width,):
                raise ValueError(f"feature_scaling needs two arrays of {self.feature_width} "
                                 "values, one per feature column")
            if not (np.isfinite(scale).all() and (scale != 0).all()):
                raise ValueError("feature_scaling's scale must be finite and non-zero")
            self.feature_scaling = (offset, scale)
        self._epoch = 0

    def _check_fields(self) -> None:
        known = self.header.fields
        records = [f for f in (*self.features, *self.target)
                   if f in RECORD_FIELDS or f == IQ_SCALE_FIELD]
        if records:
            raise ValueError(f"{records[0]!r} is not a feature column: pass iq=True to get "
                             "the IQ records as (batch, receivers, 2, L) next to the features")
        if self.iq and "iq" not in known:
            raise ValueError(f"{self.path.name} is a {self.header.config.dataset_type} "
                             "dataset: it holds no IQ records (iq=True needs an iq_raw "
                             "dataset)")
        if not self.features and not self.iq:
            raise ValueError("features must name at least one field")
        if not self.target:
            raise ValueError("target must name at least one field")
        for name in (*self.features, *self.target):
            if name not in known:
                raise KeyError(f"{name!r} is not a sample field of {self.path.name}")
        truth = [f for f in self.features if f not in MEASUREMENT_FIELDS]
        if truth and not self.allow_truth:
            raise ValueError(
                f"{truth[0]!r} is ground truth (or a constant of the config), not a "
                "measurement: a model that learns from it learns from the answer. Pass "
                "allow_truth=True to use it anyway")

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next pass draws its order for."""
        self._epoch = int(epoch)

    @property
    def feature_width(self) -> int:
        per_rx = len(self.header.config.receivers)
        return sum(per_rx if f in PER_RECEIVER_FIELDS else 1 for f in self.features)

    def __len__(self) -> int:
        full, rest = divmod(len(self._rows), self.batch_size)
        return full + (0 if self.drop_last or rest == 0 else 1)

    @property
    def record_shape(self) -> tuple[int, int, int]:
        """(R, 2, L): one sample's records as batches give them (`iq=True`)."""
        return (len(self.header.config.receivers), 2, self.header.config.iq_length)

    def __iter__(self) -> Iterator[Batch]:
        epoch = self._epoch
        yield from self._epoch_batches(np.random.default_rng([self.seed, epoch]))
        if self._epoch == epoch:  # a whole pass: the next one is the next epoch
            self._epoch = epoch + 1

    def _fields_read(self) -> tuple[str, ...]:
        names = [*self.features, *self.target]
        if self.iq:
            names.append("iq")
            if IQ_SCALE_FIELD in self.header.fields:  # int16 storage
                names.append(IQ_SCALE_FIELD)
        return tuple(dict.fromkeys(names))

    @property
    def rows_per_slab(self) -> int:
        """Rows read at once: SLAB_ROWS, fewer when the rows read are large
        (`layout.slab_rows`) or when `shuffle_buffer_slabs` slabs of decoded rows would
        exceed `buffer_bytes`."""
        config = self.header.config
        read = row_bytes({name: self.header.fields[name] for name in self._fields_read()},
                         len(config.receivers), config.iq_length)
        decoded = 4 * self.feature_width + 8 * len(self.target) + (
            4 * math.prod(self.record_shape) if self.iq else 0)
        return max(1, min(SLAB_ROWS, slab_rows(read),
                          self.buffer_bytes // (self.shuffle_buffer_slabs * decoded)))

    def _epoch_batches(self, rng: np.random.Generator) -> Iterator[Batch]:
        n = self.header.num_samples
        rows_per_slab = self.rows_per_slab
        slabs = np.arange(0, n, rows_per_slab)
        if self.shuffle:
            rng.shuffle(slabs)
        fields = self._fields_read()
        buffer = _Buffer(self.batch_size - 1 + self.shuffle_buffer_slabs * rows_per_slab,
                         self._row_shapes())
        pending = 0
        for k, first in enumerate(slabs):
            start = int(first)
            stop = min(n, start + rows_per_slab)
            lo, hi = np.searchsorted(self._rows, [start, stop])
            if lo == hi:
                continue
            rows = self._rows[lo:hi]
            # only the span of the slab the split needs
            begin, end = int(rows[0]), int(rows[-1]) + 1
            _, arrays = read_samples(self.path, begin, end, fields)
            self._convert(arrays, rows - begin, buffer.extend(len(rows)))
            pending += 1
            if pending >= self.shuffle_buffer_slabs or k == len(slabs) - 1:
                yield from self._emit(buffer, rng)
                pending = 0
        if pending:
            yield from self._emit(buffer, rng)
        if buffer.count and not self.drop_last:
            yield buffer.take(slice(0, buffer.count))

    def _row_shapes(self) -> list[tuple[tuple[int, ...], type]]:
        shapes: list[tuple[tuple[int, ...], type]] = [((self.feature_width,), np.float32)]
        if self.iq:
            shapes.append((self.record_shape, np.float32))
        shapes.append(((len(self.target),), np.float64))
        return shapes

    def _convert(self, arrays: dict[str, np.ndarray], rows: np.ndarray,
                 out: list[np.ndarray]) -> None:
        """The batch arrays of `rows` of the slab `arrays`, into `out` (views of the
        buffer): features, records with `iq`, target."""
        x, y = self._arrays_to_xy(arrays, rows)
        out[0][...] = x
        out[-1][...] = y
        if self.iq:
            records = arrays["iq"][rows]
            k, n_rx, length = records.shape
            kind = np.float32 if records.dtype == np.complex64 else np.int16
            pairs = records.view(kind).reshape(k, n_rx, length, 2)
            np.copyto(out[1], pairs.transpose(0, 1, 3, 2))
            if kind is np.int16:
                out[1] *= arrays[IQ_SCALE_FIELD][rows][:, :, None, None]

    def _arrays_to_xy(self, arrays: dict[str, np.ndarray],
                      rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for name in self.features:
            values = arrays[name][rows]
            if name in RELATIVE_FIELDS:
                values = relative_to_first(values)
            values = values.astype(np.float32)
            parts.append(values if values.ndim == 2 else values[:, None])
        x = (np.nan_to_num(np.concatenate(parts, axis=1), nan=self.nan_value) if parts
             else np.empty((len(rows), 0), np.float32))
        if self.feature_scaling is not None:
            offset, scale = self.feature_scaling
            x = (x - offset) / scale
        y = np.stack([arrays[name][rows].astype(np.float64) for name in self.target], axis=1)
        if self.target_frame == "km":
            assert self.origin is not None
            y = np.stack(to_local_km(y[:, 0], y[:, 1], self.origin), axis=1)
        return x, y

    def _emit(self, buffer: _Buffer, rng: np.random.Generator) -> Iterator[Batch]:
        """The buffer's full batches (permuted when shuffling); the rest stays in it, at
        its front, for the next ones."""
        count = buffer.count
        full = count // self.batch_size * self.batch_size
        if self.shuffle:
            order = rng.permutation(count)
            for i in range(0, full, self.batch_size):
                yield buffer.take(order[i:i + self.batch_size])
            buffer.keep(order[full:])
        else:
            for i in range(0, full, self.batch_size):
                yield buffer.take(slice(i, i + self.batch_size))
            buffer.keep(np.arange(full, count))


class _Buffer:
    """Rows awaiting their batch, in arrays allocated once (grown if repeated indices
    bring more rows than planned): batches are copies taken out of them."""

    def __init__(self, capacity: int, shapes: list[tuple[tuple[int, ...], type]]):
        self.capacity = max(1, capacity)
        self.shapes = shapes
        self.arrays: list[np.ndarray] | None = None  # allocated at the first rows
        self.count = 0

    def extend(self, rows: int) -> list[np.ndarray]:
        """Views of `rows` new rows at the end, to be filled."""
        need = self.count + rows
        if self.arrays is None or need > self.capacity:
            self.capacity = max(need, self.capacity if self.arrays is None
                                else 2 * self.capacity)
            grown: list[np.ndarray] = [np.empty((self.capacity, *shape), dtype)
                                       for shape, dtype in self.shapes]
            if self.arrays is not None:
                for new, old in zip(grown, self.arrays, strict=True):
                    new[:self.count] = old[:self.count]
            self.arrays = grown
        views = [a[self.count:need] for a in self.arrays]
        self.count = need
        return views

    def take(self, rows: np.ndarray | slice) -> Batch:
        assert self.arrays is not None
        if isinstance(rows, slice):
            return tuple(a[rows].copy() for a in self.arrays)
        return tuple(a[rows] for a in self.arrays)

    def keep(self, rows: np.ndarray) -> None:
        """Keep only `rows`, in this order, at the front."""
        if self.arrays is not None and len(rows):
            for a in self.arrays:
                a[:len(rows)] = a[rows]
        self.count = len(rows)


# Fields whose values mean something only relative to the other receivers' of the sample.
RELATIVE_FIELDS = frozenset({"toa_ns"})


def relative_to_first(values: np.ndarray) -> np.ndarray:
    """Per-receiver values (n, R) less each row's smallest finite one, in float64: the
    arrival time differences to the first receiver that heard the sample (NaN stays
    NaN; a row without any stays NaN)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    first = np.min(np.where(finite, values, np.inf), axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.where(finite, values - first, np.nan)


def fit_scaling(loader: BatchLoader) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) of each feature column over the loader's samples (after
    `nan_value`), for `feature_scaling`: fit on the training split, reuse for the others.
    A constant column gets a scale of 1."""
    plain = dataclasses.replace(loader, feature_scaling=None, shuffle=False,
                                target_frame="degrees", origin=None, iq=False)
    total = np.zeros(loader.feature_width)
    squares = np.zeros(loader.feature_width)
    count = 0
    for x, *_ in plain:
        values = x.astype(np.float64)
        total += values.sum(axis=0)
        squares += (values * values).sum(axis=0)
        count += len(values)
    if count == 0:
        raise ValueError("no samples to fit the scaling on")
    mean = total / count
    spread = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    spread[spread < 1e-12] = 1.0
    return mean.astype(np.float32), spread.astype(np.float32)


def to_local_km(lat: np.ndarray, lon: np.ndarray, origin: tuple[float, float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """East and north in km around `origin` in the azimuthal equidistant projection: the
    point's great-circle distance from the origin (haversine, config.geo's earth) along
    its initial bearing, so distances to the origin and bearings from it are exact."""
    p0, l0 = np.radians(origin[0]), np.radians(origin[1])
    p1, l1 = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(
        np.asarray(lon, dtype=np.float64))
    a = (np.sin((p1 - p0) / 2) ** 2
         + np.cos(p0) * np.cos(p1) * np.sin((l1 - l0) / 2) ** 2)
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    bearing = np.arctan2(np.sin(l1 - l0) * np.cos(p1),
                         np.cos(p0) * np.sin(p1) - np.sin(p0) * np.cos(p1) * np.cos(l1 - l0))
    return distance * np.sin(bearing), distance * np.cos(bearing)


def from_local_km(east: np.ndarray, north: np.ndarray, origin: tuple[float, float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `to_local_km`: (latitude, longitude) in degrees."""
    p0, l0 = np.radians(origin[0]), np.radians(origin[1])
    east, north = np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64)
    angle = np.hypot(east, north) / EARTH_RADIUS_KM
    bearing = np.arctan2(east, north)
    p1 = np.arcsin(np.sin(p0) * np.cos(angle) + np.cos(p0) * np.sin(angle) * np.cos(bearing))
    l1 = l0 + np.arctan2(np.sin(bearing) * np.sin(angle) * np.cos(p0),
                         np.cos(angle) - np.sin(p0) * np.sin(p1))
    return np.degrees(p1), np.degrees(l1)
