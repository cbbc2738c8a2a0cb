"""Runs: a create or an expand, block by block, from the generator to the file.

`create_run` / `expand_run` are generators of `Progress` records, one per committed block;
closing the generator stops the run after the last commit (the run process and the command
line use them). `create_dataset` / `expand_dataset` run to the end, with an optional
callback and stop test.

Expansion takes a dataset and a sample count, nothing else: every generation parameter
comes from the dataset file, so an expansion can never mix distributions.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..config.fields import SampleBlock
from ..config.model import DatasetConfig, make_config
from ..config.names import validate_new_name
from ..config.network import resolve_receivers
from ..config.params import param
from ..config.units import format_size
from ..dataset import stats
from ..dataset.fsops import NO_LINKS
from ..dataset.layout import DEFAULT_COMPRESSION, compression_filters
from ..dataset.writer import (
    DatasetWriter,
    OpenedWrite,
    open_for_create,
    open_for_expand,
    remove_created_file,
    write_failure,
)
from ..errors import (
    ConfigError,
    DatasetFormatError,
    DatasetWriteError,
    HeimdallError,
    StratumUnfillableError,
)
from ..terrain.source import resolve_terrain
from ..workspace.paths import dataset_path, prepare_workspace, resolve_dataset
from .cluster import Cluster, ClusterSpec, connect, parse_optional

log = logging.getLogger(__name__)

_NUM_SAMPLES = param("num_samples")
# While a run prepares (the terrain's link grids), a record at most this often.
PREPARATION_RECORD_S = 0.25



def _opening(action: str, path: Path, call: Callable[[], OpenedWrite]) -> OpenedWrite:
    """`call()`, with what the operating system refuses said as one message.

    The core's own errors pass as they are; an OSError that escapes the writer or the
    lock (a read-only file system, permission denied, a full disk) becomes a
    DatasetWriteError naming the dataset, its folder and the cause.
    """
    try:
        return call()
    except HeimdallError:
        raise
    except (OSError, RuntimeError) as exc:  # h5py reports some failed writes as RuntimeError
        log.debug("cannot %s %s", action, path, exc_info=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            write_failure(exc)
        raise DatasetWriteError(f"cannot {action} dataset {path.stem!r} in {path.parent}: "
                                f"{reason}") from None


def check_sample_count(num_samples: Any) -> int:
    """A run's sample count, checked by its table entry: a whole number (numpy's too),
    never a float, even a whole one."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise ConfigError("num_samples", num_samples, _NUM_SAMPLES.allowed)
    return int(_NUM_SAMPLES.check(int(num_samples)))





def check_room(config: DatasetConfig, num_samples: int, folder: Path) -> None:
    """ConfigError, before anything is written, if the IQ records of `num_samples`
    samples cannot fit on the disk of `folder` (the nearest existing one). Records are
    noise-like and barely compress, so their raw size is what they need; the other
    fields are small, and each block reserves its own room as it commits (`writer`)."""
    needed = num_samples * config.iq_bytes_per_sample
    if not needed:
        return
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise ConfigError("num_samples", num_samples,
                          f"at most {free // config.iq_bytes_per_sample:,} samples on "
                          f"{folder}, which has {format_size(free)} free",
                          problem=f"needs {format_size(needed)} for the IQ records "
                          f"({format_size(config.iq_bytes_per_sample)} a sample)")


@dataclass(frozen=True)
class Progress:
    """Where a run stands after its latest commit."""

    path: Path
    kind: str  # "create" or "expand"
    first_index: int  # samples in the dataset before this run
    requested: int
    done: int  # samples committed by this run so far
    candidates: int
    rejected_too_few_receivers: int
    rejected_gdop: int
    elapsed_s: float
    # Histograms of the samples committed by the latest block (bins from `stats`).
    snr_edges: np.ndarray = field(repr=False)
    snr_counts: np.ndarray = field(repr=False)
    gdop_edges: np.ndarray = field(repr=False)
    gdop_counts: np.ndarray = field(repr=False)
    # Share of the preparation done (the terrain's link grids); 1 once samples come.
    prepared: float = 1.0
    # Where the blocks are computed: empty for this process, else the cluster's workers
    # (`cluster.Cluster.describe`) and the link to its scheduler's dashboard.
    compute: str = ""
    dashboard: str = ""

    @property
    def dataset(self) -> str:
        return self.path.stem

    @property
    def total(self) -> int:
        return self.first_index + self.done

    @property
    def finished(self) -> bool:
        return self.done >= self.requested

    @property
    def rate(self) -> float:
        """Committed samples per second."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.done == 0 or self.rate <= 0:
            return None
        return (self.requested - self.done) / self.rate

    @property
    def acceptance(self) -> float:
        return self.done / self.candidates if self.candidates else 0.0


def _run(opened: OpenedWrite, num_samples: int, kind: str,
         created: os.stat_result | None = None,
         cluster: Cluster | None = None) -> Iterator[Progress]:
    """The run's records; `created` is the file a create made, removed if nothing commits.
    Its blocks come from this process's generator, or from `cluster`'s workers (closed
    with the run).

    Started by `_started` before it is handed out, so closing it at any point (even
    before its first record) releases the file and the lock.
    """
    writer = opened.writer
    config = writer.config
    edges = stats.histogram_edges(config)
    empty = {k: np.zeros(len(e) - 1, np.int64) for k, e in edges.items()}
    start = writer.num_samples
    began = time.perf_counter()
    done = candidates = too_few = bad_gdop = 0
    discarded = False
    compute, dashboard = ("", "") if cluster is None else (cluster.describe(),
                                                           cluster.dashboard_link)
    blocks: Iterator[SampleBlock] | None = None
    try:
        yield None  # type: ignore[misc]  # where `_started` leaves it
        # numba loads with the first run, not with the API
        from ..sampling.histograms import histogram

        def nothing_yet(prepared: float) -> Progress:
            return Progress(writer.path, kind, start, num_samples, 0, 0, 0, 0,
                            time.perf_counter() - began, edges["snr_db"], empty["snr_db"],
                            edges["gdop"], empty["gdop"], prepared, compute, dashboard)

        yield nothing_yet(0.0)
        # The file's own generator version: the current one for a new dataset, the one
        # that drew the samples for an expansion (open_for_expand refused unknown ones),
        # over the file's own elevation grid.
        version, stop = writer.header.generator_version, start + num_samples
        if cluster is None:
            blocks = yield from _local_blocks(config, version, writer, start, stop,
                                              nothing_yet)
        else:  # each worker prepares its kernel with its first block
            blocks = cluster.blocks(config, version, writer.terrain, start, stop)
        for block in blocks:
            histograms = stats.block_histograms(edges, block.arrays, histogram)
            writer.append(block, histograms)
            done += block.count
            candidates += block.candidates
            too_few += block.rejected_too_few_receivers
            bad_gdop += block.rejected_gdop
            yield Progress(writer.path, kind, start, num_samples, done, candidates, too_few,
                           bad_gdop, time.perf_counter() - began,
                           edges["snr_db"], histograms["snr_db"],
                           edges["gdop"], histograms["gdop"], compute=compute,
                           dashboard=dashboard)
    except (DatasetWriteError, StratumUnfillableError) as exc:
        if created is None or done:
            raise
        discarded = _discard_empty_create(opened, created)
        if not discarded:
            raise
        raise type(exc)(f"{str(exc).rstrip('.')}. No sample was committed, so dataset "
                        f"{config.name!r} was not created") from None
    finally:
        try:
            if created is not None and done == 0 and not discarded:
                _discard_empty_create(opened, created)
        finally:
            opened.close()
            if blocks is not None:  # the block in flight is dropped, before its cluster
                cast(Generator[SampleBlock, None, None], blocks).close()
            if cluster is not None:
                cluster.close()
        log.info("%s %s: %d of %d samples in %.1f s (%d candidates), now %d", kind,
                 writer.path, done, num_samples, time.perf_counter() - began, candidates,
                 start + done)


def _local_blocks(config: DatasetConfig, version: int, writer: DatasetWriter, start: int,
                  stop: int, nothing_yet: Callable[[float], Progress]
                  ) -> Generator[Progress, None, Iterator[SampleBlock]]:
    """Prepare this process's kernel, yielding a record now and then while it takes time
    (the terrain's link grids); returns the generator's blocks."""
    from ..sampling.generator import generate_blocks, preparation

    steps = preparation(config, version, writer.terrain)
    heard = time.perf_counter()
    while True:
        try:
            share = next(steps)
        except StopIteration as prepared:
            return generate_blocks(config, start, stop, inputs=prepared.value)
        if time.perf_counter() - heard >= PREPARATION_RECORD_S:
            heard = time.perf_counter()
            yield nothing_yet(min(share, 0.999))


def _started(run: Iterator[Progress]) -> Iterator[Progress]:
    """Run a run's generator to its first `yield`, inside its try.

    A generator closed before it ever started skips its `finally`; this one has started,
    so closing it before its first record still releases the lock and the file.
    """
    next(run)
    return run


def _discard_empty_create(opened: OpenedWrite, created: os.stat_result) -> bool:
    """Remove the file a create made and committed nothing to; True if it is gone.
    Done under the dataset lock (still held: only the writer is closed here)."""
    opened.writer.close()  # closing twice is harmless; opened.close() follows
    return remove_created_file(opened.writer.path, created)


def create_run(config: DatasetConfig, num_samples: int,
               workspace: str | Path | None = None,
               compression: str = DEFAULT_COMPRESSION,
               cluster: ClusterSpec | str | None = None) -> Iterator[Progress]:
    """Create a new dataset; yields progress after each commit. Never overwrites.

    `compression` ("light", "full" or "none", see dataset.layout.compression_filters) is how the
    file stores samples, not what they are: it is not part of the config. Nor is
    `cluster`, where the blocks are computed (`runs.cluster`): the samples are the same.
    """
    num_samples = check_sample_count(num_samples)
    if not isinstance(config, DatasetConfig):
        raise TypeError("create_run takes a DatasetConfig; see make_config()")
    validate_new_name(config.name)
    path = dataset_path(config.name, workspace)
    compression_filters(compression)  # refuse a bad policy before touching the disk
    config, terrain = resolve_terrain(config)  # refuse what does not cover the box, too
    config = resolve_receivers(config)  # the receivers' errors, stored with the config
    check_room(config, num_samples, path.parent)
    spec = _cluster_spec(cluster)
    workers = None if spec is None else connect(spec)  # usable, before anything is written
    try:
        prepare_workspace(path.parent)
        opened = _opening("create", path,
                          lambda: open_for_create(path, config, compression, terrain))
    except BaseException:
        if workers is not None:
            workers.close()
        raise
    try:
        created = path.lstat()  # this run's file: the lock is held, nobody replaced it
        return _started(_run(opened, num_samples, "create", created, workers))
    except BaseException:
        opened.close()
        if workers is not None:
            workers.close()
        raise


def expand_run(dataset: str | Path, num_samples: int,
               workspace: str | Path | None = None,
               cluster: ClusterSpec | str | None = None) -> Iterator[Progress]:
    """Add samples to a dataset, with every parameter taken from its file; `cluster`
    says where they are computed, never what they are."""
    num_samples = check_sample_count(num_samples)
    spec = _cluster_spec(cluster)
    path = resolve_dataset(dataset, workspace)
    workers = None if spec is None else connect(spec)  # usable, before the file is opened
    try:
        opened = _opening("expand", path, lambda: open_for_expand(path))
    except DatasetFormatError:
        if workers is not None:
            workers.close()
        _check_writable(path)  # a file the OS will not let us write is no format error
        raise
    except BaseException:
        if workers is not None:
            workers.close()
        raise
    try:
        check_room(opened.writer.config, num_samples, path.parent)
        return _started(_run(opened, num_samples, "expand", cluster=workers))
    except BaseException:
        opened.close()
        if workers is not None:
            workers.close()
        raise


def _cluster_spec(cluster: ClusterSpec | str | None) -> ClusterSpec | None:
    return cluster if isinstance(cluster, ClusterSpec) else parse_optional(cluster)


def _check_writable(path: Path) -> None:
    """Raise DatasetWriteError if the operating system refuses to open `path` for writing."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK | NO_LINKS))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise DatasetWriteError(f"cannot expand dataset {path.stem!r}: {path} cannot be "
                                    f"written ({exc.strerror})") from None


ProgressCallback = Callable[[Progress], None]


def _drive(run: Iterator[Progress], progress: ProgressCallback | None,
           should_stop: Callable[[], bool] | None) -> Progress:
    last = None
    try:
        for last in run:
            if progress is not None:
                progress(last)
            if should_stop is not None and should_stop():
                break
    finally:
        close = getattr(run, "close", None)
        if close is not None:
            close()
    assert last is not None
    return last


def create_dataset(config: DatasetConfig | str, num_samples: int,
                   workspace: str | Path | None = None, *,
                   progress: ProgressCallback | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   compression: str = DEFAULT_COMPRESSION,
                   cluster: ClusterSpec | str | None = None, **params: Any) -> Progress:
    """Create a dataset of `num_samples` samples and return the final progress record.

    `config` is a DatasetConfig, or a name with parameters as keywords:
    `create_dataset("uhf", 10_000, frequency_mhz=430.0, tx_power_dbm=40.0)`.
    """
    if isinstance(config, DatasetConfig):
        if params:
            raise TypeError("give either a DatasetConfig or parameters, not both")
    else:
        config = make_config(config, **params)
    return _drive(create_run(config, num_samples, workspace, compression, cluster),
                  progress, should_stop)


def expand_dataset(dataset: str | Path, num_samples: int,
                   workspace: str | Path | None = None, *,
                   progress: ProgressCallback | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   cluster: ClusterSpec | str | None = None) -> Progress:
    """Add `num_samples` samples drawn exactly as the dataset's own were; `cluster`
    (`runs.cluster`) computes them elsewhere, the same."""
    return _drive(expand_run(dataset, num_samples, workspace, cluster), progress,
                  should_stop)

