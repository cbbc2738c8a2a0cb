"""Training batches straight from a dataset file: (features, target) numpy arrays.

The caller chooses the split: pass the sample indices of a split (see `shuffled_split`
and `runs_split`) and iterate. Reading stays sequential on disk: the file is walked in
slabs, the split's rows of each slab are gathered, and, when shuffling, both the slab
order and the rows inside a shuffle buffer of several slabs are permuted with a seeded
generator. No deep-learning framework is needed; the arrays drop into any of them, for
example `torch.from_numpy(x)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.fields import PER_RECEIVER_FIELDS
from ..dataset.reader import DatasetHeader, read_header, read_samples

DEFAULT_FEATURES = ("snr_db", "freq_offset_hz", "signal_present")
DEFAULT_TARGET = ("tx_lat", "tx_lon")
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
    among the features to tell them apart. target: fields stacked as float64.
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

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.header = read_header(self.path)
        n = self.header.num_samples
        # The rows read, in file order (the given indices, sorted and unique).
        self._rows: np.ndarray = (np.arange(n) if self.indices is None
                                  else np.unique(np.asarray(self.indices, dtype=np.int64)))
        self.indices = self._rows
        if self._rows.size and (self._rows[0] < 0 or self._rows[-1] >= n):
            raise IndexError(f"indices must lie in [0, {n})")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._epoch = 0

    @property
    def feature_width(self) -> int:
        per_rx = len(self.header.config.receivers)
        return sum(per_rx if f in PER_RECEIVER_FIELDS else 1 for f in self.features)

    def __len__(self) -> int:
        full, rest = divmod(len(self._rows), self.batch_size)
        return full + (0 if self.drop_last or rest == 0 else 1)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, self._epoch])
        self._epoch += 1  # a new order each epoch, reproducible from the seed
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
            values = arrays[name][rows].astype(np.float32)
            parts.append(values if values.ndim == 2 else values[:, None])
        x = np.nan_to_num(np.concatenate(parts, axis=1), nan=self.nan_value)
        y = np.stack([arrays[name][rows].astype(np.float64) for name in self.target], axis=1)
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
