"""IQ datasets: what each step of the records costs, and how fast a dataset is made.

    .venv/bin/python benchmarks/iq.py              # about 1.5 minutes, 1 GiB of disk
    .venv/bin/python benchmarks/iq.py --workdir /big/disk --samples 5000

Measures, in one process (docs/iq.md), at the defaults (7 receivers x 10,000 complex
values, 560 kB a sample as complex64, 280 kB as complex int16):
- per step, one thread: emitting each modulation's waveform and their mean over the
  default mix, receiving one link (3 multipath taps), one record's noise;
- per sample, every thread, on blocks of the default network's samples: the records
  (`draw_records`), the estimates (`estimate_block`) and `synthesize` as a whole, with
  the network untimed (the default: SNR and offset) and with every receiver GPS-timed
  (arrival times too);
- end to end, `create_dataset` of an iq_raw dataset, file written, untimed and
  GPS-timed, complex64 and int16, each after a warm-up run in the same process;
- the disk's sequential write rate (1 GiB, fsync) in the work folder, and the samples
  per second it allows for each storage.

Everything it writes, datasets and caches, goes to a temporary folder it deletes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from report import print_table, row
from user_folders import private_user_folders

from heimdall_studio.core.api import create_dataset
from heimdall_studio.core.config.model import DatasetConfig, make_config
from heimdall_studio.core.config.network import resolve_receivers
from heimdall_studio.core.config.params import DEFAULT_MODULATIONS
from heimdall_studio.core.config.receivers import default_receivers
from heimdall_studio.core.sampling import iq_signals as iq
from heimdall_studio.core.sampling import iq_synthesis
from heimdall_studio.core.sampling.generator import IQ_BLOCK_BYTES, generate_block, prepare
from heimdall_studio.core.terrain.source import resolve_terrain

REPEATS = 30
WRITE_BYTES = 1 << 30
WRITE_BLOCK = 8 << 20
GPS = tuple(dataclasses.replace(r, timing="gps") for r in default_receivers())


def per_call(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Seconds per call, the best of three rounds after a warm-up call."""
    fn()
    best = np.inf
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - began) / repeats)
    return best


def write_rate(folder: Path) -> float:
    """Bytes per second written sequentially to a new file and synced."""
    block = np.random.default_rng(0).integers(0, 255, WRITE_BLOCK, np.uint8).tobytes()
    path = folder / "write-rate.bin"
    began = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(WRITE_BYTES // WRITE_BLOCK):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink()
    return WRITE_BYTES / (time.perf_counter() - began)


def steps(config: DatasetConfig) -> None:
    """One thread: each modulation's waveform, a link, a record's noise."""
    plan = iq_synthesis.RecordPlan(config)
    fs = plan.fs
    re = np.empty(plan.emitted, np.float32)
    im = np.empty(plan.emitted, np.float32)
    mix = dict(DEFAULT_MODULATIONS)
    mean = 0.0
    for code, name in enumerate(iq.MODULATIONS):
        s = per_call(lambda code=code: iq.emit_parts(np.uint64(code + 1), code, fs, re, im))
        mean += mix.get(name, 0.0) * s / sum(mix.values())
        row(f"emit {name}", f"{s * 1e3:.3f} ms", f"{plan.emitted:,} values, one thread")
    row("emit, mean over the default mix", f"{mean * 1e3:.3f} ms", "once per sample")
    out_re = np.zeros(plan.length, np.float32)
    out_im = np.zeros(plan.length, np.float32)
    delays = np.array([1e-3, 1e-3 + 1.5e-6, 1e-3 + 4e-6])
    gains = np.array([0.9 + 0j, 0.35j, -0.25 + 0j])
    receive_s = per_call(lambda: iq.receive_parts(re, im, fs, plan.lead_s, delays, gains,
                                                  137.0, 1e-6, out_re, out_im))
    noise_s = per_call(lambda: iq.add_noise_parts(np.uint64(3), 0, 1e-12, out_re, out_im))
    row("receive a link", f"{receive_s * 1e3:.3f} ms", "3 taps in one filter, one thread")
    row("noise of a record", f"{noise_s * 1e3:.3f} ms", f"{plan.length:,} values, one thread")


class Timed:
    """Wraps a module attribute to add up the seconds spent in it."""

    def __init__(self, module: Any, name: str):
        self.module, self.name, self.seconds = module, name, 0.0
        self.original = getattr(module, name)

    def __enter__(self) -> Timed:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began
        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


def per_sample(label: str, config: DatasetConfig, samples: int) -> None:
    """Every thread: records, estimates and synthesize, per sample, on whole blocks."""
    config, grid = resolve_terrain(resolve_receivers(config))
    rows = generate_block(config, 0, samples, prepare(config, terrain=grid)).arrays
    plan = iq_synthesis.RecordPlan(config)
    block = max(1, IQ_BLOCK_BYTES // config.iq_bytes_per_sample)
    parts = [{k: v[first:first + block] for k, v in rows.items()}
             for first in range(0, samples - block + 1, block)]
    iq_synthesis.synthesize(config, plan, 0, parts[0])  # kernels loaded, buffers made
    with Timed(iq_synthesis, "draw_records") as draw, \
            Timed(iq_synthesis.iq_estimators, "estimate_block") as estimate:
        began = time.perf_counter()
        for i, part in enumerate(parts):
            iq_synthesis.synthesize(config, plan, i * block, part)
        total = time.perf_counter() - began
    n = len(parts) * block
    row(f"records, {label}", f"{draw.seconds / n * 1e3:.3f} ms", "per sample, every thread")
    row(f"estimates, {label}", f"{estimate.seconds / n * 1e3:.3f} ms",
        "per sample, every thread")
    row(f"synthesize, {label}", f"{total / n * 1e3:.3f} ms",
        f"per sample: {1 / (total / n):,.0f} samples/s")


def end_to_end(workspace: Path, samples: int) -> None:
    """create_dataset, file written, after a warm-up run of two blocks."""
    for timing, receivers in (("untimed", None), ("GPS-timed", GPS)):
        for storage in ("complex64", "int16"):
            params: dict[str, Any] = {"dataset_type": "iq_raw", "iq_storage": storage}
            if receivers is not None:
                params["receivers"] = receivers
            block = IQ_BLOCK_BYTES // make_config("size", **params).iq_bytes_per_sample
            create_dataset("warm-up", 2 * block, workspace, seed=2, **params)
            done = create_dataset("timed", samples, workspace, seed=1, **params)
            row(f"create_dataset, {timing}, {storage}", f"{done.rate:,.0f} samples/s",
                f"{samples:,} samples in {done.elapsed_s:.1f} s, file written")
            for path in workspace.glob("*.h5"):
                path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=3000,
                        help="samples of each end-to-end dataset")
    args = parser.parse_args()
    folder = args.workdir or Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(dir=folder) as tmp, private_user_folders(Path(tmp)):
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        untimed = make_config("bench", dataset_type="iq_raw", seed=1)
        print(f"numba threads: {numba.get_num_threads()}")
        steps(untimed)
        for label, config in (("untimed", untimed),
                              ("GPS-timed", untimed.replace(receivers=GPS))):
            per_sample(label, config, 6 * max(1, IQ_BLOCK_BYTES
                                              // config.iq_bytes_per_sample))
        end_to_end(workspace, args.samples)
        rate = write_rate(Path(tmp))
    row("sequential write", f"{rate / 1e6:,.0f} MB/s",
        f"{WRITE_BYTES >> 20} MiB with fsync in {folder}")
    for storage in ("complex64", "int16"):
        size = make_config("size", dataset_type="iq_raw", iq_storage=storage)
        row(f"samples/s the disk allows, {storage}",
            f"{rate / size.iq_bytes_per_sample:,.0f}",
            f"{size.iq_bytes_per_sample / 1e3:,.0f} kB of records a sample")
    print_table()


if __name__ == "__main__":
    main()
