"""Export a dataset, or a range of its samples, to CSV, NPZ or Parquet for tools that do
not read HDF5.

Every format is written slab by slab, so memory stays bounded at any dataset size, to a
file that gets its name only when complete (`fsops.write_new_file`: never replacing a
file, never through a link). A caller follows the export through `progress` (samples
written of the total) and stops it through `stop_requested`, asked before every slab: the
export then raises ExportCancelled and leaves no file.

Parquet (pyarrow, the optional extra `parquet`) holds the CSV's columns, typed: a
per-receiver field is one column per receiver (`snr_db[Torino]`), NaN kept where a
receiver did not detect, one row group per slab, and the dataset's config JSON in the
schema metadata (`PARQUET_CONFIG_KEY`).

An `iq_raw` dataset exports to NPZ only: a CSV row cannot hold a sample's records (R x L
complex values). Its NPZ holds every field, the records as `iq`, an (n, R, L) complex64
array in sqrt(mW) (mean |x|^2 is the received power in mW), however the dataset stores
them: int16 records are decoded with their scales, so the NPZ has no `iq_scale`. Slabs of
records are bounded by bytes (`layout.slab_rows`); export a dataset too large for one file
by ranges of samples (`start`, `stop`), each NPZ then named by its first and last sample.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..config.fields import (
    IQ_SCALE_FIELD,
    PER_RECEIVER_FIELDS,
    RECORD_FIELDS,
    SAMPLE_FIELDS,
    field_shape,
)
from ..dataset import fsops
from ..dataset.layout import slab_rows
from ..dataset.reader import DatasetHeader, iq_records, read_header, read_samples
from ..errors import ConfigError, DatasetExistsError, ExportError, HeimdallError, PathError

EXPORT_FORMATS = ("csv", "npz", "parquet")
SLAB_ROWS = 1 << 16  # at most; fewer when rows are large (IQ records)
ExportProgress = Callable[[int, int], None]  # (rows written, total rows)
StopTest = Callable[[], bool]  # True: stop the export now
PARQUET_HINT = "Parquet needs pyarrow: pip install 'heimdall-studio[parquet]'"
PARQUET_CONFIG_KEY = b"heimdall_studio.config_json"
PARQUET_RECEIVERS_KEY = b"heimdall_studio.receivers"


class ExportCancelled(HeimdallError):
    """The export was stopped on request (`stop_requested`); no file was left."""


def parquet_available() -> bool:
    """Whether pyarrow can be imported (without importing it: it is large)."""
    return importlib.util.find_spec("pyarrow") is not None


def default_export_path(path: Path, fmt: str,
                        sample_range: tuple[int, int] | None = None) -> Path:
    """Beside the dataset: `<name>.<fmt>`, or `<name>_<first>-<last>.<fmt>` for the samples
    [first, last] of a range."""
    if sample_range is None:
        return path.with_suffix(f".{fmt}")
    first, stop = sample_range
    return path.with_name(f"{path.stem}_{first}-{stop - 1}.{fmt}")


def export_formats(header: DatasetHeader) -> tuple[str, ...]:
    """The formats a dataset exports to: an IQ dataset's records fit no CSV row."""
    return ("npz",) if "iq" in header.fields else EXPORT_FORMATS


def export_dataset(path: str | Path, fmt: str, out: str | Path | None = None,
                   progress: ExportProgress | None = None, start: int = 0,
                   stop: int | None = None, stop_requested: StopTest | None = None) -> Path:
    """Write the committed samples [start, stop) of the dataset at `path` (all of them by
    default); returns the file written. An iq_raw dataset exports to NPZ only.
    `stop_requested` is asked before every slab; when it says True the export raises
    ExportCancelled and no file is left."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError("format", fmt, ", ".join(EXPORT_FORMATS[:-1])
                          + f" or {EXPORT_FORMATS[-1]}")
    if fmt == "parquet" and not parquet_available():
        raise ExportError(PARQUET_HINT)
    path = Path(path)
    header = read_header(path)
    config = header.config
    if fmt not in export_formats(header):
        raise ConfigError("format", fmt, "npz, which holds the records as an (n, receivers, "
                          "L) complex64 array", problem=(
                              f"cannot hold the IQ records of an {config.dataset_type} "
                              f"dataset ({len(config.receivers)} receivers x "
                              f"{config.iq_length:,} complex values per sample)"))
    n = header.num_samples
    first, end = _sample_range(n, start, stop)
    whole = (first, end) == (0, n)
    target = (Path(out) if out is not None
              else default_export_path(path, fmt, None if whole else (first, end)))
    if not target.parent.is_dir():
        missing = not os.path.lexists(target.parent)
        raise PathError(f"cannot export to {target}: " + (
            f"the folder {target.parent} does not exist" if missing
            else f"{target.parent} is not a folder"))
    if target.exists():
        raise DatasetExistsError(f"{target} already exists; choose another --out")
    receivers = [r.name for r in config.receivers]
    writer = WRITERS[fmt]
    step = _checked_progress(progress, stop_requested)
    step(0, end - first)
    try:
        fsops.write_new_file(target, lambda file: writer(
            path, file, (first, end), receivers, header, step))
    except FileExistsError:
        raise DatasetExistsError(f"{target} already exists; choose another --out") from None
    except HeimdallError:
        raise
    except OSError as exc:  # read-only file system, permission denied, disk full
        where = "" if out is not None else "; choose another place with --out"
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}{where}") from None
    return target


def _checked_progress(progress: ExportProgress | None,
                      stop_requested: StopTest | None) -> ExportProgress:
    """`progress`, after asking `stop_requested`: the writers report after every slab, so
    an export stops within a slab of being asked to."""
    def step(done: int, total: int) -> None:
        if stop_requested is not None and stop_requested():
            raise ExportCancelled("the export was cancelled; no file was written")
        if progress is not None:
            progress(done, total)
    return step


def _sample_range(n: int, start: int, stop: int | None) -> tuple[int, int]:
    """[start, stop) checked against the dataset's n samples (stop None: n)."""
    stop = n if stop is None else stop
    if (isinstance(start, bool) or not isinstance(start, (int, np.integer))
            or not 0 <= start <= max(0, n - 1)):
        raise ConfigError("start", start, f"a sample index from 0 to {max(0, n - 1):,} "
                          f"(the dataset holds {n:,} samples)")
    if (isinstance(stop, bool) or not isinstance(stop, (int, np.integer))
            or not (start < stop <= n or start == stop == n == 0)):
        raise ConfigError("stop", stop, f"from start + 1 ({start + 1:,}) to {n:,}, the "
                          "number of samples (the range excludes stop)")
    return int(start), int(stop)


def csv_columns(receivers: list[str], fields: Iterable[str] = SAMPLE_FIELDS) -> list[str]:
    columns = ["index"]
    for name in fields:
        if name in PER_RECEIVER_FIELDS:
            columns += [f"{name}[{rx}]" for rx in receivers]
        else:
            columns.append(name)
    return columns


def _csv_text(values: np.ndarray) -> np.ndarray:
    """Column values as text; NaN (a receiver that did not detect) becomes empty."""
    if values.dtype == np.bool_:
        return np.where(values, "1", "0")
    if values.dtype.kind == "f":
        digits = 17 if values.dtype == np.float64 else 9  # enough to round-trip exactly
        text = np.char.mod(f"%.{digits}g", values)
        return np.where(np.isnan(values), "", text)
    return values.astype(str)


def _write_csv(path: Path, out: BinaryIO, sample_range: tuple[int, int],
               receivers: list[str], header: DatasetHeader, progress: ExportProgress) -> None:
    first, end = sample_range
    fields = header.fields
    rows = min(SLAB_ROWS, header.slab_rows)
    with io.TextIOWrapper(out, encoding="utf-8", newline="") as f:
        f.write(",".join(_quote(c) for c in csv_columns(receivers, fields)) + "\n")
        for start in range(first, end, rows):
            stop = min(end, start + rows)
            arrays = read_samples(path, start, stop)[1]
            columns = [np.arange(start, stop).astype(str)]
            for name in fields:
                values = arrays[name]
                if values.ndim == 2:
                    columns += [_csv_text(values[:, r]) for r in range(values.shape[1])]
                else:
                    columns.append(_csv_text(values))
            table = np.stack(columns, axis=1)
            f.write("\n".join(",".join(row) for row in table) + "\n")
            progress(stop - first, end - first)


def _quote(text: str) -> str:
    return f'"{text}"' if ("," in text or '"' in text) else text


def npz_fields(header: DatasetHeader) -> dict[str, np.dtype]:
    """The NPZ members of a dataset's fields and their dtypes: the file's, but IQ records
    always complex64 (int16 ones decoded: their scale is folded in, not exported)."""
    fields = {name: dtype for name, dtype in header.fields.items() if name != IQ_SCALE_FIELD}
    if "iq" in fields:
        fields["iq"] = np.dtype(np.complex64)
    return fields


def _write_npz(path: Path, out: BinaryIO, sample_range: tuple[int, int],
               receivers: list[str], header: DatasetHeader, progress: ExportProgress) -> None:
    """An .npz (zip of .npy) whose members are streamed, not built in memory: `receivers`,
    `index` (the samples' indices in the dataset) and one member per field."""
    first, end = sample_range
    count = end - first
    n_rx, length = len(receivers), header.config.iq_length
    fields = npz_fields(header)
    row_bytes = {name: dtype.itemsize * math.prod(field_shape(name, n_rx, length))
                 for name, dtype in fields.items()}
    total = max(1, sum(row_bytes.values()) * count)
    written = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        _npy_member(z, "receivers", np.array(receivers))
        _npy_member(z, "index", np.arange(first, end, dtype=np.int64))
        for name, dtype in fields.items():
            # int16 records are read with their scales, and decoded
            scaled = name in RECORD_FIELDS and IQ_SCALE_FIELD in header.fields
            read = (name, IQ_SCALE_FIELD) if scaled else (name,)
            rows = min(SLAB_ROWS, slab_rows(row_bytes[name]))
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_2_0(member, {
                    "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                    "shape": (count, *field_shape(name, n_rx, length))})
                for start in range(first, end, rows):
                    stop = min(end, start + rows)
                    _, arrays = read_samples(path, start, stop, read)
                    values = iq_records(arrays) if name in RECORD_FIELDS else arrays[name]
                    flat = np.ascontiguousarray(values, dtype=dtype).reshape(-1)
                    member.write(flat.view(np.uint8).data)
                    written += row_bytes[name] * (stop - start)
                    progress(count * written // total, count)
        progress(count, count)


def _npy_member(z: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with z.open(f"{name}.npy", "w") as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _write_parquet(path: Path, out: BinaryIO, sample_range: tuple[int, int],
                   receivers: list[str], header: DatasetHeader,
                   progress: ExportProgress) -> None:
    """A Parquet table with the CSV's columns, typed as in the file, one row group per
    slab (so memory stays bounded), the config JSON and receivers in its metadata."""
    import pyarrow as pa  # lazily: an optional dependency, and large
    import pyarrow.parquet as pq

    first, end = sample_range
    fields = header.fields
    names = csv_columns(receivers, fields)
    types = [pa.int64()] + [pa.from_numpy_dtype(dtype) for name, dtype in fields.items()
                            for _ in (receivers if name in PER_RECEIVER_FIELDS else [name])]
    metadata = {PARQUET_CONFIG_KEY: header.config_json.encode(),
                PARQUET_RECEIVERS_KEY: json.dumps(receivers).encode()}
    schema = pa.schema(list(zip(names, types, strict=True)), metadata=metadata)
    rows = min(SLAB_ROWS, header.slab_rows)
    with pq.ParquetWriter(out, schema) as writer:
        for start in range(first, end, rows):
            stop = min(end, start + rows)
            arrays = read_samples(path, start, stop)[1]
            columns: list[Any] = [np.arange(start, stop, dtype=np.int64)]
            for name in fields:
                values = arrays[name]
                columns += ([values[:, r] for r in range(values.shape[1])]
                            if values.ndim == 2 else [values])
            writer.write_table(pa.Table.from_arrays(
                [pa.array(c) for c in columns], schema=schema))
            progress(stop - first, end - first)


WRITERS = {"csv": _write_csv, "npz": _write_npz, "parquet": _write_parquet}
