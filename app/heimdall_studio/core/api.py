"""The Python API: create, expand, load and list datasets.

Long work comes in two shapes. `create_run` / `expand_run` are generators of `Progress`
records, one per committed block; closing the generator stops the run after the last
commit (this is what the GUI worker and the command line use). `create_dataset` /
`expand_dataset` run to the end, with an optional callback and stop test.

Expansion takes a dataset and a sample count, nothing else: every generation parameter
comes from the dataset file, so an expansion can never mix distributions.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import platformdirs

from . import stats
from .config import DatasetConfig, validate_name, validate_new_name
from .errors import (
    ConfigError,
    DatasetFormatError,
    DatasetNotFoundError,
    DatasetWriteError,
    HeimdallError,
    PathError,
    StratumUnfillableError,
)
from .fsops import NO_LINKS
from .listing import DatasetEntry, list_workspace
from .locking import DatasetLock
from .recovery import RepairReport, clear_interrupted_write
from .store import (
    SUFFIX,
    DatasetHeader,
    DatasetStats,
    compression_filters,
    read_header,
    read_samples,
    read_stats,
)
from .writer import (
    OpenedWrite,
    open_for_create,
    open_for_expand,
    remove_created_file,
    write_failure,
)

log = logging.getLogger(__name__)

WORKSPACE_ENV = "HEIMDALL_STUDIO_WORKSPACE"
MAX_SAMPLES_PER_RUN = 10**10


def default_workspace() -> Path:
    """$HEIMDALL_STUDIO_WORKSPACE, else the platform's user data folder."""
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return _expand_user(Path(env), WORKSPACE_ENV)
    return platformdirs.user_data_path("heimdall-studio", appauthor=False) / "datasets"


def workspace_path(workspace: str | Path | None = None) -> Path:
    """The workspace folder: the one given (`~` expanded), else `default_workspace()`."""
    if not workspace:
        return default_workspace()
    return _expand_user(Path(workspace), "workspace")


def _expand_user(path: Path, what: str) -> Path:
    if not str(path).startswith("~"):
        return path
    try:
        return path.expanduser()
    except RuntimeError:  # pathlib's answer for an unknown user or an unknown home
        user = path.parts[0][1:]
        known = f"there is no user {user!r}" if user else "the home folder is not known"
        raise PathError(f"{what} {str(path)!r} cannot be expanded: {known}") from None


def dataset_path(name: str, workspace: str | Path | None = None) -> Path:
    """`<workspace>/<name>.h5`; the name is checked so it cannot leave the workspace."""
    return workspace_path(workspace) / f"{validate_name(name)}{SUFFIX}"


def _is_path(text: str) -> bool:
    return "/" in text or os.sep in text or bool(os.altsep and os.altsep in text)


def resolve_dataset(name_or_path: str | Path, workspace: str | Path | None = None) -> Path:
    """The file of a dataset, found one way only.

    A bare name (text without a slash) is always the workspace's dataset of that name,
    even where a file of that name lies in the current folder; text with a slash, or a
    Path, is the path of a dataset file (`./a.h5` for a file here).
    """
    if isinstance(name_or_path, Path) or _is_path(str(name_or_path)):
        return _expand_user(Path(name_or_path), "dataset path")
    name = str(name_or_path)
    path = dataset_path(name, workspace)
    if not os.path.lexists(path):
        raise DatasetNotFoundError(_not_found(name, path))
    return path


def _not_found(name: str, path: Path) -> str:
    folder = path.parent
    message = f"no dataset {name!r} in {folder}"
    if not folder.is_dir():
        message += (" (that folder does not exist)" if not os.path.lexists(folder)
                    else " (that is not a folder)")
    hints = []
    if name.lower().endswith(SUFFIX):
        hints.append(f"a dataset is named without {SUFFIX}: type {name[:-len(SUFFIX)]!r}")
    if os.path.isfile(name):
        hints.append(f"for the file {name} in the current folder, type ./{name}")
    return message + "".join(f"; {hint}" for hint in hints)


def _prepare_workspace(folder: Path) -> None:
    """The workspace folder exists after this; what stands in its way is said plainly."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # something else than a folder has the name
        raise PathError(f"the workspace {folder} is {_kind_of(folder)}, not a folder; "
                        "choose another workspace") from None
    except NotADirectoryError:  # a file where a parent folder should be
        blocker = next((p for p in folder.parents if os.path.lexists(p) and not p.is_dir()),
                       folder.parent)
        raise PathError(f"the workspace {folder} cannot be made: {blocker} is "
                        f"{_kind_of(blocker)}, not a folder") from None
    except OSError as exc:  # read-only file system, permission denied, disk full
        raise DatasetWriteError(f"cannot create the workspace folder {folder}: "
                                f"{exc.strerror or exc}") from None


def _kind_of(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "not reachable"
    if stat.S_ISLNK(mode):
        return "a symbolic link to " + ("a non-folder" if path.exists() else "nothing")
    kinds = [(stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")]
    return next((text for test, text in kinds if test(mode)), "not a folder")


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
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or not 1 <= num_samples <= MAX_SAMPLES_PER_RUN:
        raise ConfigError("num_samples", num_samples,
                          f"a whole number from 1 to {MAX_SAMPLES_PER_RUN:,}")
    return int(num_samples)


def make_config(name: str, **params: Any) -> DatasetConfig:
    """A validated config; parameters not given take their defaults, the seed a random one."""
    return DatasetConfig.from_dict({"name": name, **params})


# ---------------------------------------------------------------------------
# runs


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
         created: os.stat_result | None = None) -> Iterator[Progress]:
    """The run's records; `created` is the file a create made, removed if nothing commits.

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
    try:
        yield None  # type: ignore[misc]  # where `_started` leaves it
        from .generator import generate_blocks  # numba loads with the first run, not the API

        yield Progress(writer.path, kind, start, num_samples, 0, 0, 0, 0, 0.0,
                       edges["snr_db"], empty["snr_db"], edges["gdop"], empty["gdop"])
        # The file's own generator version: the current one for a new dataset, the one
        # that drew the samples for an expansion (open_for_expand refused unknown ones).
        for block in generate_blocks(config, start, start + num_samples,
                                     writer.header.generator_version):
            histograms = stats.block_histograms(edges, block.arrays)
            writer.append(block, histograms)
            done += block.count
            candidates += block.candidates
            too_few += block.rejected_too_few_receivers
            bad_gdop += block.rejected_gdop
            yield Progress(writer.path, kind, start, num_samples, done, candidates, too_few,
                           bad_gdop, time.perf_counter() - began,
                           edges["snr_db"], histograms["snr_db"],
                           edges["gdop"], histograms["gdop"])
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
        log.info("%s %s: %d of %d samples in %.1f s (%d candidates), now %d", kind,
                 writer.path, done, num_samples, time.perf_counter() - began, candidates,
                 start + done)


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
               compression: str = "light") -> Iterator[Progress]:
    """Create a new dataset; yields progress after each commit. Never overwrites.

    `compression` ("light", "full" or "none", see store.compression_filters) is how the
    file stores samples, not what they are: it is not part of the config.
    """
    num_samples = check_sample_count(num_samples)
    if not isinstance(config, DatasetConfig):
        raise TypeError("create_run takes a DatasetConfig; see make_config()")
    validate_new_name(config.name)
    path = dataset_path(config.name, workspace)
    compression_filters(compression)  # refuse a bad policy before touching the disk
    _prepare_workspace(path.parent)
    opened = _opening("create", path, lambda: open_for_create(path, config, compression))
    try:
        created = path.lstat()  # this run's file: the lock is held, nobody replaced it
        return _started(_run(opened, num_samples, "create", created))
    except BaseException:
        opened.close()
        raise


def expand_run(dataset: str | Path, num_samples: int,
               workspace: str | Path | None = None) -> Iterator[Progress]:
    """Add samples to a dataset, with every parameter taken from its file."""
    num_samples = check_sample_count(num_samples)
    path = resolve_dataset(dataset, workspace)
    try:
        opened = _opening("expand", path, lambda: open_for_expand(path))
    except DatasetFormatError:
        _check_writable(path)  # a file the OS will not let us write is no format error
        raise
    try:
        return _started(_run(opened, num_samples, "expand"))
    except BaseException:
        opened.close()
        raise


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
                   compression: str = "light", **params: Any) -> Progress:
    """Create a dataset of `num_samples` samples and return the final progress record.

    `config` is a DatasetConfig, or a name with parameters as keywords:
    `create_dataset("uhf", 10_000, frequency_mhz=430.0, tx_power_dbm=40.0)`.
    """
    if isinstance(config, DatasetConfig):
        if params:
            raise TypeError("give either a DatasetConfig or parameters, not both")
    else:
        config = make_config(config, **params)
    return _drive(create_run(config, num_samples, workspace, compression), progress,
                  should_stop)


def expand_dataset(dataset: str | Path, num_samples: int,
                   workspace: str | Path | None = None, *,
                   progress: ProgressCallback | None = None,
                   should_stop: Callable[[], bool] | None = None) -> Progress:
    """Add `num_samples` samples drawn exactly as the dataset's own were."""
    return _drive(expand_run(dataset, num_samples, workspace), progress, should_stop)


# ---------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Dataset:
    """A dataset's config, history and sample arrays (SPEC section 7 names)."""

    header: DatasetHeader
    arrays: dict[str, np.ndarray]

    @property
    def config(self) -> DatasetConfig:
        return self.header.config

    @property
    def num_samples(self) -> int:
        return self.header.num_samples

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


def load_dataset(dataset: str | Path, workspace: str | Path | None = None,
                 fields: tuple[str, ...] | None = None,
                 start: int = 0, stop: int | None = None) -> Dataset:
    """Read committed samples (all fields by default) into memory."""
    header, arrays = read_samples(resolve_dataset(dataset, workspace), start, stop, fields)
    return Dataset(header, arrays)


def dataset_stats(dataset: str | Path,
                  workspace: str | Path | None = None) -> tuple[DatasetHeader, DatasetStats]:
    """Histograms of SNR, GDOP, receivers detected and distance over the whole dataset.

    Read from the file's running `/stats`, so this is instant at any dataset size.
    """
    return read_stats(resolve_dataset(dataset, workspace))


def dataset_header(dataset: str | Path, workspace: str | Path | None = None) -> DatasetHeader:
    return read_header(resolve_dataset(dataset, workspace))


def list_datasets(workspace: str | Path | None = None) -> list[DatasetEntry]:
    """Every `*.h5` file of the workspace; unreadable ones say why and never raise.

    Each file's header is read and checked; its sample datasets are checked when samples
    are read (`dataset_stats`, `load_dataset`, `expand_dataset`, ...). Files unchanged
    since they were last read (by this process or, through an index in the user cache
    folder, an earlier one) are not read again: see `listing`.
    """
    folder = workspace_path(workspace)
    if os.path.lexists(folder) and not folder.is_dir():
        raise PathError(f"the workspace {folder} is {_kind_of(folder)}, not a folder")
    return list_workspace(folder)


def delete_dataset(dataset: str | Path, workspace: str | Path | None = None) -> Path:
    """Remove a dataset file, refusing while a run writes it."""
    path = resolve_dataset(dataset, workspace)
    if not path.exists() and not path.is_symlink():
        raise DatasetNotFoundError(f"no dataset at {path}")
    with DatasetLock(path, "delete"):
        path.unlink()
    return path


def repair_dataset(dataset: str | Path, workspace: str | Path | None = None) -> RepairReport:
    """Make a file left by a killed writer openable by every HDF5 reader, in place.

    Any reader of this app does the same when it meets such a file; this does it on
    request and says what it did. Refused while a run writes the dataset, or while
    another program holds the file. The file is then read in full, so a report that
    returns means every committed sample is readable.
    """
    path = resolve_dataset(dataset, workspace)
    if not os.path.lexists(path):
        raise DatasetNotFoundError(f"no dataset at {path}")
    with DatasetLock(path, "repair"):
        report = clear_interrupted_write(path)
    read_header(path)  # every check a reader of samples makes
    return report


__all__ = [
    "Dataset", "DatasetEntry", "Progress", "RepairReport", "create_dataset", "create_run",
    "dataset_header", "dataset_stats",
    "dataset_path", "default_workspace", "delete_dataset", "expand_dataset", "expand_run",
    "list_datasets", "load_dataset", "make_config", "repair_dataset", "resolve_dataset",
    "workspace_path",
]
