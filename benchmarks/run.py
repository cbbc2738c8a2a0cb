"""Heimdall Studio benchmark: every speed figure of the project comes from here.

    .venv/bin/python benchmarks/run.py            # full table (about 6 minutes, 6 GB disk)
    .venv/bin/python benchmarks/run.py --quick    # smaller sizes, for a first look

The GUI figures (event-loop stall, live plot rate, start-up) come from
gui_responsiveness.py, run offscreen in its own process; `--no-gui` skips them.

Rates are marginal between two run sizes, so start-up costs cancel out. Everything runs
at the default config and network with `--terrain none` (the flat plane: these figures
compare with earlier releases and the numpy reference; benchmarks/terrain.py measures the
terrain model), writing real files with the default compression.
Nothing of the user's is touched: settings, workspace, caches and logs of this run and of
the processes it starts are in its temporary folder (`user_folders`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from numpy_reference import evaluate_candidates
from report import print_table, row, timed
from user_folders import private_user_folders

from heimdall_studio.core import api
from heimdall_studio.core.sampling.generator import generate_block, generate_blocks
from heimdall_studio.core.workspace import index, listing

# The flat plane of generator version 2 (SPEC section 3), which the numpy reference draws.
FLAT = {"propagation": {"terrain": {"source": "none"}}}


def generation(ws: Path, small: int, large: int) -> float:
    t_small, r_small = timed(api.create_dataset, "gen-small", small, ws, seed=1, **FLAT)
    t_large, r_large = timed(api.create_dataset, "gen-large", large, ws, seed=1, **FLAT)
    rate = (large - small) / (t_large - t_small)
    cand = (r_large.candidates - r_small.candidates) / (t_large - t_small)
    row("samples/s (end to end)", f"{rate:,.0f}", f"{small:,} vs {large:,} samples, file written")
    row("candidates/s (end to end)", f"{cand:,.0f}",
        f"acceptance {large / r_large.candidates:.1%}")
    row("file size", f"{(ws / 'gen-large.h5').stat().st_size / large:.1f} B/sample",
        "compression 'light'")
    (ws / "gen-small.h5").unlink()
    (ws / "gen-large.h5").unlink()
    return cand


def kernel_only(samples: int) -> float:
    config = api.make_config("kernel", seed=1, **FLAT)
    began = time.perf_counter()
    candidates = sum(b.candidates for b in generate_blocks(config, 0, samples))
    return candidates / (time.perf_counter() - began)


def numpy_reference(candidates: int) -> float:
    config = api.make_config("numpy", seed=1, **FLAT)
    rng = np.random.default_rng(1)
    batch = 100_000
    began = time.perf_counter()
    for i in range(candidates // batch):
        evaluate_candidates(config, batch, rng, inside=i % 10 < 7)
    return candidates / (time.perf_counter() - began)


def scaling(ws: Path, sizes: list[int]) -> None:
    """Cost per sample by run size, until the file is on disk (a run, then `sync`).

    Without the sync, a run of 1e7 samples (1.4 GB) ends before the system writes its
    file back, while a run of 1e8 pays for the write-back of the first 12 GB as it goes.
    A run also has a fixed cost (creating and closing the file, the first small block),
    measured as a one-sample run; the note gives the cost per sample net of it.
    """
    def run_and_sync(name: str, n: int) -> None:
        api.create_dataset(name, n, ws, seed=2, **FLAT)
        os.sync()

    def best_of(n: int, runs: int) -> float:
        times = []
        for i in range(runs):
            os.sync()
            times.append(timed(run_and_sync, f"scale-{n}-{i}", n)[0])
            (ws / f"scale-{n}-{i}.h5").unlink()
        return min(times)

    fixed = best_of(1, 7)
    row("fixed cost of a run", f"{fixed * 1e3:.0f} ms", "a one-sample create, best of 7")
    previous = None
    for n in sizes:
        # small runs last milliseconds: the best of several, as for the fixed cost
        t = best_of(n, 7 if n <= 10**5 else 1)
        per, net = t / n * 1e6, (t - fixed) / n * 1e6
        note = f"net of the fixed cost {net:.3f} us"
        if previous is not None:
            note += f", x{net / previous:.2f} vs previous size"
        row(f"cost per sample at {n:.0e}", f"{per:.3f} us", note)
        previous = net


def expansion(ws: Path, base: int, extra: int) -> Path:
    api.create_dataset("base", base, ws, seed=3, **FLAT)
    t_expand, _ = timed(api.expand_dataset, "base", extra, ws)
    t_create, _ = timed(api.create_dataset, "fresh", extra, ws, seed=3, **FLAT)
    row(f"expand {base:.0e} by {extra:.0e}", f"{t_expand:.2f} s",
        f"create {extra:.0e}: {t_create:.2f} s, ratio {t_expand / t_create:.2f}")
    (ws / "fresh.h5").unlink()
    return ws / "base.h5"


STARTUP_LISTING = """
import sys, time
from heimdall_studio.core import api
began = time.perf_counter()
entries = api.list_datasets(sys.argv[1])
print(time.perf_counter() - began, sum(e.status == "ok" for e in entries))
"""


def browsing(ws: Path, big: Path, count: int) -> None:
    many = ws / "many"
    many.mkdir()
    # Listing indexes of this run stay in its folder: the first listing below has never
    # seen these files, and the user's cache is left alone.
    os.environ[index.CACHE_DIR_ENV] = str(ws / "cache")
    # Datasets of their own, not copies of one: each file's config is parsed on its own.
    for i in range(count):
        api.create_dataset(f"ds-{i:04d}", 1000, many, seed=i,
                           frequency_mhz=(145.0, 433.0, 868.0, 1296.0)[i % 4],
                           tx_power_dbm=30.0 + i % 10, **FLAT)
    # At rest: the files not written this very moment, and the system not writing back the
    # 1.4 GB just created meanwhile (one run without the sync listed in 1.55 s, not ~0.65).
    os.sync()
    time.sleep(listing.SETTLE_NS / 1e9)
    t_list, entries = timed(api.list_datasets, many)
    assert len(entries) == count and all(e.status == "ok" for e in entries)
    t_again, _ = timed(api.list_datasets, many)
    row(f"list {count:,} datasets", f"{t_list:.2f} s",
        f"never seen before; unchanged files after: {t_again * 1000:.0f} ms")
    started = subprocess.run([sys.executable, "-c", STARTUP_LISTING, str(many)],
                             capture_output=True, text=True, check=True)
    t_start, ok = started.stdout.split()
    assert int(ok) == count
    row(f"list {count:,} datasets at start-up", f"{float(t_start) * 1000:.0f} ms",
        "new process, with the listing index")
    t_stats, (header, _) = timed(api.dataset_stats, big)
    t_map, _ = timed(api.load_dataset, big, fields=("tx_lat", "tx_lon", "inside"), stop=20_000)
    row(f"distributions of {header.num_samples:.1e} samples", f"{t_stats:.3f} s",
        f"+ {t_map:.3f} s for 20,000 map points")


def gui(samples: int, workspace: Path) -> None:
    """The GUI figures, from gui_responsiveness.py in its own process (offscreen)."""
    script = Path(__file__).with_name("gui_responsiveness.py")
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    done = subprocess.run([sys.executable, str(script), "--samples", str(samples), "--json",
                           "--listing", str(workspace)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        row("GUI figures", "failed", done.stderr.strip().splitlines()[-1][:60])
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row("GUI max stall", f"{result['max_stall_ms']:.0f} ms",
        f"during a {result['samples']:,}-sample run in the window "
        f"({result['samples'] / result['seconds']:,.0f}/s); "
        f"99th percentile gap {result['p99_gap_ms']:.0f} ms")
    row("live plot refreshes", f"{result['redraws_per_s']:.1f} /s")
    startup = result["startup_s"]
    row("start-up to visible window", f"{max(startup):.2f} s",
        f"launch to window painted, worst of {len(startup)} (best {min(startup):.2f} s); "
        "numba cache warm")
    count = len(list(workspace.glob("*.h5")))
    for kind, note in (("cold", "never seen"), ("indexed", "with the listing index")):
        launch, first, every = zip(*result["listing_s"][kind], strict=True)
        row(f"first rows of {count:,} in the app", f"{max(first):.2f} s",
            f"{note}: window shown to first rows shown, worst of {len(first)} (best "
            f"{min(first):.2f} s)")
        row(f"all {count:,} rows in the app", f"{max(every):.2f} s",
            f"{note}: window shown to all rows shown, worst of {len(every)} (best "
            f"{min(every):.2f} s); launch to all rows {min(launch):.2f}-{max(launch):.2f} s")
    row("peak RSS of the app", f"{result['peak_rss_mib']:,.0f} MiB",
        f"during that run; its run process {result['run_peak_rss_mib']:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description="Heimdall Studio benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--largest", type=float, default=1e7,
                        help="largest scaling size (1e8 needs ~14 GB of disk)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-gui", action="store_true", help="skip the GUI figures")
    args = parser.parse_args()
    quick = args.quick
    generate_block(api.make_config("warm", seed=0, **FLAT), 0, 10)  # load compiled kernels
    print(f"Heimdall Studio benchmark: {platform.machine()}, {os.cpu_count()} cpus, "
          f"numba threads {numba.get_num_threads()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp, \
            private_user_folders(Path(tmp)):
        ws = Path(tmp)
        cand = generation(ws, 200_000, 1_000_000 if quick else 4_000_000)
        kernel = kernel_only(500_000 if quick else 2_000_000)
        reference = numpy_reference(500_000 if quick else 2_000_000)
        row("candidates/s (kernel only)", f"{kernel:,.0f}")
        row("candidates/s (numpy reference)", f"{reference:,.0f}", "compute only")
        row("numba / numpy ratio", f"{kernel / reference:.1f}x",
            f"end to end with file: {cand / reference:.1f}x")
        big = expansion(ws, 10**6 if quick else 10**7, 10**5 if quick else 10**6)
        browsing(ws, big, 100 if quick else 1000)
        big.unlink()
        if not args.no_gui:
            gui(1_000_000 if quick else 5_000_000, ws / "many")
        # Last: the largest run fills the page cache with gigabytes that the system then
        # writes back for a while, which would slow whatever ran next.
        top = int(args.largest if not quick else 1e6)
        scaling(ws, [10**k for k in range(4, 20) if 10**k <= top])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row("peak RSS", f"{peak:,.0f} MiB", "benchmark process (the GUI one is separate)")
    print_table()


if __name__ == "__main__":
    main()
