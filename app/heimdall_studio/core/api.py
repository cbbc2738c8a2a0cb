"""The Python API: create, expand, load, list, delete and repair datasets.

One import for scripts and notebooks, and what the command line and the app call. Runs
come from `runs.driver` (generators of progress records, or run to the end with a
callback), reading from `dataset`, listing from `workspace`; this module finds a dataset
by name or path and adds what is done to a whole one (load, delete, repair).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config.model import DatasetConfig, make_config
from .dataset.locking import DatasetLock
from .dataset.reader import (
    DatasetHeader,
    guard_read,
    hdf5_version,
    open_read,
    parse_header,
    read_header,
    read_samples,
    read_terrain,
)
from .dataset.recovery import RepairReport, clear_interrupted_write
from .dataset.stats import DatasetStats, read_stats
from .errors import DatasetNotFoundError
from .runs.driver import (
    Progress,
    check_sample_count,
    create_dataset,
    create_run,
    expand_dataset,
    expand_run,
)
from .terrain import library as _terrain
from .terrain import source as _source
from .terrain.grid import ElevationGrid, builtin_grid
from .terrain.library import TileInfo
from .terrain.relief import relief_area, shaded_relief
from .workspace.listing import DatasetEntry, list_workspace
from .workspace.paths import (
    WORKSPACE_ENV,
    dataset_path,
    default_workspace,
    resolve_dataset,
    workspace_path,
)

# ---------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Dataset:
    """A dataset's config, history and sample arrays (names as in docs/file-format.md)."""

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
    folder, an earlier one) are not read again: see `workspace.listing`.
    """
    return list_workspace(workspace_path(workspace))


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


def resolve_terrain(config: DatasetConfig) -> tuple[DatasetConfig, list[str]]:
    """The config with its elevation grid identified, as a create would draw it, and
    warnings about it (receivers whose alt_m disagrees with the elevation data by more
    than 100 m). TerrainError when the terrain source does not cover the training box."""
    resolved, grid = _source.resolve_terrain(config)
    return resolved, _source.altitude_warnings(resolved, grid)


def dataset_terrain(dataset: str | Path,
                    workspace: str | Path | None = None) -> ElevationGrid | None:
    """The elevation grid a dataset is drawn over (None for a flat world)."""
    path = resolve_dataset(dataset, workspace)
    with guard_read(path), open_read(path) as f:
        return read_terrain(f, parse_header(f.id, path, check_samples=False))


def terrain_warnings(dataset: str | Path, workspace: str | Path | None = None) -> list[str]:
    """The dataset's receivers whose alt_m disagrees with the elevation grid it was drawn
    over by more than 100 m, one line each."""
    path = resolve_dataset(dataset, workspace)
    return _source.altitude_warnings(read_header(path, check_samples=False).config,
                                     dataset_terrain(path))


def builtin_terrain() -> ElevationGrid:
    """The elevation grid shipped with the app (GLOBE over north-west Italy)."""
    return builtin_grid()


def import_terrain(paths: Iterable[str | Path]) -> list[TileInfo]:
    """Check elevation tiles (files, or folders of them) and add them to the terrain
    library; nothing is imported if one is not a readable tile."""
    return _terrain.import_tiles(paths)


def terrain_tiles() -> list[TileInfo]:
    """The tiles of the terrain library, south-west first."""
    return _terrain.list_tiles()


def terrain_library() -> Path:
    """The terrain library's folder (`$HEIMDALL_STUDIO_TERRAIN_DIR` overrides it)."""
    return _terrain.library_dir()


__all__ = [
    "WORKSPACE_ENV",
    "Dataset",
    "DatasetEntry",
    "Progress",
    "RepairReport",
    "builtin_terrain",
    "check_sample_count",
    "create_dataset",
    "create_run",
    "dataset_header",
    "dataset_path",
    "dataset_stats",
    "dataset_terrain",
    "default_workspace",
    "delete_dataset",
    "expand_dataset",
    "expand_run",
    "hdf5_version",
    "import_terrain",
    "list_datasets",
    "load_dataset",
    "make_config",
    "relief_area",
    "repair_dataset",
    "resolve_dataset",
    "resolve_terrain",
    "shaded_relief",
    "terrain_library",
    "terrain_tiles",
    "terrain_warnings",
    "workspace_path",
]
