"""The Python API: create, expand, load and list datasets.

Long work comes in two shapes. `create_run` / `expand_run` are generators of `Progress`
records, one per committed block; closing the generator stops the run after the last
commit (this is what the GUI worker and the command line use). `create_dataset` /
`expand_dataset` run to the end, with an optional callback and stop test.

Expansion takes a dataset and a sample count, nothing else: every generation parameter
comes from the dataset file, so an expansion can never mix distributions.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import platformdirs

from . import stats
from .config import DatasetConfig, validate_name
from .errors import ConfigError, DatasetNotFoundError
from .listing import DatasetEntry, list_workspace
from .locking import DatasetLock
from .store import (
    SUFFIX,
    DatasetHeader,
    DatasetStats,
    compression_filters,
    read_header,
    read_samples,
    read_stats,
)
from .writer import OpenedWrite, open_for_create, open_for_expand

log = logging.getLogger(__name__)

WORKSPACE_ENV = "HEIMDALL_STUDIO_WORKSPACE"
MAX_SAMPLES_PER_RUN = 10**10


def default_workspace() -> Path:
    """$HEIMDALL_STUDIO_WORKSPACE, else the platform's user data folder."""
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("heimdall-studio", appauthor=False) / "datasets"


def dataset_path(name: str, workspace: str | Path | None = None) -> Path:
    """`<workspace>/<name>.h5`; the name is checked so it cannot leave the workspace."""
    return Path(workspace or default_workspace()) / f"{validate_name(name)}{SUFFIX}"


def resolve_dataset(name_or_path: str | Path, workspace: str | Path | None = None) -> Path:
    """A dataset named in the workspace, or a path to a dataset file."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or os.sep in text or text.endswith(SUFFIX):
        path = Path(name_or_path).expanduser()
        if path.exists() or text.endswith(SUFFIX):
            return path
    return dataset_path(text, workspace)


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


def _run(opened: OpenedWrite, num_samples: int, kind: str) -> Iterator[Progress]:
    from .generator import generate_blocks  # numba loads with the first run, not the API

    writer = opened.writer
    config = writer.config
    edges = stats.histogram_edges(config)
    empty = {k: np.zeros(len(e) - 1, np.int64) for k, e in edges.items()}
    start = writer.num_samples
    began = time.perf_counter()
    done = candidates = too_few = bad_gdop = 0
    try:
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
    finally:
        opened.close()
        log.info("%s %s: %d of %d samples in %.1f s (%d candidates), now %d", kind,
                 writer.path, done, num_samples, time.perf_counter() - began, candidates,
                 start + done)


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
    path = dataset_path(config.name, workspace)
    compression_filters(compression)  # refuse a bad policy before touching the disk
    path.parent.mkdir(parents=True, exist_ok=True)
    return _run(open_for_create(path, config, compression), num_samples, "create")


def expand_run(dataset: str | Path, num_samples: int,
               workspace: str | Path | None = None) -> Iterator[Progress]:
    """Add samples to a dataset, with every parameter taken from its file."""
    num_samples = check_sample_count(num_samples)
    path = resolve_dataset(dataset, workspace)
    return _run(open_for_expand(path), num_samples, "expand")


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
    return list_workspace(Path(workspace or default_workspace()))


def delete_dataset(dataset: str | Path, workspace: str | Path | None = None) -> Path:
    """Remove a dataset file, refusing while a run writes it."""
    path = resolve_dataset(dataset, workspace)
    if not path.exists() and not path.is_symlink():
        raise DatasetNotFoundError(f"no dataset at {path}")
    with DatasetLock(path, "delete"):
        path.unlink()
    return path


__all__ = [
    "Dataset", "DatasetEntry", "Progress", "create_dataset", "create_run", "dataset_header",
    "dataset_stats",
    "dataset_path", "default_workspace", "delete_dataset", "expand_dataset", "expand_run",
    "list_datasets", "load_dataset", "make_config", "resolve_dataset",
]
