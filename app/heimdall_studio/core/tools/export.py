"""Export a dataset to CSV or NPZ for tools that do not read HDF5.

Both formats are written slab by slab, so memory stays bounded at any dataset size, to a
file that gets its name only when complete (`fsops.write_new_file`: never replacing a
file, never through a link).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..config.fields import PER_RECEIVER_FIELDS, SAMPLE_FIELDS
from ..dataset import fsops
from ..dataset.reader import read_header, read_samples
from ..errors import ConfigError, DatasetExistsError, ExportError, HeimdallError, PathError

EXPORT_FORMATS = ("csv", "npz")
SLAB_ROWS = 1 << 16
ExportProgress = Callable[[int, int], None]  # (rows written, total rows)


def default_export_path(path: Path, fmt: str) -> Path:
    return path.with_suffix(f".{fmt}")


def export_dataset(path: str | Path, fmt: str, out: str | Path | None = None,
                   progress: ExportProgress | None = None) -> Path:
    """Write every committed sample of the dataset at `path`; returns the file written."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError("format", fmt, " or ".join(EXPORT_FORMATS))
    path = Path(path)
    header = read_header(path)
    target = Path(out) if out is not None else default_export_path(path, fmt)
    if not target.parent.is_dir():
        missing = not os.path.lexists(target.parent)
        raise PathError(f"cannot export to {target}: " + (
            f"the folder {target.parent} does not exist" if missing
            else f"{target.parent} is not a folder"))
    if target.exists():
        raise DatasetExistsError(f"{target} already exists; choose another --out")
    n = header.num_samples
    receivers = [r.name for r in header.config.receivers]
    writer = _write_csv if fmt == "csv" else _write_npz
    try:
        fsops.write_new_file(target, lambda file: writer(
            path, file, n, receivers, header.fields, progress or (lambda done, total: None)))
    except FileExistsError:
        raise DatasetExistsError(f"{target} already exists; choose another --out") from None
    except HeimdallError:
        raise
    except OSError as exc:  # read-only file system, permission denied, disk full
        where = "" if out is not None else "; choose another place with --out"
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}{where}") from None
    return target


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


def _write_csv(path: Path, out: BinaryIO, n: int, receivers: list[str],
               fields: dict[str, np.dtype], progress: ExportProgress) -> None:
    with io.TextIOWrapper(out, encoding="utf-8", newline="") as f:
        f.write(",".join(_quote(c) for c in csv_columns(receivers, fields)) + "\n")
        for start in range(0, n, SLAB_ROWS):
            stop = min(n, start + SLAB_ROWS)
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
            progress(stop, n)


def _quote(text: str) -> str:
    return f'"{text}"' if ("," in text or '"' in text) else text


def _write_npz(path: Path, out: BinaryIO, n: int, receivers: list[str],
               fields: dict[str, np.dtype], progress: ExportProgress) -> None:
    """An .npz (zip of .npy) whose members are streamed, not built in memory."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        _npy_member(z, "receivers", np.array(receivers))
        for i, (name, dtype) in enumerate(fields.items()):
            shape = (n, len(receivers)) if name in PER_RECEIVER_FIELDS else (n,)
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_2_0(member, {
                    "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                    "shape": shape})
                for start in range(0, n, SLAB_ROWS):
                    stop = min(n, start + SLAB_ROWS)
                    _, arrays = read_samples(path, start, stop, (name,))
                    member.write(np.ascontiguousarray(arrays[name], dtype=dtype).tobytes())
            progress(n * (i + 1) // len(fields), n)


def _npy_member(z: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with z.open(f"{name}.npy", "w") as member:
        np.lib.format.write_array(member, array, allow_pickle=False)
