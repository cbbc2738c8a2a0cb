"""Reading dataset files safely: the header (config, count, history) and the samples.

Readers open files plainly, and in SWMR-read mode while a writer appends (see `writer`),
so they see every committed sample. A file left by a killed writer is first made
openable by every HDF5 reader again, in place (`recovery`), when nobody writes it. Anything
that is not a readable dataset of this format raises DatasetFormatError with the reason;
a file being written that cannot be read for a moment raises DatasetBusyError, one that
another program holds open for writing DatasetInUseError.

No link inside a file is followed: every member the app reads or writes must be a plain
(hard-linked) object of the file itself, so that a planted soft or external link, a
virtual dataset or external raw storage cannot make a reader or a writer touch another
file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ... import __version__
from ..config.fields import (
    IQ_SCALE_FIELD,
    SAMPLE_FIELDS,
    field_shape,
    row_bytes,
    sample_fields,
)
from ..config.model import DatasetConfig
from ..errors import (
    ConfigError,
    DatasetBusyError,
    DatasetFormatError,
    DatasetInUseError,
    DatasetNotFoundError,
    TerrainError,
)
from ..terrain.grid import ElevationGrid
from .layout import (
    FORMAT,
    FORMAT_VERSION,
    HEADER_ATTRS,
    HISTORY_DTYPE,
    MAX_HISTORY_ROWS,
    MIN_BYTES_PER_SAMPLE,
    ROOT_MEMBERS,
    HistoryRow,
    slab_rows,
)
from .locking import writer_pid
from .recovery import held_by_another_program, try_repair


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
    # config.versions.GENERATOR_VERSION that drew the samples (files without it: version 1)
    generator_version: int = 1
    # The config as the file stores it, so it can be kept again without serialising it.
    config_json: str = dataclasses.field(default="", repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def bytes_per_sample(self) -> int:
        """What one sample's fields take, uncompressed."""
        return row_bytes(self.fields, len(self.config.receivers), self.config.iq_length)

    @property
    def slab_rows(self) -> int:
        """Samples to read at once when reading all of them (`layout.slab_rows`)."""
        return slab_rows(self.bytes_per_sample)

    @property
    def fields(self) -> dict[str, np.dtype]:
        """The sample fields of this file (those of its generator version), in order."""
        return sample_fields(self.generator_version, self.config.dataset_type,
                             self.config.iq_storage)


# ---------------------------------------------------------------------------
# reading


def hdf5_version() -> str:
    """The version of the HDF5 library that reads and writes the files."""
    return str(h5py.version.hdf5_version)


def _read_access() -> h5py.h5p.PropFAID:
    """File access for readers, made once (h5py.File would build one per open).

    No HDF5 file locks: writers use our own lock files (see `locking`), and a reader must
    not be refused because a writer holds the file.
    """
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_file_locking(False, ignore_when_disabled=False)
    return fapl


_READ_ACCESS = _read_access()


def _check_regular_file(path: Path) -> None:
    """A regular file, not a link: one lstat answers all three questions."""
    try:
        mode = path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DatasetNotFoundError(f"no dataset at {path}") from None
    if stat.S_ISLNK(mode):
        raise DatasetFormatError(f"{path.name} is a symbolic link; links are not followed, "
                                 "so nothing outside the workspace is read or written")
    if not stat.S_ISREG(mode):
        raise DatasetFormatError(f"{path} is not a regular file")


# How long a reader waits for a writer of ours that has just opened a file to switch it to
# SWMR mode (it reads the header and adds its history row first: milliseconds).
READ_BUSY_WAIT_S = 2.0
# What HDF5 says when a file was left mid-write: open flags of a killed SWMR writer, or
# an end of file short of what the superblock records (a write that failed, disk full).
INTERRUPTED_WRITE_SIGNS = ("open for write", "truncated file")


def open_read_id(path: Path) -> h5py.h5f.FileID:
    """Open for reading, also while another process appends (SWMR) or after it crashed.

    A file left by a killed writer is repaired in place first, when nobody writes it, so
    that plain HDF5 readers open it too; a read-only one is read in SWMR mode as it is.
    The low-level file: header reads need nothing else (`open_read` wraps it).
    """
    _check_regular_file(path)
    name = os.fsencode(path)
    deadline = time.monotonic() + READ_BUSY_WAIT_S
    repaired = False
    while True:
        try:
            return h5py.h5f.open(name, h5py.h5f.ACC_RDONLY, fapl=_READ_ACCESS)
        except OSError as exc:
            reason = str(exc)
        if not any(sign in reason for sign in INTERRUPTED_WRITE_SIGNS):
            break
        if not repaired and try_repair(path):
            repaired = True
            continue
        if "open for write" in reason:
            # A writer has it open, or the file could not be repaired: SWMR readers see
            # every committed sample. (Plain opens come first because SWMR reads also
            # accept a truncated file.)
            try:
                return h5py.h5f.open(name, h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                                     fapl=_READ_ACCESS)
            except OSError as exc:
                reason = str(exc)
        pid = writer_pid(path)
        if pid is None:
            if held_by_another_program(path):
                raise DatasetInUseError(f"{path.name} is held open for writing by another "
                                        "program; it can be read once that program closes "
                                        "it") from None
            break
        if time.monotonic() > deadline:
            raise DatasetBusyError(f"{path.name} is being written by "
                                   f"{f'process {pid}' if pid else 'another process'} and "
                                   "cannot be read at this moment; try again") from None
        time.sleep(0.02)
    if "truncated file" in reason:
        raise DatasetFormatError(f"{path.name} is truncated: it ends before the data it "
                                 "describes") from None
    raise DatasetFormatError(f"{path.name} is not an HDF5 file or is damaged "
                             f"({reason.split('(', 1)[0].strip()})") from None


def open_read(path: Path) -> h5py.File:
    return h5py.File(open_read_id(path))


def short_reason(exc: BaseException) -> str:
    """HDF5's reason without its boilerplate: 'Unable to synchronously open file (file is
    already open for read-only)' becomes 'file is already open for read-only'."""
    text = str(exc).strip() or type(exc).__name__
    inner = re.match(r"^[^(]*\(([^()]*)\)", text)
    return (inner.group(1) if inner else text.split("(", 1)[0]).strip()[:200]


# The types this app writes its root attributes in; others take the general path.
_INT64 = h5py.h5t.NATIVE_INT64
_UTF8_TEXT = h5py.h5t.py_create(h5py.string_dtype(), logical=True)


def _root_attr(fid: h5py.h5f.FileID, key: str) -> Any:
    """A root attribute as a Python value, or None if absent or unreadable.

    Low-level reads: listing a workspace reads these from every file, and h5py's
    high-level attribute access costs several times more. Scalars of the two types the
    writer uses are read without building a numpy dtype for them.
    """
    try:
        attr = h5py.h5a.open(fid, key.encode())
        if attr.get_space().get_simple_extent_type() == h5py.h5s.SCALAR:
            kind = attr.get_type()
            if kind.equal(_INT64):
                number = np.empty((), np.int64)
                attr.read(number, mtype=_INT64)
                return number[()]
            if kind.equal(_UTF8_TEXT):
                text = np.empty((), object)
                attr.read(text)  # as bytes
                return text[()].decode("utf-8", "replace")  # type: ignore[attr-defined]
        value = np.empty(attr.shape, dtype=attr.dtype)
        attr.read(value)
    except (KeyError, OSError, TypeError, ValueError):
        return None
    if value.shape != ():
        return value
    value = value[()]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _attr_text(attrs: dict[str, Any], key: str, path: Path) -> str:
    value = attrs[key]
    if not isinstance(value, str):
        raise DatasetFormatError(f"{path.name}: attribute '{key}' is missing or not text")
    return value


def _attr_int(attrs: dict[str, Any], key: str, path: Path) -> int:
    value = attrs[key]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DatasetFormatError(f"{path.name}: attribute '{key}' is missing or not an "
                                 "integer")
    return int(value)


# Sample datasets as HDF5 types: comparing types in HDF5 (H5Tequal) gives the same answer
# as comparing numpy dtypes, without building a numpy dtype for every dataset of every file.
_SAMPLE_TYPES = {name: h5py.h5t.py_create(dtype) for name, dtype in SAMPLE_FIELDS.items()}
_HISTORY_TYPE = h5py.h5t.py_create(HISTORY_DTYPE)


@functools.lru_cache(maxsize=256)
def config_from_json(text: str) -> DatasetConfig:
    """Parsed once per distinct text (configs are immutable): a file keeps its config
    while it grows, so listings during a run do not parse it again at every commit."""
    return DatasetConfig.from_json(text)


def parse_header(f: h5py.h5f.FileID, path: Path, check_samples: bool = True
                 ) -> DatasetHeader:
    """Validate an open dataset file (the low-level one, `h5py.File.id`) and read its
    header.

    Without `check_samples`, the sample datasets are only looked up, not opened: their
    shapes and types are checked by every reader of samples (`read_header` and the
    functions below check them by default). Listing a workspace reads only the header of
    each file, in half the time: opening the fourteen datasets was half of it.

    Low-level h5py calls throughout: listing a workspace runs this for every file, and the
    high-level objects cost more than the checks themselves.
    """
    # Every root attribute first: looked up after the datasets, each costs more.
    attrs = {key: _root_attr(f, key) for key in HEADER_ATTRS}
    fmt = attrs["format"]
    if fmt != FORMAT:
        raise DatasetFormatError(
            f"{path.name} is not a Heimdall Studio dataset (format attribute "
            f"{'missing' if fmt is None else repr(str(fmt)[:40])})")
    version = _attr_int(attrs, "format_version", path)
    if version > FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path.name} has format_version {version}; this Heimdall Studio "
            f"({__version__}) reads up to {FORMAT_VERSION}: update the app")
    if version < 1:
        raise DatasetFormatError(f"{path.name} has an invalid format_version {version}")
    config_json = _attr_text(attrs, "config_json", path)
    try:
        config = config_from_json(config_json)
    except ConfigError as exc:
        raise DatasetFormatError(f"{path.name} holds an invalid config: {exc}") from None
    num_samples = _attr_int(attrs, "num_samples", path)
    if num_samples < 0:
        raise DatasetFormatError(f"{path.name} has a negative num_samples")
    size = path.stat().st_size
    if num_samples * MIN_BYTES_PER_SAMPLE > size:
        raise DatasetFormatError(f"{path.name} claims {num_samples:,} samples but holds only "
                                 f"{size:,} bytes")
    generator_version = 1  # written before files named their generator
    if attrs["generator_version"] is not None:
        generator_version = _attr_int(attrs, "generator_version", path)
        if generator_version < 1:
            raise DatasetFormatError(f"{path.name} has an invalid generator_version "
                                     f"{generator_version}")
    fields = sample_fields(generator_version, config.dataset_type, config.iq_storage)
    root = h5py.h5g.open(f, b"/")
    for name in ROOT_MEMBERS:
        _check_plain_link(root, name, "", path)
    samples = _open_object(f, "samples")
    if not isinstance(samples, h5py.h5g.GroupID):
        raise DatasetFormatError(f"{path.name} has no /samples group")
    for name in fields:
        if not _check_plain_link(samples, name, "/samples", path):
            raise DatasetFormatError(f"{path.name} lacks /samples/{name}")
    if check_samples:
        _check_sample_datasets(samples, path, fields, len(config.receivers),
                               config.iq_length, num_samples)
        _check_group_members(samples, "/samples", path)
        receivers = _open_object(f, "receivers")
        if isinstance(receivers, h5py.h5d.DatasetID):
            _check_plain_dataset(receivers, "/receivers", path)
        stats_group = _open_object(f, "stats")
        if isinstance(stats_group, h5py.h5g.GroupID):
            _check_group_members(stats_group, "/stats", path)
    return DatasetHeader(
        path=path, config=config, num_samples=num_samples,
        created_utc=_attr_text(attrs, "created_utc", path),
        app_version=_attr_text(attrs, "app_version", path),
        history=_read_history(f, path), size_bytes=size,
        generator_version=generator_version, config_json=config_json)


_LINK_KINDS = {h5py.h5l.TYPE_SOFT: "a soft link", h5py.h5l.TYPE_EXTERNAL: "an external link"}


def _check_plain_link(group: h5py.h5g.GroupID, name: str, where: str, path: Path) -> bool:
    """Whether `group` has a member `name`; a member that is not a hard link (a soft,
    external or user-defined link, which HDF5 would follow) is refused."""
    try:
        kind = group.links.get_info(name.encode()).type
    except (KeyError, RuntimeError):  # no such member
        return False
    if kind != h5py.h5l.TYPE_HARD:
        raise DatasetFormatError(
            f"{where}/{name} in {path.name} is {_LINK_KINDS.get(kind, 'a user-defined link')}, "
            "not data of the file itself; links are not followed, so this file is not read")
    return True


def _check_plain_dataset(ds: h5py.h5d.DatasetID, where: str, path: Path) -> None:
    """Data stored in the file itself: not a virtual dataset, no external raw storage."""
    dcpl = ds.get_create_plist()
    if dcpl.get_layout() == h5py.h5d.VIRTUAL:
        raise DatasetFormatError(f"{where} in {path.name} is a virtual dataset (its data "
                                 "lies in other files); it is not read")
    if dcpl.get_external_count() > 0:
        raise DatasetFormatError(f"{where} in {path.name} stores its data in external "
                                 "files; it is not read")


def _check_group_members(group: h5py.h5g.GroupID, where: str, path: Path) -> None:
    """Every member of the group is a hard link to a dataset stored in the file."""
    names: list[bytes] = []
    group.links.iterate(names.append)
    for raw in names:
        name = raw.decode("utf-8", "replace")
        _check_plain_link(group, name, where, path)
        obj = h5py.h5o.open(group, raw)
        if not isinstance(obj, h5py.h5d.DatasetID):
            raise DatasetFormatError(f"{where}/{name} in {path.name} is not a dataset")
        _check_plain_dataset(obj, f"{where}/{name}", path)


def _check_sample_datasets(samples: h5py.h5g.GroupID, path: Path,
                           fields: dict[str, np.dtype], n_rx: int, record_length: int,
                           num_samples: int) -> None:
    """Every sample dataset has its shape and type, and holds `num_samples` rows."""
    for name, dtype in fields.items():
        try:
            ds = h5py.h5d.open(samples, name.encode())
        except KeyError:
            raise DatasetFormatError(f"{path.name} lacks /samples/{name}") from None
        if not isinstance(ds, h5py.h5d.DatasetID):
            raise DatasetFormatError(f"/samples/{name} in {path.name} is not a dataset")
        shape = ds.shape
        want = field_shape(name, n_rx, record_length)
        if len(shape) != 1 + len(want) or shape[1:] != want:
            expected = ", ".join(["n", *map(str, want)])
            raise DatasetFormatError(f"/samples/{name} in {path.name} has shape {shape}, "
                                     f"expected ({expected}{',' if not want else ''})")
        if not ds.get_type().equal(_SAMPLE_TYPES[name]) and ds.dtype != dtype:
            raise DatasetFormatError(f"/samples/{name} in {path.name} has dtype {ds.dtype}, "
                                     f"expected {dtype}")
        if shape[0] < num_samples:
            raise DatasetFormatError(
                f"{path.name} claims {num_samples} samples but /samples/{name} "
                f"holds {shape[0]}")


def _open_object(f: h5py.h5f.FileID, name: str) -> Any:
    """The low-level group or dataset at `name`, or None if there is none."""
    try:
        return h5py.h5o.open(f, name.encode())
    except KeyError:
        return None


def _read_history(f: h5py.h5f.FileID, path: Path) -> tuple[HistoryRow, ...]:
    ds = _open_object(f, "history")
    if not isinstance(ds, h5py.h5d.DatasetID) or ds.rank != 1:
        raise DatasetFormatError(f"{path.name} has no readable /history")
    _check_plain_dataset(ds, "/history", path)
    if ds.get_type().equal(_HISTORY_TYPE):  # as written by this version: no conversion
        dtype, memory_type = HISTORY_DTYPE, _HISTORY_TYPE
    else:
        dtype, memory_type = ds.dtype, None
        # The first builds of Heimdall Studio 0.1 recorded no checksums.
        if dtype.names is None or set(HISTORY_DTYPE.names or ()) - set(dtype.names) - {"checksum"}:
            raise DatasetFormatError(f"{path.name} has no readable /history")
    if ds.shape[0] > MAX_HISTORY_ROWS:
        raise DatasetFormatError(f"{path.name} has an implausible history of "
                                 f"{ds.shape[0]:,} runs")
    records = np.empty(ds.shape, dtype)
    ds.read(h5py.h5s.ALL, h5py.h5s.ALL, records, memory_type)
    return tuple(HistoryRow.from_record(r) for r in records)


def read_header(path: str | Path, check_samples: bool = True) -> DatasetHeader:
    """Validate a dataset file and read its config, count and history (see
    `parse_header` for `check_samples`)."""
    path = Path(path)
    with guard_read(path):
        fid = open_read_id(path)
        try:
            return parse_header(fid, path, check_samples)
        finally:
            fid.close()


def read_samples(path: str | Path, start: int = 0, stop: int | None = None,
                 fields: tuple[str, ...] | None = None
                 ) -> tuple[DatasetHeader, dict[str, np.ndarray]]:
    """Committed samples [start, stop) of the given fields (all by default)."""
    path = Path(path)
    with guard_read(path), open_read(path) as f:
        header = parse_header(f.id, path)
        n = header.num_samples
        stop = n if stop is None else max(0, min(stop, n))
        start = max(0, min(start, stop))
        names = fields or tuple(header.fields)
        unknown = [k for k in names if k not in header.fields]
        if unknown:
            raise KeyError(f"unknown sample field {unknown[0]!r}" + (
                f" (generator version {header.generator_version} files do not hold it)"
                if unknown[0] in SAMPLE_FIELDS else ""))
        return header, {k: f["samples"][k][start:stop] for k in names}




def iq_records(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The IQ records of samples read from an iq_raw dataset, (n, R, L) complex64,
    whichever way the file stores them (int16 pairs are scaled by `iq_scale`)."""
    iq = arrays["iq"]
    if iq.dtype == np.complex64:
        return iq
    if IQ_SCALE_FIELD not in arrays:
        raise KeyError("int16 IQ records need their iq_scale field")
    scale = arrays[IQ_SCALE_FIELD][..., None]
    out = iq["r"].astype(np.complex64)
    out.imag = iq["i"]
    out *= scale
    return out


def read_terrain(f: h5py.File, header: DatasetHeader) -> ElevationGrid | None:
    """The elevation grid under /terrain that the file's samples are drawn over (None
    for a flat world); DatasetFormatError if it is missing or not the one the config
    names."""
    terrain = header.config.propagation.terrain
    if terrain.source == "none":
        return None
    where = f"{header.path.name}: /terrain"
    group = f.get("terrain")
    ds = group.get("elevation") if isinstance(group, h5py.Group) else None
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.dtype != np.float32:
        raise DatasetFormatError(f"{where} lacks the elevation grid the samples are drawn "
                                 "over, so the dataset cannot grow")
    try:
        grid = ElevationGrid(ds[()], float(group.attrs["first_lat"]),
                             float(group.attrs["first_lon"]), float(group.attrs["step_deg"]),
                             str(group.attrs.get("source", "")))
    except (KeyError, TypeError, ValueError, TerrainError) as exc:
        raise DatasetFormatError(f"{where} is not a readable elevation grid "
                                 f"({short_reason(exc)})") from None
    if grid.sha256 != terrain.sha256:
        raise DatasetFormatError(f"{where} is not the elevation grid its config names "
                                 f"(sha256 {grid.sha256[:12]}..., not "
                                 f"{terrain.sha256[:12]}...): altered or damaged")
    return grid


@contextlib.contextmanager
def guard_read(path: Path) -> Iterator[None]:
    """Turn low-level HDF5 failures while reading into a DatasetFormatError."""
    try:
        yield
    except (DatasetFormatError, DatasetNotFoundError):
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise DatasetFormatError(f"{path.name} cannot be read: {short_reason(exc)}") from None
