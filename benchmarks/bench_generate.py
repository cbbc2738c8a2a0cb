"""End-to-end generation speed: accepted samples per second into an HDF5 file.

Runs `create_dataset` at the default config for two sizes and reports the marginal rate
between them, so one-off costs (kernel loading, file creation) cancel out.

    .venv/bin/python benchmarks/bench_generate.py [--small N] [--large N]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numba
from heimdall_studio.core import api
from heimdall_studio.core.generator import generate_block


def timed_create(workspace: Path, name: str, n: int) -> tuple[float, int]:
    began = time.perf_counter()
    result = api.create_dataset(name, n, workspace, seed=1)
    return time.perf_counter() - began, result.candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=2_000_000)
    args = parser.parse_args()
    generate_block(api.make_config("warm", seed=0), 0, 10)  # load compiled kernels
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        t_small, c_small = timed_create(ws, "small", args.small)
        t_large, c_large = timed_create(ws, "large", args.large)
        size = (ws / "large.h5").stat().st_size
    rate = (args.large - args.small) / (t_large - t_small)
    cand = (c_large - c_small) / (t_large - t_small)
    print(f"machine          {platform.machine()}, {os.cpu_count()} cpus, "
          f"numba threads {numba.get_num_threads()}")
    print(f"runs             {args.small:,} samples in {t_small:.2f} s, "
          f"{args.large:,} in {t_large:.2f} s")
    print(f"samples/s        {rate:,.0f}   (marginal, file written, default compression)")
    print(f"candidates/s     {cand:,.0f}   (acceptance {args.large / c_large:.1%})")
    print(f"file size        {size / args.large:.1f} bytes/sample")


if __name__ == "__main__":
    main()
