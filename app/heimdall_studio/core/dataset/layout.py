"""The dataset file's layout (format version 1, see docs/file-format.md): names, types,
storage and compression of every member, and the history row.

Readers (`reader`) and the writer (`writer`) both follow it; nothing here opens a file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from ..config.fields import SAMPLE_FIELDS
from ..errors import ConfigError

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


# HDF5 library-version bounds of every file written: HDF5 1.10 and later read them, and
# they allow SWMR. "latest" under HDF5 2.x writes objects that 1.10-1.14 cannot read, and
# a bound of v112 already makes boolean datasets unreadable to 1.10 (SPEC section 13).
LIBVER = ("v110", "v110")
COPY_SLAB_ROWS = 1 << 18
MAX_HISTORY_ROWS = 100_000
STATS_UPDATING = -1  # /stats num_samples while a commit rewrites the histograms
# How often, and how long apart, a reader looks again at histograms being updated (a
# commit updates them within tens of milliseconds, even on a slow disk).
STATS_UPDATE_RETRIES = 10
STATS_UPDATE_WAIT_S = 0.02
# Even fully compressed, a sample's float measurements take far more than this.
MIN_BYTES_PER_SAMPLE = 16

_text = h5py.string_dtype("utf-8")
RECEIVER_DTYPE = np.dtype([("name", _text), ("lat", "f8"), ("lon", "f8"), ("alt_m", "f8"),
                           ("noise_figure_db", "f8"), ("antenna_gain_dbi", "f8")])
HISTORY_DTYPE = np.dtype([
    ("kind", h5py.string_dtype("utf-8", 8)), ("started_utc", h5py.string_dtype("utf-8", 32)),
    ("first_index", "i8"), ("count", "i8"), ("candidates", "i8"),
    ("rejected_too_few_receivers", "i8"), ("rejected_gdop", "i8"), ("duration_s", "f8"),
    ("app_version", h5py.string_dtype("utf-8", 16)),
    ("checksum", "u4"),  # of the rows the run appended: see rows_checksum
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
    # None: the file has no checksum column (the first builds of Heimdall Studio 0.1).
    checksum: int | None = 0

    @classmethod
    def from_record(cls, record: np.void) -> HistoryRow:
        def text(v: Any) -> str:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        checksum = int(record["checksum"]) if "checksum" in record.dtype.names else None
        return cls(text(record["kind"]), text(record["started_utc"]),
                   int(record["first_index"]), int(record["count"]),
                   int(record["candidates"]), int(record["rejected_too_few_receivers"]),
                   int(record["rejected_gdop"]), float(record["duration_s"]),
                   text(record["app_version"]), checksum)

    def to_record(self, dtype: np.dtype = HISTORY_DTYPE) -> np.ndarray:
        """This row as a record of `dtype`: a history dataset's own, which may lack the
        checksum column."""
        record = np.array([(self.kind, self.started_utc, self.first_index, self.count,
                            self.candidates, self.rejected_too_few_receivers,
                            self.rejected_gdop, self.duration_s, self.app_version,
                            self.checksum or 0)],
                          dtype=HISTORY_DTYPE)
        if dtype == HISTORY_DTYPE:
            return record
        return np.array([tuple(record[0][name] for name in dtype.names)], dtype=dtype)


# Root attributes every reader reads first (the config is in config_json).
HEADER_ATTRS = ("format", "format_version", "config_json", "num_samples", "created_utc",
                "app_version", "generator_version")

# Members of the root group that readers or writers use; /terrain comes with terrain.
ROOT_MEMBERS = ("samples", "history", "receivers", "stats", "terrain")


def is_dataset_file_name(name: str) -> bool:
    """A dataset's file name: `*.h5`, not hidden (the writer's temporary files are)."""
    return name.endswith(SUFFIX) and not name.startswith(".")
