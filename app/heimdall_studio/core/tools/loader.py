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
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.fields import MEASUREMENT_FIELDS, PER_RECEIVER_FIELDS
from ..config.geo import EARTH_RADIUS_KM, receiver_box
from ..dataset.reader import DatasetHeader, read_header, read_samples

# Signal strength and which receivers heard it. The frequency offset is left out: each
# receiver's is drawn on its own, noise a model cannot learn from (docs/generation.md).
DEFAULT_FEATURES = ("snr_db", "signal_present")
DEFAULT_TARGET = ("tx_lat", "tx_lon")
TARGET_FRAMES = ("degrees", "km")
SLAB_ROWS = 1 << 15


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
    """Iterate (features, target) batches of the samples `indices` (all by default).

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

    Each full pass is an epoch with an order of its own, reproducible from the seed; a
    pass left before its end (a peek with `next(iter(loader))`) does not count, and
    `set_epoch` chooses one.
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

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = self._epoch
        yield from self._epoch_batches(np.random.default_rng([self.seed, epoch]))
        if self._epoch == epoch:  # a whole pass: the next one is the next epoch
            self._epoch = epoch + 1

    def _epoch_batches(self, rng: np.random.Generator
                       ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        slabs = np.arange(0, self.header.num_samples, SLAB_ROWS)
        if self.shuffle:
            rng.shuffle(slabs)
        fields = tuple(dict.fromkeys(self.features + self.target))
        buffer_x: list[np.ndarray] = []
        buffer_y: list[np.ndarray] = []
        pending = 0
        carry_x = np.empty((0, self.feature_width), np.float32)
        carry_y = np.empty((0, len(self.target)), np.float64)
        for k, first in enumerate(slabs):
            start = int(first)
            stop = min(self.header.num_samples, start + SLAB_ROWS)
            lo, hi = np.searchsorted(self._rows, [start, stop])
            if lo == hi:
                continue
            rows = self._rows[lo:hi] - start
            _, arrays = read_samples(self.path, start, stop, fields)
            x, y = self._arrays_to_xy(arrays, rows)
            buffer_x.append(x)
            buffer_y.append(y)
            pending += 1
            if pending >= self.shuffle_buffer_slabs or k == len(slabs) - 1:
                carry_x, carry_y = yield from self._emit(buffer_x, buffer_y, carry_x,
                                                         carry_y, rng)
                buffer_x, buffer_y, pending = [], [], 0
        if buffer_x:
            carry_x, carry_y = yield from self._emit(buffer_x, buffer_y, carry_x, carry_y,
                                                     rng)
        if len(carry_x) and not self.drop_last:
            yield carry_x, carry_y

    def _arrays_to_xy(self, arrays: dict[str, np.ndarray],
                      rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for name in self.features:
            values = arrays[name][rows]
            if name in RELATIVE_FIELDS:
                values = relative_to_first(values)
            values = values.astype(np.float32)
            parts.append(values if values.ndim == 2 else values[:, None])
        x = np.nan_to_num(np.concatenate(parts, axis=1), nan=self.nan_value)
        if self.feature_scaling is not None:
            offset, scale = self.feature_scaling
            x = (x - offset) / scale
        y = np.stack([arrays[name][rows].astype(np.float64) for name in self.target], axis=1)
        if self.target_frame == "km":
            assert self.origin is not None
            y = np.stack(to_local_km(y[:, 0], y[:, 1], self.origin), axis=1)
        return x, y

    def _emit(self, xs, ys, carry_x, carry_y, rng):
        x = np.concatenate([carry_x, *xs])
        y = np.concatenate([carry_y, *ys])
        if self.shuffle:
            order = rng.permutation(len(x))
            x, y = x[order], y[order]
        full = len(x) // self.batch_size * self.batch_size
        for i in range(0, full, self.batch_size):
            yield x[i:i + self.batch_size], y[i:i + self.batch_size]
        return x[full:], y[full:]


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
                                target_frame="degrees", origin=None)
    total = np.zeros(loader.feature_width)
    squares = np.zeros(loader.feature_width)
    count = 0
    for x, _ in plain:
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
