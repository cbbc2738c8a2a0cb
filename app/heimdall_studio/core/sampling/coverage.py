"""What a config would give before it is run: coverage maps and the predicted acceptance.

The New dataset dialog shows these while its parameters change (docs/generation.md,
Coverage preview); they are computed in a process of their own (`runs.preview`).

- **Acceptance** is measured, not modelled: the current generator draws the first
  samples of the config with its own kernel (in small chunks, so that every thread has
  work and the first answer comes quickly) for a fraction of a second, and the share of
  its candidates it keeps is the prediction, with its binomial standard error. It is the
  quantity a run reports as its acceptance (`runs.driver.Progress.acceptance`).
- **Maps** over a lattice of cells of the training box: each cell's transmitters are drawn
  by the kernel's own `evaluate_candidate` (position uniform in the cell, every random term
  of the link budget drawn as a run draws it), so each receiver's probability of detecting
  a transmitter there is the share of draws it detects; their sum is the expected number
  of detecting receivers. The GDOP of a cell is that of the receivers more likely than not
  to detect a transmitter at its centre (SPEC section 4).
- **Warnings** about the layout: a receiver far from all others, a training box that is
  mostly sea, an acceptance below 1 %.

`Previewer` keeps the prepared kernel inputs (the terrain's link grids, the shadowing
fields) between requests while what they depend on does not change.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from ..config.geo import EARTH_RADIUS_KM, haversine_km, receiver_box, training_box
from ..config.model import DatasetConfig
from ..config.network import resolve_receivers
from ..errors import StratumUnfillableError
from ..terrain.grid import ElevationGrid, builtin_grid
from ..terrain.relief import relief_area, shaded_relief
from ..terrain.source import resolve_terrain
from . import kernel_v3, kernel_v4
from .generator import KernelInputs, generate_block, preparation, prepare
from .physics import gdop_from_vectors
from .rng import candidate_key, stream_key

# The acceptance: samples drawn for about this long, in chunks this large (the smallest
# chunk size a config may have), up to this many samples.
ACCEPTANCE_BUDGET_S = 0.15
PREVIEW_CHUNK = 64
MAX_PREVIEW_SAMPLES = 200_000
# The maps: cells a side, transmitters drawn per cell.
MAP_CELLS = 60
MAP_DRAWS = 24
# The maps' stream: stream_key(seed, 0, MAP_STREAM); datasets use strata 0 and 1, the
# shadowing fields 2.
MAP_STREAM = 3
# Warnings: a receiver this many times the median nearest-neighbour distance from its
# nearest neighbour, and at least this far; a box with more than this share of sea; an
# acceptance below this.
FAR_RECEIVER_FACTOR = 3.0
FAR_RECEIVER_KM = 150.0
SEA_SHARE = 0.5
LOW_ACCEPTANCE = 0.01
RELIEF_SIDE = 240  # pixels a side of the relief image sent with the maps


@dataclass(frozen=True)
class Acceptance:
    """Kept samples and candidates of the preview's draws; `unfillable` is the generator's
    message when a stratum could not be filled (a run would stop with it)."""

    kept: int
    candidates: int
    seconds: float
    unfillable: str | None = None

    @property
    def value(self) -> float:
        return self.kept / self.candidates if self.candidates else 0.0

    @property
    def error(self) -> float:
        """The binomial standard error of `value`."""
        if not self.candidates:
            return 1.0
        p = self.value
        return math.sqrt(max(p * (1.0 - p), 1.0 / self.candidates) / self.candidates)

    @property
    def rate(self) -> float:
        """Kept samples per second of the kernel's time."""
        return self.kept / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class CoverageMaps:
    """Maps over the training box, row 0 the southernmost cell."""

    bounds: tuple[float, float, float, float]  # south, north, west, east
    probability: np.ndarray  # (rows, cols, receivers): P(the receiver detects)
    gdop: np.ndarray  # (rows, cols); inf where fewer than 3 receivers likely detect

    @property
    def detections(self) -> np.ndarray:
        """The expected number of detecting receivers in each cell."""
        return self.probability.sum(axis=2)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitudes of the rows, longitudes of the columns, at the cells' centres."""
        south, north, west, east = self.bounds
        rows, cols = self.gdop.shape
        lat = south + (np.arange(rows) + 0.5) * (north - south) / rows
        lon = west + (np.arange(cols) + 0.5) * (east - west) / cols
        return lat, lon


@dataclass(frozen=True)
class CoveragePreview:
    """What the dialog shows of one config (plain values: it is pickled to the GUI)."""

    acceptance: Acceptance
    maps: CoverageMaps
    receiver_names: tuple[str, ...]
    receiver_lat: np.ndarray
    receiver_lon: np.ndarray
    receiver_box: tuple[float, float, float, float]  # lat0, lat1, lon0, lon1
    training_box: tuple[float, float, float, float]
    warnings: tuple[str, ...]
    relief: np.ndarray | None = None  # shaded relief, row 0 north (terrain.relief)
    relief_bounds: tuple[float, float, float, float] | None = None

    def message(self) -> dict[str, Any]:
        """The preview as plain values (numbers, text, arrays), for a process that must
        not load this module (`runs.preview.Coverage` takes them)."""
        a = self.acceptance
        return {
            "acceptance": a.value, "acceptance_error": a.error, "kept": a.kept,
            "candidates": a.candidates, "samples_per_s": a.rate, "unfillable": a.unfillable,
            "bounds": self.maps.bounds, "detections": self.maps.detections,
            "gdop": self.maps.gdop, "receiver_names": self.receiver_names,
            "receiver_lat": self.receiver_lat, "receiver_lon": self.receiver_lon,
            "receiver_box": self.receiver_box, "training_box": self.training_box,
            "warnings": self.warnings, "relief": self.relief,
            "relief_bounds": self.relief_bounds}


# ---------------------------------------------------------------------------
# acceptance


def measure_acceptance(config: DatasetConfig, inputs: KernelInputs,
                       budget_s: float = ACCEPTANCE_BUDGET_S,
                       max_samples: int = MAX_PREVIEW_SAMPLES) -> Acceptance:
    """Draw the config's first samples with the generator for about `budget_s` seconds
    (whole blocks: the first is small, the next sized to the time left)."""
    small = dataclasses.replace(config, chunk_size=PREVIEW_CHUNK)
    block_samples = 2 * numba.get_num_threads() * PREVIEW_CHUNK
    began = time.perf_counter()
    kept = candidates = index = 0
    seconds = 0.0
    while index < max_samples:
        try:
            block = generate_block(small, index, index + block_samples, inputs)
        except StratumUnfillableError as exc:
            return Acceptance(kept, candidates, seconds, str(exc))
        kept += block.count
        candidates += block.candidates
        seconds += block.seconds
        index += block.count
        left = budget_s - (time.perf_counter() - began)
        per_sample = block.seconds / block.count
        wanted = min(4 * block_samples, int(0.9 * left / per_sample), max_samples - index)
        if wanted < PREVIEW_CHUNK:
            break
        block_samples = wanted - wanted % PREVIEW_CHUNK
    return Acceptance(kept, candidates, seconds)


# ---------------------------------------------------------------------------
# maps


@njit(cache=True, nogil=True, parallel=True)
def _detection_draws(k0, k1, draws, bounds, rows, cols, rx_box, tr_box, rx, rx4, patterns,
                     tx_yagi, tx_mix, tx_gains, params, link, link_at, shadow, shadow_at,
                     elevation, elevation_at, tx_height_m, out):
    """out[row, col, r]: the share of `draws` transmitters, uniform in the cell, that
    receiver r detects (`kernel_v4.evaluate_candidate`; row 0 south)."""
    n_rx = rx.shape[0]
    south, north, west, east = bounds[0], bounds[1], bounds[2], bounds[3]
    d_lat = (north - south) / rows
    d_lon = (east - west) / cols
    for cell in prange(rows * cols):
        row = cell // cols
        col = cell % cols
        cell_box = np.array([south + row * d_lat, south + (row + 1) * d_lat,
                             west + col * d_lon, west + (col + 1) * d_lon])
        snr = np.empty(n_rx)
        noise = np.empty(n_rx)
        dist = np.empty(n_rx)
        east_km = np.empty(n_rx)
        north_km = np.empty(n_rx)
        excess = np.empty(n_rx)
        tx = np.empty(4)
        los = np.zeros(n_rx, dtype=np.bool_)
        present = np.zeros(n_rx, dtype=np.bool_)
        counts = np.zeros(n_rx)
        for m in range(draws):
            key = candidate_key(k0, k1, cell * draws + m)
            kernel_v4.evaluate_candidate(
                key, True, cell_box, tr_box, rx, rx4, patterns, tx_yagi, tx_mix, tx_gains,
                params, link, link_at, shadow, shadow_at, elevation, elevation_at,
                tx_height_m, snr, noise, dist, present, east_km, north_km, excess, los, tx)
            for r in range(n_rx):
                counts[r] += present[r]
        for r in range(n_rx):
            out[row, col, r] = counts[r] / draws


def coverage_maps(config: DatasetConfig, inputs: KernelInputs, cells: int = MAP_CELLS,
                  draws: int = MAP_DRAWS) -> CoverageMaps:
    """The detection probabilities and GDOP over `cells` x `cells` cells of the training
    box, for the inputs of a generator version that draws as version 4 does."""
    t = inputs.prepared
    if not isinstance(t, kernel_v4.NetworkInputs):
        raise TypeError(f"coverage maps need version 4's inputs, not {type(t).__name__}")
    bounds = training_box(config)
    south, north, west, east = bounds
    probability = np.zeros((cells, cells, len(config.receivers)))
    key = stream_key(config.seed, 0, MAP_STREAM)
    _detection_draws(key[0], key[1], draws, np.array([south, north, west, east]), cells,
                     cells, t.rx_box, t.tr_box, t.rx, t.rx4, t.patterns, t.tx_yagi,
                     t.tx_mix, t.tx_gains, t.params, t.link, t.link_at, t.shadow,
                     t.shadow_at, t.elevation, t.elevation_at,
                     config.propagation.tx_height_m, probability)
    maps = CoverageMaps((south, north, west, east), probability, np.empty((cells, cells)))
    _fill_gdop(maps, config)
    return maps


def _fill_gdop(maps: CoverageMaps, config: DatasetConfig) -> None:
    """GDOP at each cell's centre over the receivers more likely than not to detect."""
    rx_lat = np.radians([r.lat for r in config.receivers])
    rx_lon = np.radians([r.lon for r in config.receivers])
    lats, lons = maps.cell_centres()
    likely = maps.probability >= 0.5
    for i, lat in enumerate(np.radians(lats)):
        north = EARTH_RADIUS_KM * (rx_lat - lat)
        for j, lon in enumerate(np.radians(lons)):
            east = EARTH_RADIUS_KM * math.cos(lat) * (rx_lon - lon)
            maps.gdop[i, j] = gdop_from_vectors(east, north, likely[i, j], len(rx_lat))


# ---------------------------------------------------------------------------
# warnings


def far_receivers(config: DatasetConfig) -> list[str]:
    """Receivers whose nearest neighbour is more than FAR_RECEIVER_FACTOR times the median
    nearest-neighbour distance away, and more than FAR_RECEIVER_KM."""
    rx = config.receivers
    nearest = [min(haversine_km(a.lat, a.lon, b.lat, b.lon) for b in rx if b is not a)
               for a in rx]
    median = statistics.median(nearest)
    return [f"Receiver {r.name!r} is {d:,.0f} km from the nearest other receiver "
            f"({d / median:.0f} times the network's typical spacing): it widens the "
            f"training box, and transmitters near it are rarely heard by enough receivers"
            for r, d in zip(rx, nearest, strict=True)
            if d > FAR_RECEIVER_FACTOR * median and d > FAR_RECEIVER_KM]


def sea_share(config: DatasetConfig, grid: ElevationGrid | None) -> float | None:
    """The share of the training box at or below 0 m: in `grid`, or in the built-in
    elevation data where the config has none; None where neither covers the box."""
    south, north, west, east = training_box(config)
    for candidate in (grid, builtin_grid()):
        if candidate is not None and candidate.covers(south, north, west, east):
            lat = candidate.first_lat - np.arange(candidate.rows) * candidate.step_deg
            lon = candidate.first_lon + np.arange(candidate.cols) * candidate.step_deg
            rows = (lat >= south) & (lat <= north)
            cols = (lon >= west) & (lon <= east)
            heights = candidate.heights[np.ix_(rows, cols)]
            if heights.size:
                return float(np.mean(heights <= 0.0))
    return None


def layout_warnings(config: DatasetConfig, grid: ElevationGrid | None) -> list[str]:
    """What is worth knowing about the receivers and the box before creating."""
    warnings = far_receivers(config)
    sea = sea_share(config, grid)
    if sea is not None and sea > SEA_SHARE:
        warnings.append(f"The training box is {100 * sea:.0f} % sea: most transmitters "
                        "would be drawn over water")
    return warnings


def acceptance_warnings(acceptance: Acceptance) -> list[str]:
    if acceptance.unfillable is not None:
        return [f"A run would stop: {acceptance.unfillable}"]
    if acceptance.value < LOW_ACCEPTANCE:
        return [f"The predicted acceptance is {100 * acceptance.value:.2f} %: fewer than "
                "1 candidate in 100 is kept, so a run is slow; relax the filters (Min SNR, "
                "Min receivers, Max GDOP) or raise the TX power"]
    return []


# ---------------------------------------------------------------------------
# one preview after another


def world_key(config: DatasetConfig) -> str:
    """What the prepared kernel inputs depend on: the config but for the parameters the
    kernel reads from the config itself (the filters on counts and GDOP, the strata) and
    those that change nothing drawn before the IQ records."""
    data = config.to_dict()
    for key in ("name", "min_receivers", "max_gdop", "inside_ratio", "dataset_type",
                "chunk_size"):
        data.pop(key, None)
    return json.dumps(data, sort_keys=True, default=str)


def terrain_key(config: DatasetConfig) -> str:
    """What the terrain's link grids depend on (the long part of a preparation)."""
    resolved = resolve_receivers(config)
    return json.dumps([resolved.propagation.terrain.to_dict(),
                       kernel_v3.link_constants(resolved)], sort_keys=True, default=str)


class Previewer:
    """Previews one config after another, keeping the last prepared inputs."""

    def __init__(self) -> None:
        # The inputs with the world_key they were prepared for: one value, so that a
        # preparation closed for a newer request, or failed, leaves none rather than an
        # old key over no inputs.
        self._prepared: tuple[str, KernelInputs] | None = None

    def preview(self, config: DatasetConfig, budget_s: float = ACCEPTANCE_BUDGET_S
                ) -> Generator[float, None, CoveragePreview]:
        """Yield the share of the preparation done while it takes time; return the
        preview. Closing it during the preparation leaves nothing prepared."""
        config, grid = resolve_terrain(config)
        key = world_key(config)
        if self._prepared is None or self._prepared[0] != key:
            self._prepared = None  # the old inputs are freed before the new are made
            self._prepared = key, (yield from preparation(config, terrain=grid))
        inputs = self._prepared[1]
        acceptance = measure_acceptance(config, inputs, budget_s)
        maps = coverage_maps(config, inputs)
        relief = relief_bounds = None
        if grid is not None:
            relief, relief_bounds = shaded_relief(grid, RELIEF_SIDE), relief_area(
                grid, RELIEF_SIDE)
        rx = config.receivers
        return CoveragePreview(
            acceptance, maps, tuple(r.name for r in rx), np.array([r.lat for r in rx]),
            np.array([r.lon for r in rx]), receiver_box(config), training_box(config),
            tuple(layout_warnings(config, grid) + acceptance_warnings(acceptance)),
            relief, relief_bounds)


def run_preview(config: DatasetConfig, previewer: Previewer | None = None,
                progress: Callable[[float], None] | None = None) -> CoveragePreview:
    """`Previewer.preview` to its end (tests, scripts)."""
    steps = (previewer or Previewer()).preview(config)
    while True:
        try:
            share = next(steps)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(share)


def load_kernels() -> None:
    """Compile the maps' kernel, or load it from numba's cache, on a small flat patch."""
    receivers = [{"name": f"warmup {i}", "lat": 45.0 + 0.02 * (i % 2),
                  "lon": 7.0 + 0.02 * (i // 2), "alt_m": 0.0} for i in range(3)]
    config = DatasetConfig.from_dict({
        "name": "warmup", "seed": 0, "receivers": receivers, "margin_deg": 0.02,
        "propagation": {"terrain": {"source": "none"}}})
    coverage_maps(config, prepare(config), cells=2, draws=1)
