"""Generator versions side by side: the kernel's rate per version, in one process.

    .venv/bin/python benchmarks/versions.py                 # versions 3 and 4
    .venv/bin/python benchmarks/versions.py --versions 2 3 4 --samples 100000

Each version draws the same default config (built-in terrain, then terrain none) with
`generate_block`, twice, alternating, so the machine's drift from minute to minute falls
on every version alike. Candidates per CPU second are given as well: they do not depend
on what else the machine runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from report import print_table, row

from heimdall_studio.core.api import make_config
from heimdall_studio.core.sampling.generator import generate_block, prepare
from heimdall_studio.core.terrain.source import resolve_terrain

REPEATS = 2
WARMUP = 5000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    for source in ("builtin", "none"):
        config, grid = resolve_terrain(make_config(
            "versions", seed=3, propagation={"terrain": {"source": source}}))
        inputs = {v: prepare(config, v, grid) for v in args.versions}
        for v in args.versions:
            generate_block(config, 0, WARMUP, inputs[v])
        for _ in range(REPEATS):
            for v in args.versions:
                wall, cpu = time.perf_counter(), time.process_time()
                block = generate_block(config, 0, args.samples, inputs[v])
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                row(f"terrain {source}, version {v}: candidates/s",
                    f"{block.candidates / wall:,.0f}",
                    f"{block.candidates / cpu:,.0f} per CPU second; "
                    f"{block.count / wall:,.0f} samples/s, kept "
                    f"{block.count / block.candidates:.1%}")
    print_table()


if __name__ == "__main__":
    main()
