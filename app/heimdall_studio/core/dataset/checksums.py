"""Checksums of the sample rows each run appended, kept in the history (see
docs/file-format.md): a CRC-32 per field, combined per run."""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Iterable

import h5py
import numpy as np

from .layout import HistoryRow, slab_rows


def update_checksums(crcs: list[int], arrays: dict[str, np.ndarray]) -> list[int]:
    """Running CRC-32 per sample field, extended by the rows in `arrays`: one array per
    field of the file, in the file's field order (`DatasetHeader.fields`)."""
    return [zlib.crc32(np.ascontiguousarray(values).data, crc)
            for values, crc in zip(arrays.values(), crcs, strict=True)]


def rows_checksum(crcs: list[int]) -> int:
    """One checksum for a run's rows: the CRC-32 of the per-field CRCs, in field order."""
    return zlib.crc32(np.array(crcs, dtype="<u4").tobytes())


def checksum_of_rows(f: h5py.File, fields: Iterable[str], start: int, stop: int) -> int:
    """Recompute `rows_checksum` over rows [start, stop) as stored in an open file."""
    fields = tuple(fields)
    crcs = [0] * len(fields)
    datasets = [f["samples"][k] for k in fields]
    rows = slab_rows(sum(ds.dtype.itemsize * math.prod(ds.shape[1:]) for ds in datasets))
    for i in range(start, stop, rows):
        j = min(stop, i + rows)
        crcs = update_checksums(crcs, {k: f["samples"][k][i:j] for k in fields})
    return rows_checksum(crcs)


def trim_interrupted_run(f: h5py.File, fields: Iterable[str], rows: list[HistoryRow],
                         num_samples: int) -> list[HistoryRow]:
    """History as committed: a crash can leave the last run's row one block ahead of
    `num_samples` (the row is written first); trim it and recompute its checksum."""
    rows = [r for r in rows if r.first_index <= num_samples]
    if rows and rows[-1].first_index + rows[-1].count != num_samples:
        last = rows[-1]
        rows[-1] = dataclasses.replace(
            last, count=num_samples - last.first_index,
            checksum=checksum_of_rows(f, fields, last.first_index, num_samples))
    return rows

