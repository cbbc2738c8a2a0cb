"""The dataset file's layout (format version 1, see docs/file-format.md): names, types,
storage and compression of every member, and the history row.

Readers (`reader`) and the writer (`writer`) both follow it; nothing here opens a file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from ..config.fields import SAMPLE_FIELDS
from ..config.params import RECEIVER_PARAMS, param
from ..config.receivers import RECEIVER_KEYS, Receiver

FORMAT = "heimdall-studio-dataset"
FORMAT_VERSION = 1
SUFFIX = ".h5"
SCALAR_ATTRS = ("name", "dataset_type", "frequency_mhz", "tx_power_dbm", "min_snr_db",
                "min_receivers", "max_gdop", "inside_ratio", "seed")
STORAGE_CHUNK_ROWS = 1 << 15
# Compression policies: the float measurement columns barely shrink and gzip compresses
# them slower than the generator draws them, while the constant, boolean and count
# columns shrink many times over, fast (benchmarks/README.md, design figures). "light"
# (the default) compresses just those; "full" compresses everything, for smaller files.
GZIP = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
LOW_ENTROPY_FIELDS = ("tx_alt_m", "frequency_hz", "tx_power_dbm", "inside",
                      "num_receivers_detected", "signal_present", "line_of_sight",
                      "tx_antenna")
_COMPRESSION = param("compression")
DEFAULT_COMPRESSION: str = _COMPRESSION.default


def compression_filters(policy: str) -> dict[str, dict[str, Any]]:
    """h5py filter arguments per sample field for a compression policy."""
    _COMPRESSION.check(policy)
    compressed = {"light": LOW_ENTROPY_FIELDS, "full": tuple(SAMPLE_FIELDS), "none": ()}
    return {name: (GZIP if name in compressed[policy] else {}) for name in SAMPLE_FIELDS}


# HDF5 library-version bounds of every file written: HDF5 1.10 and later read them, and
# they allow SWMR. "latest" under HDF5 2.x writes objects that 1.10-1.14 cannot read, and
# a bound of v112 already makes boolean datasets unreadable to 1.10 (docs/file-format.md).
LIBVER = ("v110", "v110")
COPY_SLAB_ROWS = 1 << 18
# ... and at most this many bytes of them: an IQ dataset's sample takes half a megabyte
COPY_SLAB_BYTES = 64 << 20


def slab_rows(bytes_per_row: int) -> int:
    """Rows read or copied at once: COPY_SLAB_ROWS, fewer for large rows."""
    return max(1, min(COPY_SLAB_ROWS, COPY_SLAB_BYTES // max(1, bytes_per_row)))
MAX_HISTORY_ROWS = 100_000
STATS_UPDATING = -1  # /stats num_samples while a commit rewrites the histograms
# How often, and how long apart, a reader looks again at histograms being updated (a
# commit updates them within tens of milliseconds, even on a slow disk).
STATS_UPDATE_RETRIES = 10
STATS_UPDATE_WAIT_S = 0.02
# Even fully compressed, a sample's float measurements take far more than this.
MIN_BYTES_PER_SAMPLE = 16

_text = h5py.string_dtype("utf-8")
# /receivers: one column per receiver parameter, in the table's order; the antenna in its
# text form, a value not drawn (a dataset of generator version 3 or older) NaN.
RECEIVER_DTYPE = np.dtype([(p.key, "f8" if p.kind == "float" else _text)
                           for p in RECEIVER_PARAMS])


def receiver_records(receivers: Iterable[Receiver]) -> np.ndarray:
    """The receivers as /receivers rows."""
    return np.array([tuple(np.nan if value is None else value
                           for value in (r.column_value(name) for name in RECEIVER_KEYS))
                     for r in receivers], dtype=RECEIVER_DTYPE)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _text_value(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _column(dtype: Any, kind: type, label: str = "", unit: str = "",
            **default: Any) -> Any:
    """A HistoryRow field that is a /history column: its HDF5 type, its Python type, and
    its title where runs are listed ("" for none). The column list is made from these."""
    return dataclasses.field(metadata={"dtype": np.dtype(dtype), "kind": kind,
                                       "label": label, "unit": unit}, **default)


@dataclass(frozen=True)
class HistoryRow:
    """One create or expand run: a row of /history. Its fields are the file's columns,
    in order; HISTORY_DTYPE, the records and the dicts are all made from them."""

    kind: str = _column(h5py.string_dtype("utf-8", 8), str, "Run")
    started_utc: str = _column(h5py.string_dtype("utf-8", 32), str, "Started (UTC)")
    first_index: int = _column("i8", int, "First index")
    count: int = _column("i8", int, "Samples")
    candidates: int = _column("i8", int, "Candidates")
    rejected_too_few_receivers: int = _column("i8", int, "Rejected: too few rx")
    rejected_gdop: int = _column("i8", int, "Rejected: GDOP")
    duration_s: float = _column("f8", float, "Duration", "s")
    app_version: str = _column(h5py.string_dtype("utf-8", 16), str, "App version")
    # Of the rows the run appended: see rows_checksum. None: the file has no checksum
    # column (the first builds of Heimdall Studio 0.1).
    checksum: int | None = _column("u4", int, default=0)

    @classmethod
    def from_record(cls, record: np.void) -> HistoryRow:
        """A row from a record of a history dataset's own dtype (perhaps no checksum)."""
        names = record.dtype.names or ()
        values: list[Any] = [None if f.name == "checksum" and f.name not in names
                             else _FROM_RECORD[f.kind](record[f.name])
                             for f in HISTORY_FIELDS]
        return cls(*values)

    def to_record(self, dtype: np.dtype | None = None) -> np.ndarray:
        """This row as a record of `dtype`: a history dataset's own, which may lack the
        checksum column."""
        values = tuple(0 if value is None else value for value in self._values())
        record = np.array([values], dtype=HISTORY_DTYPE)
        if dtype is None or dtype == HISTORY_DTYPE:
            return record
        return np.array([tuple(record[0][name] for name in dtype.names or ())], dtype=dtype)

    def to_dict(self) -> dict[str, Any]:
        """Plain values by column name, for JSON."""
        return dict(zip(HISTORY_KEYS, self._values(), strict=True))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryRow:
        """The row `to_dict` gave; TypeError if a column is missing or of another type
        (a whole number will do for a float; the checksum may be None)."""
        if set(data) != set(HISTORY_KEYS):
            raise TypeError("history row of another layout")
        values: list[Any] = [_typed(data[f.name], f.kind, f.name == "checksum")
                             for f in HISTORY_FIELDS]
        return cls(*values)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in HISTORY_FIELDS)


_FROM_RECORD: dict[type, Callable[[Any], Any]] = {str: _text_value, int: int, float: float}


def _typed(value: Any, kind: type, optional: bool) -> Any:
    """`value` if JSON gave it as `kind` (a whole number will do for a float)."""
    if value is None and optional:
        return None
    if type(value) is kind:
        return value
    if kind is float and type(value) is int:
        return float(value)
    raise TypeError(f"{value!r} is not {kind.__name__}")


@dataclass(frozen=True)
class HistoryField:
    """A /history column, as the HistoryRow field declares it."""

    name: str
    dtype: np.dtype
    kind: type
    label: str  # its title where runs are listed; "" for a column not shown
    unit: str


HISTORY_FIELDS = tuple(HistoryField(f.name, **f.metadata)
                       for f in dataclasses.fields(HistoryRow))
HISTORY_KEYS = tuple(f.name for f in HISTORY_FIELDS)
HISTORY_DTYPE = np.dtype([(f.name, f.dtype) for f in HISTORY_FIELDS])


# Root attributes every reader reads first (the config is in config_json).
HEADER_ATTRS = ("format", "format_version", "config_json", "num_samples", "created_utc",
                "app_version", "generator_version")

# Members of the root group that readers or writers use; /terrain comes with terrain.
ROOT_MEMBERS = ("samples", "history", "receivers", "stats", "terrain")


def is_dataset_file_name(name: str) -> bool:
    """A dataset's file name: `*.h5`, not hidden (the writer's temporary files are)."""
    return name.endswith(SUFFIX) and not name.startswith(".")
