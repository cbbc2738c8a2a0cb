"""The dataset file: HDF5 layout of SPEC section 7, crash-safe appends, safe reads.

Crash safety comes from HDF5's single-writer/multiple-reader (SWMR) mode: while a writer
appends in SWMR mode the file on disk is consistent at every instant. A commit writes the
sample rows, flushes, then advances `num_samples` (readers trust only that) and flushes
again. A writer killed mid-run leaves the file marked "open for writing"; readers open it
anyway (SWMR read), and the next writer first rebuilds it from its committed samples.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from .. import __version__
from .config import DatasetConfig
from .errors import (
    ConfigError,
    DatasetExistsError,
    DatasetFormatError,
    DatasetNotFoundError,
    DatasetWriteError,
)
from . import stats
from .generator import PER_RECEIVER_FIELDS, SAMPLE_FIELDS, SampleBlock
from .locking import DatasetLock

log = logging.getLogger(__name__)

FORMAT = "heimdall-studio-dataset"
FORMAT_VERSION = 1
SUFFIX = ".h5"
SCALAR_ATTRS = ("name", "dataset_type", "frequency_mhz", "tx_power_dbm", "min_snr_db",
                "min_receivers", "max_gdop", "inside_ratio", "seed")
STORAGE_CHUNK_ROWS = 1 << 15
# Compression policies (measured on default-config samples, one core, zlib level 1):
# the float measurement columns shrink only to 0.6-0.8 and gzip runs at about 55 MB/s,
# 2.6 s of CPU per million samples, more than generating them costs. The constant,
# boolean and count columns shrink 5-250x at 100-800 MB/s. "light" (the default)
# compresses just those; "full" compresses everything, for 40 % smaller files.
GZIP = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
LOW_ENTROPY_FIELDS = ("tx_alt_m", "frequency_hz", "tx_power_dbm", "inside",
                      "num_receivers_detected", "signal_present")
COMPRESSION_POLICIES = ("light", "full", "none")


def compression_filters(policy: str) -> dict[str, dict[str, Any]]:
    """h5py filter arguments per sample field for a compression policy."""
    if policy not in COMPRESSION_POLICIES:
        raise ConfigError("compression", policy, " or ".join(COMPRESSION_POLICIES))
    compressed = {"light": LOW_ENTROPY_FIELDS, "full": tuple(SAMPLE_FIELDS), "none": ()}
    return {name: (GZIP if name in compressed[policy] else {}) for name in SAMPLE_FIELDS}


def _filters_of(ds: h5py.Dataset) -> dict[str, Any]:
    if ds.compression != "gzip":
        return {}
    return {"compression": "gzip", "compression_opts": ds.compression_opts,
            "shuffle": bool(ds.shuffle)}
COPY_SLAB_ROWS = 1 << 18

_text = h5py.string_dtype("utf-8")
RECEIVER_DTYPE = np.dtype([("name", _text), ("lat", "f8"), ("lon", "f8"), ("alt_m", "f8"),
                           ("noise_figure_db", "f8"), ("antenna_gain_dbi", "f8")])
HISTORY_DTYPE = np.dtype([
    ("kind", h5py.string_dtype("utf-8", 8)), ("started_utc", h5py.string_dtype("utf-8", 32)),
    ("first_index", "i8"), ("count", "i8"), ("candidates", "i8"),
    ("rejected_too_few_receivers", "i8"), ("rejected_gdop", "i8"), ("duration_s", "f8"),
    ("app_version", h5py.string_dtype("utf-8", 16)),
])


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class HistoryRow:
    kind: str
    started_utc: str
    first_index: int
    count: int
    candidates: int
    rejected_too_few_receivers: int
    rejected_gdop: int
    duration_s: float
    app_version: str

    @classmethod
    def from_record(cls, record: np.void) -> HistoryRow:
        def text(v: Any) -> str:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        return cls(text(record["kind"]), text(record["started_utc"]),
                   int(record["first_index"]), int(record["count"]),
                   int(record["candidates"]), int(record["rejected_too_few_receivers"]),
                   int(record["rejected_gdop"]), float(record["duration_s"]),
                   text(record["app_version"]))

    def to_record(self) -> np.ndarray:
        return np.array([(self.kind, self.started_utc, self.first_index, self.count,
                          self.candidates, self.rejected_too_few_receivers,
                          self.rejected_gdop, self.duration_s, self.app_version)],
                        dtype=HISTORY_DTYPE)


@dataclass(frozen=True)
class DatasetHeader:
    """What a reader learns from a dataset file without loading its samples."""

    path: Path
    config: DatasetConfig
    num_samples: int
    created_utc: str
    app_version: str
    history: tuple[HistoryRow, ...]
    size_bytes: int

    @property
    def name(self) -> str:
        return self.config.name


# ---------------------------------------------------------------------------
# reading


def _open_read(path: Path) -> h5py.File:
    """Open for reading, also while another process appends (SWMR) or after it crashed."""
    if not path.exists():
        raise DatasetNotFoundError(f"no dataset at {path}")
    if not path.is_file():
        raise DatasetFormatError(f"{path} is not a regular file")
    try:
        return h5py.File(path, "r", swmr=True, locking=False)
    except OSError:
        pass
    try:  # files not written with SWMR support: only to say what they are
        return h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise DatasetFormatError(f"{path.name} is not an HDF5 file or is damaged "
                                 f"({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).split("(", 1)[0].strip() or type(exc).__name__
    return text[:200]


def _attr_text(f: h5py.File, key: str) -> str:
    value = f.attrs.get(key)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise DatasetFormatError(f"attribute '{key}' is missing or not text")
    return value


def _attr_int(f: h5py.File, key: str) -> int:
    value = f.attrs.get(key)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DatasetFormatError(f"attribute '{key}' is missing or not an integer")
    return int(value)


def _read_header(f: h5py.File, path: Path) -> DatasetHeader:
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    if fmt != FORMAT:
        raise DatasetFormatError(
            f"{path.name} is not a Heimdall Studio dataset (format attribute "
            f"{'missing' if fmt is None else repr(str(fmt)[:40])})")
    version = _attr_int(f, "format_version")
    if version > FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path.name} has format_version {version}; this Heimdall Studio "
            f"({__version__}) reads up to {FORMAT_VERSION}: update the app")
    if version < 1:
        raise DatasetFormatError(f"{path.name} has an invalid format_version {version}")
    try:
        config = DatasetConfig.from_json(_attr_text(f, "config_json"))
    except ConfigError as exc:
        raise DatasetFormatError(f"{path.name} holds an invalid config: {exc}") from None
    num_samples = _attr_int(f, "num_samples")
    if num_samples < 0:
        raise DatasetFormatError(f"{path.name} has a negative num_samples")
    n_rx = len(config.receivers)
    samples = f.get("samples")
    if not isinstance(samples, h5py.Group):
        raise DatasetFormatError(f"{path.name} has no /samples group")
    for name, dtype in SAMPLE_FIELDS.items():
        ds = samples.get(name)
        if not isinstance(ds, h5py.Dataset):
            raise DatasetFormatError(f"{path.name} lacks /samples/{name}")
        want = 2 if name in PER_RECEIVER_FIELDS else 1
        if ds.ndim != want or (want == 2 and ds.shape[1] != n_rx):
            raise DatasetFormatError(f"/samples/{name} in {path.name} has shape {ds.shape}, "
                                     f"expected {'(n, %d)' % n_rx if want == 2 else '(n,)'}")
        if ds.dtype != dtype:
            raise DatasetFormatError(f"/samples/{name} in {path.name} has dtype {ds.dtype}, "
                                     f"expected {dtype}")
        if ds.shape[0] < num_samples:
            raise DatasetFormatError(
                f"{path.name} claims {num_samples} samples but /samples/{name} "
                f"holds {ds.shape[0]}")
    history_ds = f.get("history")
    if not isinstance(history_ds, h5py.Dataset) or history_ds.dtype.names is None or \
            history_ds.ndim != 1 or set(HISTORY_DTYPE.names) - set(history_ds.dtype.names):
        raise DatasetFormatError(f"{path.name} has no readable /history")
    history = tuple(HistoryRow.from_record(r) for r in history_ds[:10_000])
    return DatasetHeader(
        path=path, config=config, num_samples=num_samples,
        created_utc=_attr_text(f, "created_utc"), app_version=_attr_text(f, "app_version"),
        history=history, size_bytes=path.stat().st_size)


def read_header(path: str | Path) -> DatasetHeader:
    """Validate a dataset file and read its config, count and history."""
    path = Path(path)
    with _guard_read(path):
        with _open_read(path) as f:
            return _read_header(f, path)


def read_samples(path: str | Path, start: int = 0, stop: int | None = None,
                 fields: tuple[str, ...] | None = None
                 ) -> tuple[DatasetHeader, dict[str, np.ndarray]]:
    """Committed samples [start, stop) of the given fields (all by default)."""
    path = Path(path)
    with _guard_read(path):
        with _open_read(path) as f:
            header = _read_header(f, path)
            n = header.num_samples
            stop = n if stop is None else max(0, min(stop, n))
            start = max(0, min(start, stop))
            names = fields or tuple(SAMPLE_FIELDS)
            unknown = [k for k in names if k not in SAMPLE_FIELDS]
            if unknown:
                raise KeyError(f"unknown sample field {unknown[0]!r}")
            return header, {k: f["samples"][k][start:stop] for k in names}


@dataclass(frozen=True)
class DatasetStats:
    """Histograms over all committed samples (see `stats`), keyed by name."""

    num_samples: int
    edges: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]


def _stored_stats(f: h5py.File, header: DatasetHeader) -> DatasetStats | None:
    """The running histograms, if present and current; None means recompute."""
    group = f.get("stats")
    if not isinstance(group, h5py.Group):
        return None
    try:
        if int(group.attrs["num_samples"]) != header.num_samples:
            return None
        expected = stats.histogram_edges(header.config)
        counts = {k: group[k][()] for k in stats.HISTOGRAMS}
        edges = {k: group[f"{k}_edges"][()] for k in stats.HISTOGRAMS}
    except (KeyError, OSError, TypeError, ValueError):
        return None
    for k in stats.HISTOGRAMS:
        if not np.array_equal(edges[k], expected[k]) or counts[k].shape != (len(edges[k]) - 1,):
            return None
    return DatasetStats(header.num_samples, edges, counts)


def _computed_stats(f: h5py.File, header: DatasetHeader) -> DatasetStats:
    edges = stats.histogram_edges(header.config)
    counts = {k: np.zeros(len(e) - 1, np.int64) for k, e in edges.items()}
    fields = ("snr_db", "gdop", "num_receivers_detected", "distance_km", "signal_present")
    for i in range(0, header.num_samples, COPY_SLAB_ROWS):
        stop = min(header.num_samples, i + COPY_SLAB_ROWS)
        part = stats.block_histograms(edges, {k: f["samples"][k][i:stop] for k in fields})
        for k in counts:
            counts[k] += part[k]
    return DatasetStats(header.num_samples, edges, counts)


def stored_stats(path: str | Path) -> DatasetStats | None:
    """The file's running histograms if they are current, else None."""
    path = Path(path)
    with _guard_read(path):
        with _open_read(path) as f:
            return _stored_stats(f, _read_header(f, path))


def read_stats(path: str | Path) -> tuple[DatasetHeader, DatasetStats]:
    """Distributions of every committed sample: stored, or recomputed if stale."""
    path = Path(path)
    with _guard_read(path):
        with _open_read(path) as f:
            header = _read_header(f, path)
            return header, _stored_stats(f, header) or _computed_stats(f, header)


class _guard_read:
    """Turn low-level HDF5 failures while reading into a DatasetFormatError."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None or isinstance(exc, (DatasetFormatError, DatasetNotFoundError)):
            return False
        if isinstance(exc, (OSError, KeyError, ValueError, TypeError, RuntimeError)):
            raise DatasetFormatError(f"{self.path.name} cannot be read: {_short(exc)}") from None
        return False


# ---------------------------------------------------------------------------
# writing


def _create_layout(f: h5py.File, config: DatasetConfig, created_utc: str,
                   filters: dict[str, dict[str, Any]]) -> None:
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["config_json"] = config.to_json()
    for key in SCALAR_ATTRS:
        f.attrs[key] = getattr(config, key)
    f.attrs["num_samples"] = np.int64(0)
    f.attrs["created_utc"] = created_utc
    f.attrs["app_version"] = __version__
    rx = np.array([(r.name, r.lat, r.lon, r.alt_m, r.noise_figure_db, r.antenna_gain_dbi)
                   for r in config.receivers], dtype=RECEIVER_DTYPE)
    f.create_dataset("receivers", data=rx)
    samples = f.create_group("samples")
    n_rx = len(config.receivers)
    for name, dtype in SAMPLE_FIELDS.items():
        per_rx = name in PER_RECEIVER_FIELDS
        shape = (0, n_rx) if per_rx else (0,)
        rows = max(1024, STORAGE_CHUNK_ROWS // n_rx) if per_rx else STORAGE_CHUNK_ROWS
        samples.create_dataset(
            name, shape=shape, maxshape=(None,) + shape[1:], dtype=dtype,
            chunks=(rows,) + shape[1:], **filters[name])
    f.create_dataset("history", shape=(0,), maxshape=(None,), dtype=HISTORY_DTYPE,
                     chunks=(64,))
    group = f.create_group("stats")
    group.attrs["num_samples"] = np.int64(0)
    for name, edges in stats.histogram_edges(config).items():
        group.create_dataset(name, data=np.zeros(len(edges) - 1, np.int64))
        group.create_dataset(f"{name}_edges", data=edges)


def create_file(path: Path, config: DatasetConfig, compression: str = "light") -> None:
    """Write an empty dataset file; refuse to replace an existing one.

    The file is built under a temporary name and linked into place, so `path` either
    does not exist or is a complete, empty dataset.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        with h5py.File(tmp, "w", libver="latest", locking=False) as f:
            _create_layout(f, config, utc_now(), compression_filters(compression))
        os.link(tmp, path)  # fails if path exists: never overwrite a dataset
    finally:
        tmp.unlink(missing_ok=True)


def _write_stats(f: h5py.File, current: DatasetStats) -> None:
    group = f["stats"]
    for name, counts in current.counts.items():
        group[name][...] = counts
    group.attrs.modify("num_samples", np.int64(current.num_samples))


def _recover(path: Path) -> None:
    """Rebuild a file left open by a killed writer from its committed samples."""
    log.warning("recovering %s after an interrupted write", path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.recover")
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as src:
            header = _read_header(src, path)
            n = header.num_samples
            with h5py.File(tmp, "w", libver="latest", locking=False) as dst:
                filters = {k: _filters_of(src["samples"][k]) for k in SAMPLE_FIELDS}
                _create_layout(dst, header.config, header.created_utc, filters)
                for name in SAMPLE_FIELDS:
                    s, d = src["samples"][name], dst["samples"][name]
                    d.resize((n,) + d.shape[1:])
                    for i in range(0, n, COPY_SLAB_ROWS):
                        d[i:i + COPY_SLAB_ROWS] = s[i:min(n, i + COPY_SLAB_ROWS)]
                rows = [r for r in header.history if r.first_index < n]
                if rows:  # the last run may have advanced num_samples but not its row
                    last = rows[-1]
                    rows[-1] = HistoryRow(**{**last.__dict__,
                                             "count": n - last.first_index})
                    dst["history"].resize((len(rows),))
                    dst["history"][:] = np.concatenate([r.to_record() for r in rows])
                dst.attrs.modify("num_samples", np.int64(n))
                dst.attrs.modify("app_version", header.app_version)
                _write_stats(dst, _computed_stats(src, header))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class DatasetWriter:
    """Appends sample blocks to one dataset file. Hold the dataset lock while using it.

    Every `append` is a commit: once it returns, those samples survive any crash.
    """

    def __init__(self, path: Path, kind: str):
        self.path = path
        try:
            self._file = h5py.File(path, "r+", libver="latest", locking=False)
        except OSError as exc:
            if "open for write" not in str(exc):
                raise DatasetFormatError(f"{path.name} cannot be opened for writing "
                                         f"({_short(exc)})") from None
            _recover(path)
            self._file = h5py.File(path, "r+", libver="latest", locking=False)
        try:
            self.header = _read_header(self._file, path)
            self._check_history_agrees()
            self._samples = {k: self._file["samples"][k] for k in SAMPLE_FIELDS}
            self.stats = _stored_stats(self._file, self.header)
            if self.stats is None:  # an interrupted commit left them behind
                self.stats = _computed_stats(self._file, self.header)
                _write_stats(self._file, self.stats)
            self._history = self._file["history"]
            self.num_samples = self.header.num_samples
            self._row = HistoryRow(kind, utc_now(), self.num_samples, 0, 0, 0, 0, 0.0,
                                   __version__)
            self._row_index = self._history.shape[0]
            self._history.resize((self._row_index + 1,))
            self._history[self._row_index] = self._row.to_record()[0]
            self._file.flush()
            self._file.swmr_mode = True
        except BaseException:
            self._file.close()
            raise
        self._began = time.perf_counter()

    def _check_history_agrees(self) -> None:
        """Reconcile a last history row that a crash left behind `num_samples`."""
        rows = self.header.history
        if not rows:
            return
        last = rows[-1]
        expected = self.header.num_samples - last.first_index
        if last.count != expected and expected >= 0:
            self._file["history"][len(rows) - 1] = HistoryRow(
                **{**last.__dict__, "count": expected}).to_record()[0]

    @property
    def config(self) -> DatasetConfig:
        return self.header.config

    def append(self, block: SampleBlock, histograms: dict[str, np.ndarray]) -> None:
        """Commit a block; `histograms` are its `stats.block_histograms`."""
        if block.first_index != self.num_samples:
            raise ValueError(f"block starts at {block.first_index}, "
                             f"dataset has {self.num_samples} samples")
        n, m = self.num_samples, block.count
        try:
            for name, ds in self._samples.items():
                ds.resize((n + m,) + ds.shape[1:])
                ds[n:n + m] = block.arrays[name]
            self._file.flush()  # rows reach the file before the count that exposes them
            self._row = HistoryRow(**{
                **self._row.__dict__, "count": self._row.count + m,
                "candidates": self._row.candidates + block.candidates,
                "rejected_too_few_receivers":
                    self._row.rejected_too_few_receivers + block.rejected_too_few_receivers,
                "rejected_gdop": self._row.rejected_gdop + block.rejected_gdop,
                "duration_s": time.perf_counter() - self._began})
            self._history[self._row_index] = self._row.to_record()[0]
            counts = {k: self.stats.counts[k] + histograms[k] for k in stats.HISTOGRAMS}
            updated = DatasetStats(n + m, self.stats.edges, counts)
            _write_stats(self._file, updated)
            # The run's row and the stats lead num_samples, never trails it: a crash between the two
            # leaves counts that recovery can trim (see _check_history_agrees).
            self._file.flush()
            self._file.attrs.modify("num_samples", np.int64(n + m))
            self._file.flush()
        except OSError as exc:
            raise DatasetWriteError(
                f"writing dataset '{self.config.name}' failed: {_short(exc)}. "
                f"The {n} samples committed before are kept") from None
        self.num_samples = n + m
        self.stats = updated

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:  # e.g. disk full on the last flush
            log.error("closing %s failed: %s", self.path, exc)


@dataclass
class OpenedWrite:
    """A locked dataset open for appending; close() releases both."""

    lock: DatasetLock
    writer: DatasetWriter

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.lock.release()


def open_for_create(path: Path, config: DatasetConfig,
                    compression: str = "light") -> OpenedWrite:
    lock = DatasetLock(path, "create").acquire()
    try:
        if path.exists() or path.is_symlink():
            raise DatasetExistsError(
                f"dataset '{config.name}' already exists at {path}; "
                "expand it, or choose another name")
        create_file(path, config, compression)
        return OpenedWrite(lock, DatasetWriter(path, "create"))
    except BaseException:
        lock.release()
        raise


def open_for_expand(path: Path) -> OpenedWrite:
    if not path.is_file():
        raise DatasetNotFoundError(f"no dataset at {path}")
    read_header(path)  # refuse foreign or damaged files before touching anything
    lock = DatasetLock(path, "expand").acquire()
    try:
        return OpenedWrite(lock, DatasetWriter(path, "expand"))
    except BaseException:
        lock.release()
        raise


def iter_dataset_files(workspace: Path) -> Iterator[Path]:
    if not workspace.is_dir():
        return
    for entry in sorted(workspace.iterdir()):
        if entry.suffix == SUFFIX and not entry.name.startswith("."):
            yield entry
