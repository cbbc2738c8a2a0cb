"""Writing datasets: crash-safe appends, and opening a dataset to create or expand it.

Crash safety comes from HDF5's single-writer/multiple-reader (SWMR) mode: while a writer
appends in SWMR mode the file on disk is consistent at every instant. A commit reserves
its disk space, writes the sample rows and flushes; then the run's history row and the
running statistics, flush; then advances `num_samples` (readers trust only that) and
flushes again. A writer killed mid-run leaves the file marked "open for writing"; the
next reader or writer clears that mark in place (`recovery`), copying nothing.

Files never follow a link out of the workspace: a new file is written unnamed (or under
an unpredictable name, created exclusively) and linked into place, which fails if the
name exists; an existing one is opened and checked to be the regular file at its path.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import resource
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ... import __version__
from ..config.fields import SampleBlock
from ..config.model import DatasetConfig
from ..config.units import format_size
from ..config.versions import VERSIONS, GeneratorVersion
from ..errors import DatasetFormatError, DatasetNotFoundError, DatasetWriteError
from ..terrain.grid import ElevationGrid
from ..terrain.source import resolve_terrain
from . import fsops, stats
from .checksums import rows_checksum, trim_interrupted_run, update_checksums
from .layout import (
    DEFAULT_COMPRESSION,
    LIBVER,
    STATS_UPDATING,
    HistoryRow,
    utc_now,
)
from .locking import DatasetLock
from .new_file import create_file, create_stats_group, exists_error, stats_layout_fits
from .reader import (
    INTERRUPTED_WRITE_SIGNS,
    DatasetHeader,
    parse_header,
    read_header,
    read_terrain,
    short_reason,
)
from .recovery import clear_interrupted_write, leftovers_of, remove_leftovers
from .stats import DatasetStats, count_histograms, stored_histograms

log = logging.getLogger(__name__)

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



def _write_stats(f: h5py.File, current: DatasetStats, mark_current: bool = True) -> None:
    group = f["stats"]
    for name, counts in current.counts.items():
        group[name][...] = counts
    if mark_current:
        group.attrs.modify("num_samples", np.int64(current.num_samples))


def _open_for_append(path: Path) -> h5py.File:
    """Open read-write, waiting briefly for readers in this process to close the file.

    HDF5 shares one handle per file within a process, so a read-write open fails while
    another thread (the app's browser, say) has it open read-only. Readers only hold
    files for milliseconds; other processes never block this (locking is ours).
    """
    deadline = time.monotonic() + SAME_PROCESS_READERS_WAIT_S
    while True:
        try:
            f = h5py.File(path, "r+", libver=LIBVER, locking=False)
            break
        except OSError as exc:
            if "already open for read-only" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)
    try:
        _check_same_file(f, path)
    except BaseException:
        f.close()
        raise
    return f


def _check_same_file(f: h5py.File, path: Path) -> None:
    """The file HDF5 opened is the regular file at `path`, not what a link planted
    there since the last check points at."""
    opened = os.fstat(f.id.get_vfd_handle())
    here = path.lstat()
    if stat.S_ISLNK(here.st_mode) or (opened.st_dev, opened.st_ino) != (here.st_dev,
                                                                         here.st_ino):
        raise DatasetFormatError(f"{path.name} was replaced by a link while it was being "
                                 "opened; nothing was written")


class DatasetWriter:
    """Appends sample blocks to one dataset file. Hold the dataset lock while using it.

    Every `append` is a commit: once it returns, those samples survive any crash.
    """

    def __init__(self, path: Path, kind: str):
        self.path = path
        self._closed = False
        self.abandoned = False  # given up after a failed write (see _abandon)
        try:
            self._file = _open_for_append(path)
        except OSError as exc:
            if not any(sign in str(exc) for sign in INTERRUPTED_WRITE_SIGNS):
                raise DatasetFormatError(f"{path.name} cannot be opened for writing "
                                         f"({short_reason(exc)})") from None
            clear_interrupted_write(path)  # we hold the dataset lock
            self._file = _open_for_append(path)
        try:
            self.header = parse_header(self._file.id, path)
            self.terrain = read_terrain(self._file, self.header)
            self._check_history_agrees()
            self._samples = {k: self._file["samples"][k] for k in self.header.fields}
            self._fd = self._file.id.get_vfd_handle()
            self._chunk_bytes = sum(int(np.prod(ds.chunks)) * ds.dtype.itemsize
                                    for ds in self._samples.values())
            self.stats = stored_histograms(self._file, self.header)
            if self.stats is not None and self.stats.num_samples != self.header.num_samples:
                self.stats = None
            if self.stats is None and not stats_layout_fits(self._file, self.config):
                create_stats_group(self._file, self.config)  # before SWMR: adds objects
            self._history = self._file["history"]
            self.num_samples = self.header.num_samples
            self._crcs = [0] * len(self.header.fields)
            self._row = HistoryRow(kind, utc_now(), self.num_samples, 0, 0, 0, 0, 0.0,
                                   __version__, rows_checksum(self._crcs))
            self._row_index = self._history.shape[0]
            self._history.resize((self._row_index + 1,))
            self._history[self._row_index] = self._row.to_record(self._history.dtype)[0]
            self._file.flush()
            self._file.swmr_mode = True
            if self.stats is None:  # an interrupted commit left them behind, or worse
                # Counted in SWMR mode: readers are not kept waiting while samples are read.
                self.stats = count_histograms(self._file, self.header)
                self._file["stats"].attrs.modify("num_samples", np.int64(STATS_UPDATING))
                self._file.flush()
                _write_stats(self._file, self.stats)
                self._file.flush()
        except BaseException:
            self._file.close()
            raise
        self._began = time.perf_counter()

    def _check_history_agrees(self) -> None:
        """Trim a last history row that an interrupted commit left ahead of num_samples."""
        rows = list(self.header.history)
        fixed = trim_interrupted_run(self._file, self.header.fields, rows,
                                     self.header.num_samples)
        if fixed != rows:
            history = self._file["history"]
            history.resize((len(fixed),))
            if fixed:
                history[:] = np.concatenate([r.to_record(history.dtype) for r in fixed])

    @property
    def config(self) -> DatasetConfig:
        return self.header.config

    def append(self, block: SampleBlock, histograms: dict[str, np.ndarray]) -> None:
        """Commit a block; `histograms` are its `stats.block_histograms`."""
        if block.first_index != self.num_samples:
            raise ValueError(f"block starts at {block.first_index}, "
                             f"dataset has {self.num_samples} samples")
        n, m = self.num_samples, block.count
        self._reserve_room(sum(a.nbytes for a in block.arrays.values()))
        crcs = update_checksums(self._crcs, block.arrays)
        try:
            for name, ds in self._samples.items():
                ds.resize((n + m, *ds.shape[1:]))
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
            self._history[self._row_index] = self._row.to_record(self._history.dtype)[0]
            # The statistics are several datasets, and one flush does not write them
            # atomically. So they are marked "being updated" first, and marked current
            # only in the same flush that exposes the rows: after a crash at any point
            # their count differs from num_samples and they are rebuilt, never trusted.
            # The run's row leads num_samples too; the next writer trims it.
            self._file["stats"].attrs.modify("num_samples", np.int64(STATS_UPDATING))
            self._file.flush()
            assert self.stats is not None  # read or counted when the file was opened
            counts = {k: self.stats.counts[k] + histograms[k] for k in stats.HISTOGRAMS}
            updated = DatasetStats(n + m, self.stats.edges, counts)
            _write_stats(self._file, updated, mark_current=False)
            self._file.flush()
            self._file["stats"].attrs.modify("num_samples", np.int64(n + m))
            self._file.attrs.modify("num_samples", np.int64(n + m))
            self._file.flush()
        except (OSError, RuntimeError) as exc:  # h5py reports failed flushes as RuntimeError
            self._abandon()
            raise DatasetWriteError(
                f"writing dataset '{self.config.name}' failed: {write_failure(exc)}."
                + self._kept("expand the dataset to continue once the cause is fixed")
            ) from None
        self.num_samples = n + m
        self.stats = updated
        self._crcs = crcs

    def _reserve_room(self, block_bytes: int) -> None:
        """Take the disk space a commit needs before HDF5 writes a byte of it.

        A write that fails half way leaves the HDF5 library in a state it may not close
        cleanly, so running out of disk or hitting the file-size limit is caught here
        (see `fsops`). Compression only shrinks the data, so its raw size bounds what
        is needed, plus one storage chunk per dataset (HDF5 allocates chunks whole).
        """
        needed = int(block_bytes * 1.05) + self._chunk_bytes + ROOM_FOR_METADATA
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and self.path.stat().st_size + needed > limit:
            self.close()
            raise DatasetWriteError(
                f"dataset '{self.config.name}' would exceed this process's file size limit "
                f"({format_size(limit)}, see 'ulimit -f')."
                + self._kept("raise the limit and expand the dataset to continue"))
        try:
            fsops.reserve(self._fd, needed, self.path.parent)
        except OSError as exc:
            self.close()
            reason = ("not enough disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                      else f"cannot reserve disk space ({exc.strerror})")
            raise DatasetWriteError(
                f"{reason} to extend dataset '{self.config.name}': the next block needs "
                f"about {format_size(needed)} on {self.path.parent}."
                + self._kept("free some space and expand the dataset to continue")
            ) from None

    def _kept(self, advice: str) -> str:
        """What a failure leaves, for its message: the samples committed before, and how
        to go on; nothing for a create that committed none (its file is removed)."""
        if self._row.kind == "create" and self.num_samples == 0:
            return ""
        return f" The {self.num_samples:,} samples committed before are kept; {advice}"

    def _abandon(self) -> None:
        """Give up a file whose write failed inside HDF5, without closing it.

        Closing flushes again, and after a failed write HDF5 can crash the process doing
        so (a full disk that no reservation covered, say). The file stays open and
        referenced until the process ends (`end_process_if_abandoned`), and so does its dataset
        lock (`OpenedWrite.close`), so that no other writer appends to it meanwhile;
        what it holds on disk is every committed sample, as after a kill, and the next
        reader once the process has ended repairs it.
        """
        self._closed = True
        self.abandoned = True
        # Every HDF5 object of the file stays referenced: releasing one flushes it.
        _ABANDONED.append((self._file, self._samples, self._history))
        fsops.release_beyond_end(self.path)
        if sys.unraisablehook is not _log_hdf5_release_failures:
            global _previous_unraisablehook
            _previous_unraisablehook = sys.unraisablehook
            sys.unraisablehook = _log_hdf5_release_failures
        log.info("gave up writing %s after a failed write; its file is left as after a "
                  "kill", self.path)

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
        fsops.release_beyond_end(self.path)


# Files given up after a failed write (see DatasetWriter._abandon).
_ABANDONED: list[tuple[Any, ...]] = []
_previous_unraisablehook = sys.unraisablehook


def _log_hdf5_release_failures(unraisable: Any) -> None:
    """After a failed write, HDF5 objects released by the failing call itself report the
    same failure again, each from h5py's deallocator: those go to the log, not stderr.
    Anything else is reported as before."""
    if (isinstance(unraisable.exc_value, (OSError, RuntimeError))
            and "h5py" in repr(unraisable.object)):
        log.debug("after a failed write: %s", unraisable.exc_value)
        return
    _previous_unraisablehook(unraisable)


def end_process_if_abandoned(code: int) -> None:
    """End this process at once, with `code`, if it gave a file up after a failed write:
    closing that file at exit can crash inside HDF5. The caller has reported the error."""
    if _ABANDONED:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


@dataclass
class OpenedWrite:
    """A locked dataset open for appending; close() releases both."""

    lock: DatasetLock
    writer: DatasetWriter

    def close(self) -> None:
        """Close the writer and release the lock; the lock of a file given up after a
        failed write is held until this process ends, so no other writer appends to a
        file this process still has open (`DatasetWriter._abandon`)."""
        try:
            self.writer.close()
        finally:
            if self.writer.abandoned:
                _ABANDONED.append((self.lock,))
            else:
                self.lock.release()


def open_for_create(path: Path, config: DatasetConfig,
                    compression: str = DEFAULT_COMPRESSION,
                    terrain: ElevationGrid | None = None) -> OpenedWrite:
    """Create the dataset file and open it for its first run. `terrain` is the elevation
    grid `config` is drawn over (`terrain.source.resolve_terrain` finds it when not given)."""
    if terrain is None:
        config, terrain = resolve_terrain(config)
    lock = DatasetLock(path, "create").acquire()
    try:
        remove_leftovers(leftovers_of(path), held_by_us=True)
        if path.exists() or path.is_symlink():
            raise exists_error(config, path)
        create_file(path, config, compression, terrain)
        created = path.lstat()
        try:
            return OpenedWrite(lock, DatasetWriter(path, "create"))
        except BaseException:
            remove_created_file(path, created)  # still under the lock
            raise
    except BaseException:
        lock.release()
        raise


def remove_created_file(path: Path, created: os.stat_result) -> bool:
    """Remove the file a create made and committed no sample to, if the file at `path`
    is still that one (not one put in its place). Call it holding the dataset lock."""
    try:
        now = path.lstat()
        if (now.st_dev, now.st_ino) != (created.st_dev, created.st_ino):
            log.warning("%s is not the file this create made; left as it is", path)
            return False
        path.unlink()
    except OSError as exc:
        log.warning("cannot remove %s, which no sample was committed to: %s", path, exc)
        return False
    log.info("removed %s: the create committed no sample", path)
    return True


def check_expandable(header: DatasetHeader) -> GeneratorVersion:
    """The version that draws the next samples of a dataset.

    DatasetFormatError if this Heimdall Studio does not know it (a later release drew
    the file): samples of another version would not continue the same random streams.
    """
    version = VERSIONS.get(header.generator_version)
    if version is None:
        raise DatasetFormatError(
            f"dataset '{header.name}' was drawn by generator version "
            f"{header.generator_version} (Heimdall Studio {header.app_version}), which this "
            f"Heimdall Studio ({__version__}) does not have: it draws versions "
            f"{', '.join(map(str, VERSIONS))}. Its samples stay readable: expand it with "
            f"Heimdall Studio {header.app_version} or later, or create a new dataset")
    return version


def open_for_expand(path: Path) -> OpenedWrite:
    if not path.is_file():
        raise DatasetNotFoundError(f"no dataset at {path}")
    header = read_header(path)  # refuse foreign or damaged files before touching anything
    # The run draws with the file's own generator version; one this release does not
    # have (a later release drew the file) is refused before the lock is taken.
    check_expandable(header)
    lock = DatasetLock(path, "expand").acquire()
    try:
        remove_leftovers(leftovers_of(path), held_by_us=True)
        return OpenedWrite(lock, DatasetWriter(path, "expand"))
    except BaseException:
        lock.release()
        raise
