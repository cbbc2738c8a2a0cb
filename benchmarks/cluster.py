"""Runs on a Dask cluster against plain local runs, and where a larger cluster's ceiling is.

    .venv/bin/python benchmarks/cluster.py            # about 3 minutes, 3 GiB of disk
    .venv/bin/python benchmarks/cluster.py --features 2000000 --iq 4000

Measures (docs/scaling.md), each after a warm-up run in the same process:
- `create_dataset` end to end, file written, of a feature dataset (the default network,
  built-in terrain, and the flat plane `terrain none`) and of an IQ dataset (defaults):
  locally, then with `--cluster local:2` (two worker processes of one thread, started by
  the run: its start is part of the time, and reported apart);
- per block on the cluster: the worker's compute time, the block's bytes, the time to
  bring a finished block to the client (serialised, sent over loopback TCP, read), and
  the client's time to commit it (`DatasetWriter.append`, timed inside the local run);
- the projected rate for 4, 16 and 64 workers: the workers' compute rate times their
  number, capped by the writer's commit rate and by the network (1 and 10 Gbit/s links
  into the client, whose bytes per sample the blocks give).

Everything it writes goes to a temporary folder it deletes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from report import print_table, row
from user_folders import private_user_folders

from heimdall_studio.core.api import create_dataset
from heimdall_studio.core.config.model import make_config
from heimdall_studio.core.config.versions import GENERATOR_VERSION
from heimdall_studio.core.dataset import writer as dataset_writer
from heimdall_studio.core.runs import cluster as clusters
from heimdall_studio.core.terrain.source import resolve_terrain

PROJECTED = (4, 16, 64)
LINKS_BYTES_PER_S = {"1 Gbit/s": 1e9 / 8 * 0.9, "10 Gbit/s": 10e9 / 8 * 0.9}


class CommitTimer:
    """Seconds and bytes `DatasetWriter.append` takes, while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.samples = 0
        self._original = dataset_writer.DatasetWriter.append

    def __enter__(self) -> CommitTimer:
        original = self._original
        timer = self

        def append(writer: Any, block: Any, *args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(writer, block, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - began
                timer.samples += block.count

        dataset_writer.DatasetWriter.append = append  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        dataset_writer.DatasetWriter.append = self._original  # type: ignore[method-assign]


def end_to_end(label: str, folder: Path, n: int, params: dict[str, Any]) -> dict[str, float]:
    """Local and local:2 create of `n` samples; the local run's commit time."""
    name = label.replace(",", "")
    create_dataset(f"warm-{name}", max(1, n // 20), folder, seed=1, **params)
    create_dataset(f"warm-{name}-cluster", max(1, n // 20), folder, seed=1,
                   cluster="local:2", **params)
    with CommitTimer() as commits:
        began = time.perf_counter()
        create_dataset(f"{name}-local", n, folder, seed=2, **params)
        local = time.perf_counter() - began
    connect = time.perf_counter()
    with clusters.connect(clusters.ClusterSpec.parse("local:2")) as _:
        connect = time.perf_counter() - connect
    began = time.perf_counter()
    create_dataset(f"{name}-cluster", n, folder, seed=2, cluster="local:2", **params)
    on_cluster = time.perf_counter() - began
    row(f"{label}: local create", f"{n / local:,.0f} /s", f"{n:,} samples in {local:.2f} s")
    row(f"{label}: local:2 create", f"{n / on_cluster:,.0f} /s",
        f"{on_cluster:.2f} s, of which about {connect:.2f} s starting the cluster")
    row(f"{label}: local:2 cost", f"{on_cluster / local - 1:+.1%}", "against the local run")
    return {"commit_rate": commits.samples / commits.seconds if commits.seconds else 0.0}


def per_block(label: str, n: int, params: dict[str, Any], commit_rate: float) -> None:
    """The cluster's blocks one by one: compute, bytes, transfer; and the projection."""
    name = label.replace(",", "")
    import distributed

    config, terrain = resolve_terrain(make_config(f"{name}-blocks", seed=3, **params))
    with clusters.connect(clusters.ClusterSpec.parse("local:2")) as cluster:
        tasks = clusters._RunTasks(cluster.client, config, GENERATOR_VERSION, terrain)
        plan = clusters._TaskPlanner(config)
        # one block per worker first: each prepares its kernel inputs
        first = [tasks.submit(0, plan.stop_after(0, n)) for _ in range(2)]
        distributed.wait(first)
        for future in first:
            plan.learn(clusters.unpacked(future.result()))
        compute = transfer = 0.0
        count = blocks = 0
        index = 0
        while index < n:
            last = plan.stop_after(index, n)
            future = tasks.submit(index, last)
            distributed.wait(future)  # computed, still on the worker
            began = time.perf_counter()
            block = clusters.unpacked(future.result())  # brought here
            transfer += time.perf_counter() - began
            compute += block.seconds
            count += block.count
            blocks += 1
            index = last
        bytes_per_sample = sum(a.nbytes for a in block.arrays.values()) / block.count
    worker_rate = count / compute
    row(f"{label}: block", f"{count / blocks:,.0f} samples",
        f"{bytes_per_sample * count / blocks / 1e6:.1f} MB")
    row(f"{label}: compute per block, one worker thread", f"{compute / blocks * 1e3:.0f} ms",
        f"{worker_rate:,.0f} samples/s per worker")
    row(f"{label}: transfer per block (loopback)", f"{transfer / blocks * 1e3:.1f} ms",
        f"{count * bytes_per_sample / transfer / 1e6:,.0f} MB/s")
    if commit_rate:
        row(f"{label}: commit per block (writer)",
            f"{count / blocks / commit_rate * 1e3:.1f} ms", f"{commit_rate:,.0f} samples/s")
    for workers in PROJECTED:
        caps = {"compute": workers * worker_rate, "writer": commit_rate or float("inf")}
        caps.update({link: rate / bytes_per_sample for link, rate in LINKS_BYTES_PER_S.items()})
        ten = min(caps["compute"], caps["writer"], caps["10 Gbit/s"])
        one = min(caps["compute"], caps["writer"], caps["1 Gbit/s"])
        bound = min(("compute", "writer", "10 Gbit/s"), key=lambda k: caps[k])
        row(f"{label}: projected, {workers} workers", f"{ten:,.0f} /s",
            f"bound by {bound} on 10 Gbit/s; {one:,.0f} /s on 1 Gbit/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--iq", type=int, default=2_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    cases = [("features, built-in terrain", args.features, {}),
             ("features, terrain none", args.features,
              {"propagation": {"terrain": {"source": "none"}}}),
             ("IQ complex64", args.iq, {"dataset_type": "iq_raw"})]
    with private_user_folders(args.workdir), tempfile.TemporaryDirectory(
            prefix="heimdall-cluster-", dir=args.workdir) as tmp:
        for label, n, params in cases:
            print(label, flush=True)
            figures = end_to_end(label, Path(tmp), n, params)
            per_block(label, n // 2, params, figures["commit_rate"])
    print_table()


if __name__ == "__main__":
    main()
