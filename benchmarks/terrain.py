"""The terrain model's speed: generation with and without terrain, preparing a dataset,
and the three figures of the default network with terrain against `--terrain none`.

    .venv/bin/python benchmarks/terrain.py            # about 2 minutes, 0.5 GB of disk
    .venv/bin/python benchmarks/terrain.py --quick

- Generation: marginal rates between a small and a large create (files written), for the
  built-in terrain (the default) and for terrain none, in the same process: accepted
  samples and candidates per second, and the acceptance of each.
- Preparation: the link grids and shadowing fields of the default network over the
  built-in grid, with an empty cache and from the cache; then over 3 arc-second SRTM
  tiles covering the training box (written here from the built-in grid plus detail finer
  than its cells: the cost depends on the sample count, not on the heights), with the
  tiles read and mosaicked, and the process's peak memory.
- The default network: the share of detecting links beyond the radio horizon (the
  direct ray between the antennas blocked by the ground or the earth's bulge, on the
  built-in grid, k = 4/3), the acceptance, and the share of Genova's detections north of
  45 N, for both models.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from report import print_table, row, timed
from user_folders import private_user_folders

from heimdall_studio.core import api
from heimdall_studio.core.sampling import link_cache
from heimdall_studio.core.sampling.diffraction import bullington_nu
from heimdall_studio.core.sampling.generator import load_kernels, prepare
from heimdall_studio.core.terrain.grid import builtin_grid
from heimdall_studio.core.terrain.profile import terrain_profile
from heimdall_studio.core.terrain.source import resolve_terrain

NONE = {"propagation": {"terrain": {"source": "none"}}}


def generation(ws: Path, small: int, large: int) -> None:
    rates = {}
    for label, params in (("builtin", {}), ("none", NONE)):
        # the link grids into the cache: both timed runs then read them (0.2 s each)
        api.create_dataset(f"warm-{label}", 1000, ws, seed=1, **params).path.unlink()
        runs = [timed(api.create_dataset, f"gen-{label}-{n}", n, ws, seed=1, **params)
                for n in (small, large)]
        (t0, r0), (t1, r1) = runs
        samples = (large - small) / (t1 - t0)
        candidates = (r1.candidates - r0.candidates) / (t1 - t0)
        rates[label] = candidates
        row(f"terrain {label}: accepted samples/s", f"{samples:,.0f}",
            f"{small:,} vs {large:,} samples, file written")
        row(f"terrain {label}: candidates/s", f"{candidates:,.0f}",
            f"acceptance {large / r1.candidates:.1%}")
        for _, r in runs:
            r.path.unlink()
    row("candidates/s, builtin / none", f"{rates['builtin'] / rates['none']:.2f}",
        "target at least 0.7")


def preparation(tiles: Path) -> None:
    for entry in link_cache.folder().glob("*.npz"):
        entry.unlink()
    read_s, (resolved, grid) = timed(resolve_terrain, api.make_config("prep", seed=1))
    _prepare_twice("built-in grid", resolved, grid, "7 receivers")
    _write_tiles(tiles, resolved.propagation.terrain.bounds)
    read_s, (resolved, grid) = timed(resolve_terrain, api.make_config(
        "prep-tiles", seed=1, propagation={"terrain": {"source": "tiles",
                                                       "tiles_dir": str(tiles)}}))
    _prepare_twice("3 arc-second tiles", resolved, grid, f"reading the tiles {read_s:.1f} s more")


def _prepare_twice(what: str, config, grid, note: str) -> None:
    """Prepare with an empty cache for this grid, then again from the cache."""
    seconds, _ = timed(prepare, config, terrain=grid)
    row(f"prepare, {what}", f"{seconds:.2f} s",
        f"{grid.rows} x {grid.cols} samples, empty cache; {note}")
    seconds, _ = timed(prepare, config, terrain=grid)
    row(f"prepare, {what}, cached", f"{seconds:.2f} s")


def _write_tiles(folder: Path, bounds: tuple[float, float, float, float]) -> None:
    """3 arc-second tiles over `bounds`: the built-in grid plus detail finer than its
    cells."""
    folder.mkdir(exist_ok=True)
    base = builtin_grid()
    south, north, west, east = bounds
    for lat0 in range(int(np.floor(south)), int(np.ceil(north))):
        for lon0 in range(int(np.floor(west)), int(np.ceil(east))):
            lat = lat0 + 1 - np.arange(1201)[:, None] / 1200 + 0 * np.arange(1201)[None, :]
            lon = lon0 + np.arange(1201)[None, :] / 1200 + 0 * lat
            s, n, w, e = base.bounds
            heights = base.elevation(np.clip(lat, s, n), np.clip(lon, w, e))
            heights += 30 * np.sin(300 * lat) * np.cos(250 * lon)
            (folder / f"N{lat0:02d}E{lon0:03d}.hgt").write_bytes(
                np.rint(heights).astype(">i2").tobytes())


def network_figures(ws: Path, samples: int) -> None:
    grid = builtin_grid()
    rng = np.random.default_rng(0)
    for label, params in (("builtin", {}), ("none", NONE)):
        last = api.create_dataset(f"net-{label}", samples, ws, seed=7, **params)
        data = api.load_dataset(last.path)
        rx = data.config.receivers
        present = data["signal_present"]
        names = [r.name for r in rx]
        genova = names.index("Genova")
        north = (present[:, genova] & (data["tx_lat"] > 45.0)).sum() / present[:, genova].sum()
        # beyond the horizon: a sample of detecting links, their direct ray over the
        # built-in grid (the same real ground for both models)
        rows, cols = np.nonzero(present)
        pick = rng.choice(len(rows), size=min(4000, len(rows)), replace=False)
        hidden = beyond = 0
        tx_height = data.config.propagation.tx_height_m
        for i, r in zip(rows[pick], cols[pick], strict=True):
            dist, ground = terrain_profile(grid, rx[r].lat, rx[r].lon,
                                           data["tx_lat"][i], data["tx_lon"][i])
            h_rx = ground[0] + rx[r].antenna_height_m
            h_tx = ground[-1] + tx_height
            wavelength = 299.792458 / data.config.frequency_mhz
            hidden += bullington_nu(dist, ground, h_rx, h_tx, wavelength, 4 / 3) > 0
            # the radio horizon of a smooth earth, with the antenna heights each model
            # uses: above sea level over terrain; tx_height_m and alt_m on the flat plane
            if label == "none":
                h_tx, h_rx = tx_height, max(rx[r].alt_m, 10.0)
            horizon_km = 4.122 * (np.sqrt(max(h_tx, 0.0)) + np.sqrt(max(h_rx, 0.0)))
            beyond += data["distance_km"][i, r] > horizon_km
        row(f"terrain {label}: detecting links beyond the radio horizon",
            f"{beyond / len(pick):.1%}", f"of {len(pick):,} links: smooth earth, k = 4/3")
        row(f"terrain {label}: detecting links with the ray blocked",
            f"{hidden / len(pick):.1%}", "by the built-in grid's ground or the bulge")
        row(f"terrain {label}: acceptance", f"{last.acceptance:.1%}",
            f"{samples:,} samples")
        row(f"terrain {label}: Genova's detections north of 45 N", f"{north:.1%}",
            f"of {present[:, genova].sum():,}")
        last.path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description="Heimdall Studio terrain benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    print(f"Heimdall Studio terrain benchmark: {platform.machine()}, {os.cpu_count()} cpus, "
          f"numba threads {numba.get_num_threads()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp, private_user_folders(Path(tmp)):
        ws = Path(tmp) / "workspace"
        load_kernels()
        generation(ws, 100_000, 400_000 if args.quick else 2_000_000)
        preparation(Path(tmp) / "tiles")
        network_figures(ws, 50_000 if args.quick else 300_000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row("peak RSS", f"{peak:,.0f} MiB", "this process")
    print_table()


if __name__ == "__main__":
    main()
