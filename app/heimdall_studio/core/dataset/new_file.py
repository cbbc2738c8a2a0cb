"""A new dataset file: its whole layout (docs/file-format.md) built in memory, then linked
into place, so that a dataset's path either does not exist or holds a complete file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ... import __version__
from ..config.fields import field_shape, sample_fields
from ..config.model import DatasetConfig
from ..config.versions import GENERATOR_VERSION
from ..errors import DatasetExistsError, DatasetWriteError
from ..terrain.grid import ElevationGrid
from . import fsops, stats
from .layout import (
    DEFAULT_COMPRESSION,
    FORMAT,
    FORMAT_VERSION,
    HISTORY_DTYPE,
    SCALAR_ATTRS,
    STORAGE_CHUNK_ROWS,
    compression_filters,
    receiver_records,
    utc_now,
)


def _write_layout(f: h5py.File, config: DatasetConfig, created_utc: str,
                   filters: dict[str, dict[str, Any]], terrain: ElevationGrid | None) -> None:
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["config_json"] = config.to_json()
    for key in SCALAR_ATTRS:
        f.attrs[key] = getattr(config, key)
    f.attrs["num_samples"] = np.int64(0)
    f.attrs["created_utc"] = created_utc
    f.attrs["app_version"] = __version__
    f.attrs["generator_version"] = np.int64(GENERATOR_VERSION)
    f.create_dataset("receivers", data=receiver_records(config.receivers))
    samples = f.create_group("samples")
    n_rx = len(config.receivers)
    fields = sample_fields(GENERATOR_VERSION, config.dataset_type, config.iq_storage)
    for name, dtype in fields.items():
        per_sample = field_shape(name, n_rx, config.iq_length)
        values = math.prod(per_sample)
        # about STORAGE_CHUNK_ROWS values a chunk; one sample's IQ records a chunk
        rows = max(1, STORAGE_CHUNK_ROWS // values) if len(per_sample) > 1 else \
            max(1024, STORAGE_CHUNK_ROWS // values)
        samples.create_dataset(
            name, shape=(0, *per_sample), maxshape=(None, *per_sample), dtype=dtype,
            chunks=(rows, *per_sample), **filters[name])
    f.create_dataset("history", shape=(0,), maxshape=(None,), dtype=HISTORY_DTYPE,
                     chunks=(64,))
    create_stats_group(f, config)
    if terrain is not None:
        write_terrain(f, terrain)


def write_terrain(f: h5py.File, grid: ElevationGrid) -> None:
    """/terrain: the elevation grid the samples are drawn over, so that the file alone
    expands (docs/file-format.md)."""
    group = f.create_group("terrain")
    rows, cols = grid.heights.shape
    group.create_dataset("elevation", data=grid.heights, dtype="f4",
                         chunks=(min(rows, 256), min(cols, 256)), shuffle=True,
                         compression="gzip", compression_opts=4)
    group.attrs["first_lat"] = np.float64(grid.first_lat)
    group.attrs["first_lon"] = np.float64(grid.first_lon)
    group.attrs["step_deg"] = np.float64(grid.step_deg)
    group.attrs["source"] = grid.source
    group.attrs["sha256"] = grid.sha256


def create_stats_group(f: h5py.File, config: DatasetConfig) -> None:
    if "stats" in f:
        del f["stats"]
    group = f.create_group("stats")
    group.attrs["num_samples"] = np.int64(0)
    for name, edges in stats.histogram_edges(config).items():
        group.create_dataset(name, data=np.zeros(len(edges) - 1, np.int64))
        group.create_dataset(f"{name}_edges", data=edges)


def create_file(path: Path, config: DatasetConfig, compression: str = DEFAULT_COMPRESSION,
                terrain: ElevationGrid | None = None) -> None:
    """Write an empty dataset file; refuse to replace an existing one.

    The file is built in memory, written to an unnamed file in the workspace (or, where
    the file system cannot make one, to an unpredictable name created exclusively) and
    linked into place: `path` either does not exist or is a complete, empty dataset, a
    kill leaves no temporary file, and no link planted in the workspace is followed.
    """
    image = _empty_file_image(config, compression, terrain)
    try:
        fsops.write_new_file(path, lambda out: out.write(image))
    except FileExistsError:
        raise exists_error(config, path) from None
    except OSError as exc:
        raise DatasetWriteError(f"cannot create dataset '{config.name}' in {path.parent}: "
                                f"{exc.strerror or exc}") from None


def exists_error(config: DatasetConfig, path: Path) -> DatasetExistsError:
    return DatasetExistsError(f"dataset '{config.name}' already exists at {path}; "
                              "expand it, or choose another name")


def _empty_file_image(config: DatasetConfig, compression: str,
                      terrain: ElevationGrid | None) -> bytes:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(backing_store=False)
    fapl.set_libver_bounds(*(h5py.h5f.LIBVER_V110,) * 2)
    fid = h5py.h5f.create(b"heimdall-new-dataset", h5py.h5f.ACC_EXCL, fapl=fapl)
    with h5py.File(fid) as f:
        _write_layout(f, config, utc_now(), compression_filters(compression), terrain)
        f.flush()
        return f.id.get_file_image()


def stats_layout_fits(f: h5py.File, config: DatasetConfig) -> bool:
    """Whether /stats holds a counts dataset of the right length for every histogram."""
    group = f.get("stats")
    if not isinstance(group, h5py.Group):
        return False
    for name, edges in stats.histogram_edges(config).items():
        ds = group.get(name)
        if not isinstance(ds, h5py.Dataset) or ds.shape != (len(edges) - 1,):
            return False
    return True
