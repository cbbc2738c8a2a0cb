"""The measurements behind design choices that comments in the code refer to.

    .venv/bin/python benchmarks/design_figures.py      # about half a minute

- compression: why the "light" policy compresses only some columns (dataset/layout.py);
- histograms: why a run counts with the compiled twin of dataset/stats.py's definition;
- headers: what a listing saves by reading only the header of a file, and by opening it
  with one file-access property list made once (dataset/reader.py).

Nothing of the user's is touched: everything is written in a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from user_folders import private_user_folders

from heimdall_studio.core import api
from heimdall_studio.core.dataset import stats
from heimdall_studio.core.dataset.layout import LOW_ENTROPY_FIELDS
from heimdall_studio.core.dataset.reader import open_read_id, parse_header
from heimdall_studio.core.sampling.histograms import histogram as compiled


def best_of(runs: int, fn, *args) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - began)
    return min(times)


def compression(arrays: dict[str, np.ndarray]) -> None:
    print("\ncompression, gzip level 1 with byte shuffle, one core (per column)")
    print(f"  {'column':24} {'ratio':>6} {'MB/s':>7}  light policy")
    for name, values in arrays.items():
        raw = np.ascontiguousarray(values)
        shuffled = raw.view(np.uint8).reshape(-1, raw.itemsize).T.copy().tobytes()
        seconds = best_of(3, zlib.compress, shuffled, 1)
        ratio = len(zlib.compress(shuffled, 1)) / len(shuffled)
        print(f"  {name:24} {ratio:6.2f} {len(shuffled) / seconds / 1e6:7.0f}  "
              f"{'compressed' if name in LOW_ENTROPY_FIELDS else 'stored'}")


def histograms(arrays: dict[str, np.ndarray], config) -> None:
    edges = stats.histogram_edges(config)
    stats.block_histograms(edges, arrays, compiled)  # compiled, or loaded from the cache
    n = len(arrays["gdop"])
    numpy_s = best_of(5, stats.block_histograms, edges, arrays)
    compiled_s = best_of(5, stats.block_histograms, edges, arrays, compiled)
    print(f"\nhistograms of one block of {n:,} samples: numpy definition "
          f"{numpy_s * 1e3:.1f} ms, compiled {compiled_s * 1e3:.1f} ms "
          f"({numpy_s / compiled_s:.1f}x)")


def headers(folder: Path, count: int) -> None:
    import h5py

    paths = sorted(folder.glob("*.h5"))[:count]

    def read_all(check_samples: bool) -> None:
        for path in paths:
            fid = open_read_id(path)
            try:
                parse_header(fid, path, check_samples)
            finally:
                fid.close()

    def open_high_level() -> None:
        for path in paths:
            h5py.File(path, "r", locking=False).close()

    def open_low_level() -> None:
        for path in paths:
            open_read_id(path).close()

    read_all(True)  # the files in the page cache
    per_file = {name: best_of(3, fn) / len(paths) * 1e6 for name, fn in (
        ("header only", lambda: read_all(False)), ("header and samples checked",
                                                   lambda: read_all(True)),
        ("h5py.File open", open_high_level), ("low-level open, one fapl", open_low_level))}
    print(f"\nper file, over {len(paths)} files:")
    for name, us in per_file.items():
        print(f"  {name:28} {us:7.0f} us")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, private_user_folders(Path(tmp)):
        ws = Path(tmp)
        config = api.make_config("design", seed=3)
        api.create_dataset(config, 262_144, ws, compression="none")
        arrays = api.load_dataset("design", ws).arrays
        compression(arrays)
        histograms(arrays, config)
        many = ws / "many"
        for i in range(200):
            api.create_dataset(f"h{i:03d}", 1000, many, seed=i)
        os.sync()
        headers(many, 200)


if __name__ == "__main__":
    main()
