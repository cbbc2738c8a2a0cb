"""Writing datasets: creating files, crash-safe appends, recovery after a crash.

Crash safety comes from HDF5's single-writer/multiple-reader (SWMR) mode: while a writer
appends in SWMR mode the file on disk is consistent at every instant. A commit writes the
sample rows and flushes; then the run's history row and the running statistics, flush;
then advances `num_samples` (readers trust only that) and flushes again. A writer killed
mid-run leaves the file marked "open for writing"; readers open it anyway (SWMR read),
and the next writer first rebuilds it from its committed samples.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from . import stats
from .config import DatasetConfig
from .errors import DatasetExistsError, DatasetFormatError, DatasetNotFoundError, DatasetWriteError
from .fields import GENERATOR_VERSION, PER_RECEIVER_FIELDS, SAMPLE_FIELDS, SampleBlock
from .locking import DatasetLock
from .store import (
    COPY_SLAB_ROWS,
    FORMAT,
    FORMAT_VERSION,
    HISTORY_DTYPE,
    RECEIVER_DTYPE,
    SCALAR_ATTRS,
    STATS_UPDATING,
    STORAGE_CHUNK_ROWS,
    DatasetStats,
    HistoryRow,
    compression_filters,
    current_stats,
    filters_of,
    parse_header,
    read_header,
    rows_checksum,
    short_reason,
    stats_from_samples,
    trim_interrupted_run,
    update_checksums,
    utc_now,
)
from .versions import check_expandable

log = logging.getLogger(__name__)

# What h5py says when a file was left mid-write: open flags of a killed SWMR writer, or
# an end of file short of what the superblock records (a write that failed, disk full).
INTERRUPTED_WRITE_SIGNS = ("open for write", "truncated file")
SAME_PROCESS_READERS_WAIT_S = 5.0
# Headroom for what a commit adds besides sample rows: chunk index, history, stats.
ROOM_FOR_METADATA = 4 << 20


def write_failure(exc: BaseException) -> str:
    """The operating system's reason inside an HDF5 write error, e.g. 'No space left'."""
    text = str(exc)
    match = re.search(r"error message = '([^']+)'", text)
    if match:
        errno_match = re.search(r"errno = (\d+)", text)
        return match.group(1) + (f" (errno {errno_match.group(1)})" if errno_match else "")
    return short_reason(exc)



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
    f.attrs["generator_version"] = np.int64(GENERATOR_VERSION)
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
    _create_stats_group(f, config)


def _create_stats_group(f: h5py.File, config: DatasetConfig) -> None:
    if "stats" in f:
        del f["stats"]
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


def _write_stats(f: h5py.File, current: DatasetStats, mark_current: bool = True) -> None:
    group = f["stats"]
    for name, counts in current.counts.items():
        group[name][...] = counts
    if mark_current:
        group.attrs.modify("num_samples", np.int64(current.num_samples))


def _recover(path: Path) -> None:
    """Rebuild a file left open by a killed writer from its committed samples."""
    log.warning("recovering %s after an interrupted write", path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.recover")
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as src:
            header = parse_header(src.id, path)
            n = header.num_samples
            with h5py.File(tmp, "w", libver="latest", locking=False) as dst:
                filters = {k: filters_of(src["samples"][k]) for k in SAMPLE_FIELDS}
                _create_layout(dst, header.config, header.created_utc, filters)
                for name in SAMPLE_FIELDS:
                    s, d = src["samples"][name], dst["samples"][name]
                    d.resize((n,) + d.shape[1:])
                    for i in range(0, n, COPY_SLAB_ROWS):
                        d[i:i + COPY_SLAB_ROWS] = s[i:min(n, i + COPY_SLAB_ROWS)]
                rows = trim_interrupted_run(src, list(header.history), n)
                if rows:
                    dst["history"].resize((len(rows),))
                    dst["history"][:] = np.concatenate([r.to_record() for r in rows])
                dst.attrs.modify("num_samples", np.int64(n))
                dst.attrs.modify("app_version", header.app_version)
                dst.attrs.modify("generator_version", np.int64(header.generator_version))
                _write_stats(dst, stats_from_samples(src, header))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _open_for_append(path: Path) -> h5py.File:
    """Open read-write, waiting briefly for readers in this process to close the file.

    HDF5 shares one handle per file within a process, so a read-write open fails while
    another thread (the app's browser, say) has it open read-only. Readers only hold
    files for milliseconds; other processes never block this (locking is ours).
    """
    deadline = time.monotonic() + SAME_PROCESS_READERS_WAIT_S
    while True:
        try:
            return h5py.File(path, "r+", libver="latest", locking=False)
        except OSError as exc:
            if "already open for read-only" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


class DatasetWriter:
    """Appends sample blocks to one dataset file. Hold the dataset lock while using it.

    Every `append` is a commit: once it returns, those samples survive any crash.
    """

    def __init__(self, path: Path, kind: str):
        self.path = path
        self._closed = False
        try:
            self._file = _open_for_append(path)
        except OSError as exc:
            if not any(sign in str(exc) for sign in INTERRUPTED_WRITE_SIGNS):
                raise DatasetFormatError(f"{path.name} cannot be opened for writing "
                                         f"({short_reason(exc)})") from None
            try:
                _recover(path)
            except (OSError, RuntimeError) as failure:
                raise DatasetWriteError(
                    f"dataset '{path.stem}' needs repair after an interrupted write, and "
                    f"repairing it failed: {write_failure(failure)}. Its committed "
                    "samples are intact; free some space and try again") from None
            self._file = _open_for_append(path)
        try:
            self.header = parse_header(self._file.id, path)
            self._check_history_agrees()
            self._samples = {k: self._file["samples"][k] for k in SAMPLE_FIELDS}
            self.stats = current_stats(self._file, self.header)
            if self.stats is None:  # an interrupted commit left them behind, or worse
                self.stats = stats_from_samples(self._file, self.header)
                _create_stats_group(self._file, self.config)  # before SWMR: may add objects
                _write_stats(self._file, self.stats)
            self._history = self._file["history"]
            self.num_samples = self.header.num_samples
            self._crcs = [0] * len(SAMPLE_FIELDS)
            self._row = HistoryRow(kind, utc_now(), self.num_samples, 0, 0, 0, 0, 0.0,
                                   __version__, rows_checksum(self._crcs))
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
        """Trim a last history row that an interrupted commit left ahead of num_samples."""
        rows = list(self.header.history)
        fixed = trim_interrupted_run(self._file, rows, self.header.num_samples)
        if fixed != rows:
            history = self._file["history"]
            history.resize((len(fixed),))
            if fixed:
                history[:] = np.concatenate([r.to_record() for r in fixed])

    @property
    def config(self) -> DatasetConfig:
        return self.header.config

    def append(self, block: SampleBlock, histograms: dict[str, np.ndarray]) -> None:
        """Commit a block; `histograms` are its `stats.block_histograms`."""
        if block.first_index != self.num_samples:
            raise ValueError(f"block starts at {block.first_index}, "
                             f"dataset has {self.num_samples} samples")
        n, m = self.num_samples, block.count
        self._check_room(sum(a.nbytes for a in block.arrays.values()))
        crcs = update_checksums(self._crcs, block.arrays)
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
                "duration_s": time.perf_counter() - self._began,
                "checksum": rows_checksum(crcs)})
            self._history[self._row_index] = self._row.to_record()[0]
            # The statistics are several datasets, and one flush does not write them
            # atomically. So they are marked "being updated" first, and marked current
            # only in the same flush that exposes the rows: after a crash at any point
            # their count differs from num_samples and they are rebuilt, never trusted.
            # The run's row leads num_samples too; the next writer trims it.
            self._file["stats"].attrs.modify("num_samples", np.int64(STATS_UPDATING))
            self._file.flush()
            counts = {k: self.stats.counts[k] + histograms[k] for k in stats.HISTOGRAMS}
            updated = DatasetStats(n + m, self.stats.edges, counts)
            _write_stats(self._file, updated, mark_current=False)
            self._file.flush()
            self._file["stats"].attrs.modify("num_samples", np.int64(n + m))
            self._file.attrs.modify("num_samples", np.int64(n + m))
            self._file.flush()
        except (OSError, RuntimeError) as exc:  # h5py reports failed flushes as RuntimeError
            self.close()
            raise DatasetWriteError(
                f"writing dataset '{self.config.name}' failed: {write_failure(exc)}. "
                f"The {n:,} samples committed before are kept; expand the dataset to "
                "continue once the cause is fixed") from None
        self.num_samples = n + m
        self.stats = updated
        self._crcs = crcs

    def _check_room(self, block_bytes: int) -> None:
        """Refuse a commit that would not fit, before HDF5 writes a byte of it.

        A write that fails half way leaves the HDF5 library in a state it may not close
        cleanly, so running out of disk or hitting the file-size limit is caught here.
        Compression only shrinks the data, so its raw size bounds what is needed.
        """
        needed = int(block_bytes * 1.05) + ROOM_FOR_METADATA
        free = shutil.disk_usage(self.path.parent).free
        if needed > free:
            self.close()
            raise DatasetWriteError(
                f"not enough disk space to extend dataset '{self.config.name}': the next "
                f"block needs about {needed / 1e6:,.0f} MB, {free / 1e6:,.0f} MB are free on "
                f"{self.path.parent}. The {self.num_samples:,} samples committed before are "
                "kept; free some space and expand the dataset to continue")
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and self.path.stat().st_size + needed > limit:
            self.close()
            raise DatasetWriteError(
                f"dataset '{self.config.name}' would exceed this process's file size limit "
                f"({limit / 1e6:,.0f} MB, see 'ulimit -f'). The {self.num_samples:,} "
                "samples committed before are kept; raise the limit and expand the "
                "dataset to continue")

    def close(self) -> None:
        """Close once; after a failed write the final flush may fail too, which is logged."""
        if self._closed:
            return
        self._closed = True
        self._samples = {}
        self._history = None
        try:
            self._file.close()
        except (OSError, RuntimeError) as exc:  # e.g. disk full on the last flush
            log.error("closing %s failed: %s", self.path, write_failure(exc))


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
    header = read_header(path)  # refuse foreign or damaged files before touching anything
    # The run draws with the file's own generator version; one this release does not
    # have (a later release drew the file) is refused before the lock is taken.
    check_expandable(header)
    lock = DatasetLock(path, "expand").acquire()
    try:
        return OpenedWrite(lock, DatasetWriter(path, "expand"))
    except BaseException:
        lock.release()
        raise
