"""Generator version 3: the terrain model (docs/propagation.md).

Placement, chunks, strata, the filters and the order of draws inside a candidate's
stream are those of version 2 (`kernel_v2`); what a link sees changes:

- its deterministic loss comes from the per-receiver link grids of `terrain_grids`
  (interpolated between the four lattice nodes around the transmitter) plus the free-space
  loss of its exact distance;
- shadowing is the receiver's seeded random field at the transmitter's place, not a draw;
- fading is Rician where the terrain leaves the first Fresnel zone 60 % clear, with K
  falling as the square root of distance, and Rayleigh where it does not;
- every sample also records each link's loss and line of sight, and the ground under the
  transmitter.

With terrain source `none` the samples are version 2's, bit for bit, with those three
fields added from the flat-plane model.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
from numba import njit, prange

from ..config.geo import EARTH_RADIUS_KM, MIN_DISTANCE_KM, receiver_box, training_box
from ..config.model import DatasetConfig
from ..errors import TerrainError
from ..terrain.grid import ElevationGrid
from ..terrain.profile import KM_PER_DEGREE
from . import kernel_v2, link_cache
from .diffraction import LINE_OF_SIGHT_NU
from .kernel_v2 import (
    COUNT_CANDIDATES,
    COUNT_GDOP,
    COUNT_TOO_FEW,
    DB_PER_NEPER,
    RAYLEIGH_SCATTER,
    RX_COS_HALF_LAT,
    RX_COS_HALF_LON,
    RX_COS_LAT,
    RX_LAT_RAD,
    RX_LINK_DB,
    RX_LON_RAD,
    RX_NOISE_DBM,
    RX_SIN_HALF_LAT,
    RX_SIN_HALF_LON,
    STATUS_OK,
    STATUS_UNFILLABLE,
    UNFILLABLE_AFTER,
    UNFILLABLE_RATIO,
    draw_position,
    fspl_constant_db,
    is_inside,
    receiver_constants,
)
from .physics import PATH_LOSS_TWO_RAY, gdop_from_vectors, noise_floor_dbm, receiver_height_m
from .rng import candidate_key, normal, stream_key, uniform
from .terrain_grids import (
    LINK_EXCESS_DB,
    LINK_NU,
    LINK_VALUES,
    grid_height,
    lattice_cell,
    link_rows,
    profile_points,
    profile_tables,
    shadowing_field,
)

# The link grids and shadowing fields are version 4's too (kernel_v4).
__all__ = ["COUNT_CANDIDATES", "COUNT_GDOP", "COUNT_TOO_FEW", "STATUS_OK",
           "STATUS_UNFILLABLE", "UNFILLABLE_AFTER", "UNFILLABLE_RATIO", "fill_block",
           "kernel_inputs", "link_constants", "link_grids", "shadowing_fields"]

# Draws per candidate: 3 for the position, then DRAWS_PER_LINK for each receiver
# (clutter, two fading normals, frequency offset).
DRAWS_POSITION = 3
DRAWS_PER_LINK = 4
DRAW_FREQ_OFFSET = 3

# The link lattice's step: link values vary on the scale of the terrain around the
# transmitter. 20 arc-seconds (about 620 by 440 m here) is 1.5 lattice points per cell of
# the built-in grid and prepares in under 2 s; finer tiles are sampled every few samples
# (docs/propagation.md, Speed, has the accuracy of each choice).
LINK_STEP_DEG = 1.0 / 180
# The shadowing lattice is this many times finer than the decorrelation distance, and at
# most SHADOWING_CELLS values (per receiver, summed) over the training box.
SHADOWING_CELLS_PER_DISTANCE = 3
SHADOWING_CELLS = 32_000_000
# The shadowing fields' streams: stream_key(seed, receiver, SHADOWING_STREAM); strata 0
# and 1 are the candidates' streams of each chunk.
SHADOWING_STREAM = 2
ROWS_PER_PROGRESS = 16


class TerrainInputs:
    """The arrays `draw_chunks` reads, made once per dataset (`preparation`)."""

    def __init__(self, config: DatasetConfig, grid: ElevationGrid, link: np.ndarray,
                 link_at: np.ndarray):
        prop = config.propagation
        rx = config.receivers
        self.rx_box = np.array(receiver_box(config))
        self.tr_box = np.array(training_box(config))
        self.elevation = np.ascontiguousarray(grid.heights, dtype=np.float32)
        self.elevation_at = np.array([grid.first_lat, grid.first_lon, grid.step_deg])
        self.rx = receiver_constants(
            np.array([r.lat for r in rx]), np.array([r.lon for r in rx]),
            np.full(len(rx), 10.0),  # a plane-earth column this kernel does not read
            np.array([r.antenna_gain_dbi for r in rx]),
            np.array([noise_floor_dbm(config.bandwidth_hz, r.noise_figure_db) for r in rx]),
            prop.tx_height_m, config.frequency_mhz, PATH_LOSS_TWO_RAY)
        self.link, self.link_at = link, link_at
        self.shadow, self.shadow_at = shadowing_fields(config)
        self.params = np.array([
            config.tx_power_dbm, config.min_snr_db, prop.clutter_min_db,
            prop.clutter_max_db - prop.clutter_min_db, prop.shadowing_sigma_db,
            10.0 ** (prop.rician_k_db / 10.0),  # K of a line-of-sight link at 1 km
            fspl_constant_db(config.frequency_mhz), LINE_OF_SIGHT_NU])


def preparation(config: DatasetConfig, grid: ElevationGrid | None
                ) -> Generator[float, None, object]:
    """Make the kernel's inputs, yielding the share done (0 to 1) as the link grids
    are computed; returns them. Link grids already made for the same grid, receivers
    and link constants come from the cache (`link_cache`) at once."""
    if config.propagation.terrain.source == "none":
        return kernel_v2.kernel_inputs(config)
    if grid is None:
        raise TerrainError(f"dataset '{config.name}' is drawn over terrain, and no "
                           "elevation grid was given")
    for r in config.receivers:
        if not grid.covers(r.lat, r.lat, r.lon, r.lon):
            raise TerrainError(f"receiver {r.name!r} lies outside the elevation data")
    key = link_cache.key(LINK_GRIDS_VERSION, grid.sha256, *link_constants(config))
    cached = link_cache.load(key)
    if cached is None:
        link, link_at = yield from link_grids(config, grid)
        link_cache.store(key, link, link_at)
    else:
        link, link_at = cached
    yield 1.0
    return TerrainInputs(config, grid, link, link_at)


# Changes whenever `link_rows` would compute other values, so the cache is never stale.
LINK_GRIDS_VERSION = "3.2"


def link_constants(config: DatasetConfig) -> tuple:
    """Everything besides the grid that the link grids depend on."""
    prop = config.propagation
    return (tuple((r.lat, r.lon, r.antenna_height_m) for r in config.receivers),
            prop.tx_height_m, config.frequency_mhz, prop.terrain.k_factor,
            prop.path_loss_model, prop.terrain.source == "flat", LINK_STEP_DEG)


def link_grids(config: DatasetConfig, grid: ElevationGrid
                ) -> Generator[float, None, tuple[np.ndarray, np.ndarray]]:
    prop = config.propagation
    lat = np.array([r.lat for r in config.receivers])
    lon = np.array([r.lon for r in config.receivers])
    link_step = link_step_deg(grid.step_deg)
    rows = int((grid.rows - 1) * grid.step_deg / link_step + 1e-9) + 1
    cols = int((grid.cols - 1) * grid.step_deg / link_step + 1e-9) + 1
    out = np.empty((rows, cols, len(lat), LINK_VALUES), np.float32)
    rx_agl = np.array([r.antenna_height_m for r in config.receivers])
    s, n, w, e = grid.bounds
    span = math.hypot(n - s, (e - w) * math.cos(math.radians(0.5 * (s + n))))
    tables = np.stack(profile_tables(profile_points(span, grid.step_deg)))
    heights = np.ascontiguousarray(grid.heights, dtype=np.float64)  # no conversion per point
    sea_from_zero = prop.terrain.source != "flat"
    two_ray = prop.path_loss_model == "two_ray"
    for start in range(0, rows, ROWS_PER_PROGRESS):
        stop = min(rows, start + ROWS_PER_PROGRESS)
        link_rows(heights, grid.first_lat, grid.first_lon, grid.step_deg, link_step, start, stop,
                  lat, lon, rx_agl, prop.tx_height_m, config.frequency_mhz,
                  prop.terrain.k_factor, sea_from_zero, two_ray, tables, out)
        yield stop / rows
    return out, np.array([grid.first_lat, grid.first_lon, link_step])


def link_step_deg(grid_step_deg: float) -> float:
    """The link lattice's step: LINK_STEP_DEG over a coarser grid, the nearest whole
    multiple of a finer grid's step (nodes on its samples)."""
    if grid_step_deg >= LINK_STEP_DEG:
        return LINK_STEP_DEG
    return grid_step_deg * max(1, round(LINK_STEP_DEG / grid_step_deg))


def shadowing_fields(config: DatasetConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each receiver's shadowing field over the training box, and where it lies:
    (north edge, west edge, latitude step, longitude step, correlation of neighbours)."""
    terrain = config.propagation.terrain
    south, north, west, east = training_box(config)
    n_rx = len(config.receivers)
    mid = math.radians(0.5 * (south + north))
    spacing_km = terrain.shadowing_decorrelation_m / 1000.0 / SHADOWING_CELLS_PER_DISTANCE
    height_km = (north - south) * KM_PER_DEGREE
    width_km = (east - west) * KM_PER_DEGREE * math.cos(mid)
    spacing_km = max(spacing_km, math.sqrt(height_km * width_km * n_rx / SHADOWING_CELLS))
    step_lat = spacing_km / KM_PER_DEGREE
    step_lon = spacing_km / (KM_PER_DEGREE * math.cos(mid))
    rows = math.ceil((north - south) / step_lat) + 2
    cols = math.ceil((east - west) / step_lon) + 2
    keys = np.array([stream_key(config.seed, r, SHADOWING_STREAM) for r in range(n_rx)],
                    dtype=np.uint64).reshape(n_rx, 2)
    rho = math.exp(-spacing_km * 1000.0 / terrain.shadowing_decorrelation_m)
    out = np.empty((rows, cols, n_rx), np.float32)
    shadowing_field(keys, rho, out)
    return out, np.array([north + 0.5 * step_lat, west - 0.5 * step_lon, step_lat, step_lon,
                          rho])


@njit(cache=True, nogil=True)
def evaluate_candidate(key, inside, rx_box, tr_box, rx, params, link, link_at, shadow,
                       shadow_at, snr, dist, present, east, north, excess, los):
    """Place one transmitter and find the SNR at every receiver (see the module
    docstring); fills `excess` (loss beyond free space) and `los` per link. Returns
    (lat, lon, detected); params: see `TerrainInputs.params`."""
    p_tx = params[0]
    min_snr = params[1]
    c_min = params[2]
    c_span = params[3]
    sigma = params[4]
    k_1km = params[5]
    fspl_const = params[6]
    los_nu = params[7]
    lat, lon = draw_position(key, inside, rx_box, tr_box)
    lat_rad = math.radians(lat)
    lon_rad = math.radians(lon)
    half_lat = 0.5 * lat_rad
    half_lon = 0.5 * lon_rad
    s_hlat = math.sin(half_lat)
    c_hlat = math.cos(half_lat)
    s_hlon = math.sin(half_lon)
    c_hlon = math.cos(half_lon)
    cos_lat = (c_hlat - s_hlat) * (c_hlat + s_hlat)
    # the four link-lattice nodes around the transmitter, and the shadowing lattice's
    r0, fy = lattice_cell((link_at[0] - lat) / link_at[2], link.shape[0])
    c0, fx = lattice_cell((lon - link_at[1]) / link_at[2], link.shape[1])
    w00 = (1.0 - fy) * (1.0 - fx)
    w01 = (1.0 - fy) * fx
    w10 = fy * (1.0 - fx)
    w11 = fy * fx
    s0, gy = lattice_cell((shadow_at[0] - lat) / shadow_at[2], shadow.shape[0])
    t0, gx = lattice_cell((lon - shadow_at[1]) / shadow_at[3], shadow.shape[1])
    # Bilinear weights keep the mean but lower the variance between nodes; this restores it.
    rho = shadow_at[4]
    spread = sigma / math.sqrt((1.0 - 2.0 * gy * (1.0 - gy) * (1.0 - rho))
                               * (1.0 - 2.0 * gx * (1.0 - gx) * (1.0 - rho)))
    v00 = (1.0 - gy) * (1.0 - gx) * spread
    v01 = (1.0 - gy) * gx * spread
    v10 = gy * (1.0 - gx) * spread
    v11 = gy * gx * spread
    n_rx = rx.shape[0]
    detected = 0
    for r in range(n_rx):
        base = DRAWS_POSITION + r * DRAWS_PER_LINK
        s_lat = rx[r, RX_SIN_HALF_LAT] * c_hlat - rx[r, RX_COS_HALF_LAT] * s_hlat
        s_lon = rx[r, RX_SIN_HALF_LON] * c_hlon - rx[r, RX_COS_HALF_LON] * s_hlon
        a = s_lat * s_lat + cos_lat * rx[r, RX_COS_LAT] * s_lon * s_lon
        d = max(2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))), MIN_DISTANCE_KM)
        extra = (w00 * link[r0, c0, r, LINK_EXCESS_DB] + w01 * link[r0, c0 + 1, r, LINK_EXCESS_DB]
                 + w10 * link[r0 + 1, c0, r, LINK_EXCESS_DB]
                 + w11 * link[r0 + 1, c0 + 1, r, LINK_EXCESS_DB])
        nu = (w00 * link[r0, c0, r, LINK_NU] + w01 * link[r0, c0 + 1, r, LINK_NU]
              + w10 * link[r0 + 1, c0, r, LINK_NU] + w11 * link[r0 + 1, c0 + 1, r, LINK_NU])
        shadowing = (v00 * shadow[s0, t0, r] + v01 * shadow[s0, t0 + 1, r]
                     + v10 * shadow[s0 + 1, t0, r] + v11 * shadow[s0 + 1, t0 + 1, r])
        clutter = c_min + uniform(key, base) * c_span
        clear = nu <= los_nu
        if clear:  # Rician, K falling as d ** -0.5 from 1 km (Greenstein et al.)
            k = k_1km / math.sqrt(d)
            scatter = math.sqrt(0.5 / (k + 1.0))
            re = math.sqrt(k / (k + 1.0)) + scatter * normal(key, base + 1)
        else:
            scatter = RAYLEIGH_SCATTER
            re = scatter * normal(key, base + 1)
        im = scatter * normal(key, base + 2)
        power = max(re * re + im * im, 1e-30)
        # free space, 20 log10(d) + fspl_const, shares the fading's logarithm
        gain_db = DB_PER_NEPER * math.log(power / (d * d)) - fspl_const - extra
        s = p_tx + rx[r, RX_LINK_DB] + gain_db - clutter + shadowing
        dist[r] = d
        snr[r] = s
        excess[r] = extra
        los[r] = clear
        present[r] = s >= min_snr
        detected += present[r]
        east[r] = EARTH_RADIUS_KM * cos_lat * (rx[r, RX_LON_RAD] - lon_rad)
        north[r] = EARTH_RADIUS_KM * (rx[r, RX_LAT_RAD] - lat_rad)
    return lat, lon, detected


@njit(cache=True, nogil=True, parallel=True)
def draw_chunks(keys, chunk_first, chunk_start, chunk_stop, out_offset, inside_ratio,
                rx_box, tr_box, rx, params, link, link_at, shadow, shadow_at, elevation,
                elevation_at, tx_height_m, min_receivers, max_gdop, max_freq_offset_hz,
                tx_lat, tx_lon, tx_alt, inside_out, gdop_out, ndet_out, mean_snr_out,
                present_out, snr_out, prx_out, foff_out, dist_out, loss_out, los_out,
                ground_out, counters, status):
    """As `kernel_v2.draw_chunks`, with the terrain's lookups and truth fields."""
    n_rx = rx.shape[0]
    fspl_const = params[6]
    for item in prange(2 * keys.shape[0]):
        j = item // 2
        s = item % 2
        snr = np.empty(n_rx)
        dist = np.empty(n_rx)
        east = np.empty(n_rx)
        north = np.empty(n_rx)
        excess = np.empty(n_rx)
        los = np.zeros(n_rx, dtype=np.bool_)
        present = np.zeros(n_rx, dtype=np.bool_)
        drawn = 0
        kept = 0
        inside = s == 0
        for index in range(chunk_first[j], chunk_stop[j]):
            if is_inside(index, inside_ratio) != inside:
                continue  # the other stratum's sample
            counted = index >= chunk_start[j]
            while True:
                key = candidate_key(keys[j, s, 0], keys[j, s, 1], drawn)
                drawn += 1
                lat, lon, detected = evaluate_candidate(
                    key, inside, rx_box, tr_box, rx, params, link, link_at, shadow,
                    shadow_at, snr, dist, present, east, north, excess, los)
                if counted:
                    counters[j, s, COUNT_CANDIDATES] += 1
                g = np.inf
                if detected >= min_receivers:
                    g = gdop_from_vectors(east, north, present, n_rx)
                    if g <= max_gdop:
                        break
                if counted:
                    if detected < min_receivers:
                        counters[j, s, COUNT_TOO_FEW] += 1
                    else:
                        counters[j, s, COUNT_GDOP] += 1
                if drawn >= UNFILLABLE_AFTER and kept * UNFILLABLE_RATIO < drawn:
                    status[j, s] = STATUS_UNFILLABLE
                    break
            if status[j, s] != STATUS_OK:
                break
            kept += 1
            if not counted:
                continue
            row = index - out_offset
            ground = grid_height(elevation, elevation_at[0], elevation_at[1],
                                 elevation_at[2], lat, lon)
            tx_lat[row] = lat
            tx_lon[row] = lon
            tx_alt[row] = ground + tx_height_m
            ground_out[row] = ground
            inside_out[row] = inside
            gdop_out[row] = g
            ndet_out[row] = detected
            total = 0.0
            for r in range(n_rx):
                present_out[row, r] = present[r]
                dist_out[row, r] = dist[r]
                loss_out[row, r] = 20.0 * math.log10(dist[r]) + fspl_const + excess[r]
                los_out[row, r] = los[r]
                if present[r]:
                    snr_out[row, r] = snr[r]
                    prx_out[row, r] = snr[r] + rx[r, RX_NOISE_DBM]
                    u = uniform(key, DRAWS_POSITION + r * DRAWS_PER_LINK + DRAW_FREQ_OFFSET)
                    foff_out[row, r] = (2.0 * u - 1.0) * max_freq_offset_hz
                    total += snr[r]
                else:
                    snr_out[row, r] = np.nan
                    prx_out[row, r] = np.nan
                    foff_out[row, r] = np.nan
            mean_snr_out[row] = total / detected


# ---------------------------------------------------------------------------
# what `generator` calls


def kernel_inputs(config: DatasetConfig, terrain: ElevationGrid | None = None) -> object:
    """Config values (and the dataset's elevation grid) converted once per run into the
    arrays the kernel takes: `preparation` run to its end."""
    steps = preparation(config, terrain)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def fill_block(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start, a,
               counters, status) -> None:
    """Fill the block arrays `a` (one per sample field) for the chunks described."""
    if not isinstance(prepared, TerrainInputs):
        _fill_flat_plane(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start,
                         a, counters, status)
        return
    t = prepared
    draw_chunks(
        keys, chunk_first, chunk_start, chunk_stop, start, config.inside_ratio,
        t.rx_box, t.tr_box, t.rx, t.params, t.link, t.link_at, t.shadow, t.shadow_at,
        t.elevation, t.elevation_at, config.propagation.tx_height_m,
        config.min_receivers, config.max_gdop, config.propagation.max_freq_offset_hz,
        a["tx_lat"], a["tx_lon"], a["tx_alt_m"], a["inside"], a["gdop"],
        a["num_receivers_detected"], a["mean_snr_db"], a["signal_present"], a["snr_db"],
        a["rx_power_dbm"], a["freq_offset_hz"], a["distance_km"], a["path_loss_db"],
        a["line_of_sight"], a["tx_ground_m"], counters, status)
    a["frequency_hz"][:] = config.frequency_mhz * 1e6
    a["tx_power_dbm"][:] = config.tx_power_dbm


def _fill_flat_plane(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start, a,
                     counters, status) -> None:
    """Terrain `none`: version 2's samples, and the truth of its flat plane."""
    kernel_v2.fill_block(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start,
                         a, counters, status)
    if (status != STATUS_OK).any():
        return  # the generator raises: the rows are not all drawn
    prop = config.propagation
    h_rx = np.array([receiver_height_m(r.alt_m, 0.0) for r in config.receivers])
    # plane-earth loss = 40 log10(d_km) + this, per receiver (d in metres: +120 dB)
    plane_db = 120.0 - 20.0 * math.log10(prop.tx_height_m) - 20.0 * np.log10(h_rx)
    flat_plane_truth(a["distance_km"], fspl_constant_db(config.frequency_mhz), plane_db,
                     prop.path_loss_model == "two_ray", prop.los_distance_km,
                     a["path_loss_db"], a["line_of_sight"])
    a["tx_ground_m"][:] = 0.0


@njit(cache=True, nogil=True)
def flat_plane_truth(dist, fspl_const, plane_db, two_ray, los_km, loss_out, los_out):
    """SPEC section 3's path loss and its Rician/Rayleigh switch, per link, from the
    stored distances: max(free space, plane earth) (free space alone unless `two_ray`).
    One thread: a logarithm per link is little beside drawing the sample, and the
    generator runs kernels with a parallel chunk size of one row."""
    for i in range(dist.shape[0]):
        for r in range(dist.shape[1]):
            d = np.float64(dist[i, r])
            log_d = math.log10(d)
            loss = 20.0 * log_d + fspl_const
            if two_ray:
                loss = max(loss, 40.0 * log_d + plane_db[r])
            loss_out[i, r] = loss
            los_out[i, r] = d < los_km
