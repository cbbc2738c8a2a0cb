"""Generator version 4: what a real network measures (docs/measurements.md).

The world is version 3's: the same placement, link grids, shadowing fields and fading.
What changes is the transmitter, the receivers and what they report:

- each sample's transmit power is drawn from the config's range, and its antenna from
  the measurement group's mix (a portable yagi with a random bearing among them);
- each receiver's antenna pattern is applied toward the transmitter's bearing and
  elevation, its noise floor varies from sample to sample, and its power readings carry
  its fixed calibration error;
- the frequency offset is the transmitter's oscillator error, shared by every receiver
  of the sample, less the receiver's own, plus a measurement error at the Cramer-Rao
  bound of the observation;
- the arrival time (`toa_ns`) is the propagation delay after an emission instant unknown
  to the receivers, late on obstructed links, with the receiver's clock error and an
  error at the Cramer-Rao bound of the signal's bandwidth.

Terrain `none` is the flat plane of SPEC section 3 (its path loss and line-of-sight
distance) under the same shadowing fields and measurements.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
from numba import njit, prange

from ..config.antennas import Antenna, gain_table
from ..config.geo import EARTH_RADIUS_KM, MIN_DISTANCE_KM, receiver_box, training_box
from ..config.model import DatasetConfig
from ..config.network import resolve_receivers
from ..config.params import TX_ANTENNAS
from ..errors import TerrainError
from ..terrain.grid import ElevationGrid
from . import kernel_v3, link_cache
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
    RX_CROSSOVER_KM,
    RX_LAT_RAD,
    RX_LINK_DB,
    RX_LON_RAD,
    RX_PEL_DB,
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
from .physics import PATH_LOSS_CODES, gdop_from_vectors, noise_floor_dbm, receiver_height_m
from .rng import candidate_key, normal, uniform
from .terrain_grids import LINK_EXCESS_DB, LINK_NU, LINK_VALUES, grid_height, lattice_cell

__all__ = [
    "COUNT_CANDIDATES",
    "COUNT_GDOP",
    "COUNT_TOO_FEW",
    "STATUS_OK",
    "STATUS_UNFILLABLE",
    "TX_ANTENNA_GAINS_DBI",
    "UNFILLABLE_AFTER",
    "UNFILLABLE_RATIO",
    "fill_block",
    "kernel_inputs",
    "preparation",
]

# Draws of a candidate: its position, then the transmitter's, then DRAWS_PER_LINK for
# each receiver. The first four of a link decide detection; the rest are measurement
# errors, drawn only for kept samples.
DRAWS_POSITION = 3
DRAW_POWER, DRAW_ANTENNA, DRAW_BEARING, DRAW_TX_OFFSET, DRAW_EMISSION = range(3, 8)
DRAWS_SAMPLE = 8
(LINK_CLUTTER, LINK_FADING_RE, LINK_FADING_IM, LINK_NOISE, LINK_FREQ_ERROR, LINK_TOA_ERROR,
 LINK_CLOCK, LINK_EXCESS_DELAY) = range(8)
DRAWS_PER_LINK = 8

# The transmitters' antennas, in params.TX_ANTENNAS order (codes of /samples/tx_antenna):
# a quarter-wave whip (0 dBi, SPEC section 3), a handheld's helical "rubber duck" (about
# 5 dB below a dipole's 2.15 dBi at VHF: -5 dBi), and a portable 3-element yagi.
TX_ANTENNA_GAINS_DBI = (0.0, -5.0, 7.0)
TX_YAGI = Antenna("yagi", gain_dbi=7.0, front_to_back_db=15.0, beamwidth_deg=70.0)
TX_YAGI_CODE = TX_ANTENNAS.index("yagi")

SPEED_OF_LIGHT_KM_S = 299_792.458
NS_PER_KM = 1e9 / SPEED_OF_LIGHT_KM_S
# The emission instant, unknown to the receivers: uniform over a second per sample, far
# longer than any delay, so only differences of arrival times tell distances apart.
EMISSION_SPAN_NS = 1e9

# Per-receiver constants besides kernel_v2's: rx4[r, RX4_*]
(RX4_NOISE_SIGMA_DB, RX4_CALIBRATION_DB, RX4_OSCILLATOR_PPM, RX4_CLOCK_NS, RX4_TIMED,
 RX4_DIRECTIONAL, RX4_AZIMUTH_DEG, RX4_SIN_LAT, RX4_HEIGHT_M, RX4_NOISE_DBM) = range(10)
RX4_COLUMNS = 10

# params[...]: see NetworkInputs
(P_POWER_LO, P_POWER_SPAN, P_MIN_SNR, P_CLUTTER_MIN, P_CLUTTER_SPAN, P_SIGMA, P_K_1KM,
 P_FSPL, P_LOS_NU, P_FLAT, P_LOS_KM, P_FREQ_HZ, P_BANDWIDTH_HZ, P_ON_S, P_TX_PPM,
 P_NLOS_NS, P_CURVATURE, P_ELEVATION) = range(18)


class NetworkInputs:
    """The arrays `draw_chunks` reads, made once per dataset (`preparation`)."""

    def __init__(self, config: DatasetConfig, grid: ElevationGrid | None, link: np.ndarray,
                 link_at: np.ndarray):
        prop = config.propagation
        m = config.measurement
        rx = config.receivers
        flat = grid is None
        self.rx_box = np.array(receiver_box(config))
        self.tr_box = np.array(training_box(config))
        if grid is None:  # the plane at 0 m
            self.elevation = np.zeros((2, 2), np.float32)
            self.elevation_at = np.array([90.0, -180.0, 180.0])
        else:
            self.elevation = np.ascontiguousarray(grid.heights, dtype=np.float32)
            self.elevation_at = np.array([grid.first_lat, grid.first_lon, grid.step_deg])
        noise = np.array([noise_floor_dbm(config.bandwidth_hz, r.noise_figure_db) for r in rx])
        self.rx = receiver_constants(
            np.array([r.lat for r in rx]), np.array([r.lon for r in rx]),
            np.array([receiver_height_m(r.alt_m, 0.0) for r in rx]),
            np.array([r.antenna_gain_dbi for r in rx]), noise,
            prop.tx_height_m, config.frequency_mhz, PATH_LOSS_CODES[prop.path_loss_model])
        self.rx4 = _network_constants(config, grid, noise)
        self.patterns = np.stack([gain_table(r.antenna) for r in rx]).astype(np.float32)
        self.tx_yagi = np.ascontiguousarray(gain_table(TX_YAGI)[:, 90], dtype=np.float32)
        weights = dict(m.tx_antennas)
        self.tx_mix = np.cumsum([weights.get(kind, 0.0) for kind in TX_ANTENNAS])
        self.tx_gains = np.array(TX_ANTENNA_GAINS_DBI)
        self.link, self.link_at = link, link_at
        self.shadow, self.shadow_at = kernel_v3.shadowing_fields(config)
        lo, hi = config.tx_power_range
        k_factor = prop.terrain.k_factor
        self.params = np.array([
            lo, hi - lo, config.min_snr_db, prop.clutter_min_db,
            prop.clutter_max_db - prop.clutter_min_db, prop.shadowing_sigma_db,
            10.0 ** (prop.rician_k_db / 10.0),  # K at 1 km (terrain none: at any distance)
            fspl_constant_db(config.frequency_mhz), LINE_OF_SIGHT_NU, float(flat),
            prop.los_distance_km,
            config.frequency_mhz * 1e6, config.bandwidth_hz,
            m.tx_duty_cycle * config.iq_duration_s, m.tx_oscillator_ppm,
            m.nlos_delay_us * 1000.0,
            0.0 if flat else 1.0 / (2.0 * k_factor * EARTH_RADIUS_KM * 1000.0),
            float(bool(np.any(self.patterns != 0.0)))])  # any antenna gain to look up


def _network_constants(config: DatasetConfig, grid: ElevationGrid | None,
                       noise: np.ndarray) -> np.ndarray:
    m = config.measurement
    clock_ns = {"gps": m.gps_clock_ns, "ntp": m.ntp_clock_ms * 1e6, "none": 0.0}
    out = np.zeros((len(config.receivers), RX4_COLUMNS))
    for i, r in enumerate(config.receivers):
        if grid is None:
            height = receiver_height_m(r.alt_m, 0.0)
        else:
            height = float(grid.elevation(r.lat, r.lon)) + r.antenna_height_m
        out[i, RX4_NOISE_SIGMA_DB] = r.noise_floor_sigma_db
        out[i, RX4_CALIBRATION_DB] = r.calibration_db
        out[i, RX4_OSCILLATOR_PPM] = r.oscillator_ppm
        out[i, RX4_CLOCK_NS] = clock_ns[r.timing]
        out[i, RX4_TIMED] = r.timing != "none"
        out[i, RX4_DIRECTIONAL] = r.antenna.directional
        out[i, RX4_AZIMUTH_DEG] = r.antenna.azimuth_deg
        out[i, RX4_SIN_LAT] = math.sin(math.radians(r.lat))
        out[i, RX4_HEIGHT_M] = height
        out[i, RX4_NOISE_DBM] = noise[i]
    return out


def preparation(config: DatasetConfig, grid: ElevationGrid | None
                ) -> Generator[float, None, object]:
    """Make the kernel's inputs, yielding the share done (0 to 1) while the link grids
    are computed (or come from the cache, as for version 3); returns them. Receivers
    whose errors are not set get them drawn first (`network.resolve_receivers`), as
    creation does."""
    config = resolve_receivers(config)
    if config.propagation.terrain.source == "none":
        dummy = np.zeros((2, 2, len(config.receivers), LINK_VALUES), np.float32)
        return NetworkInputs(config, None, dummy, np.array([90.0, -180.0, 180.0]))
    if grid is None:
        raise TerrainError(f"dataset '{config.name}' is drawn over terrain, and no "
                           "elevation grid was given")
    for r in config.receivers:
        if not grid.covers(r.lat, r.lat, r.lon, r.lon):
            raise TerrainError(f"receiver {r.name!r} lies outside the elevation data")
    key = link_cache.key(kernel_v3.LINK_GRIDS_VERSION, grid.sha256,
                         *kernel_v3.link_constants(config))
    cached = link_cache.load(key)
    if cached is None:
        link, link_at = yield from kernel_v3.link_grids(config, grid)
        link_cache.store(key, link, link_at)
    else:
        link, link_at = cached
    yield 1.0
    return NetworkInputs(config, grid, link, link_at)


@njit(cache=True, nogil=True)
def pattern_gain(table, azimuth_deg, elevation_deg):
    """A gain table's value (antennas.gain_table: 1 degree steps, relative azimuth 0 to
    360 by elevation -90 to 90), bilinear."""
    a = azimuth_deg % 360.0
    i = min(int(a), 359)
    fa = a - i
    e = min(max(elevation_deg + 90.0, 0.0), 180.0)
    j = min(int(e), 179)
    fe = e - j
    return ((1.0 - fa) * ((1.0 - fe) * table[i, j] + fe * table[i, j + 1])
            + fa * ((1.0 - fe) * table[i + 1, j] + fe * table[i + 1, j + 1]))


@njit(cache=True, nogil=True)
def line_gain(table, azimuth_deg):
    """A 361-point azimuth table's value, linear."""
    a = azimuth_deg % 360.0
    i = min(int(a), 359)
    f = a - i
    return (1.0 - f) * table[i] + f * table[i + 1]


@njit(cache=True, nogil=True)
def bearing_deg(sin_lat1, cos_lat1, sin_lat2, cos_lat2, dlon):
    """Initial great-circle bearing from point 1 to point 2, degrees from north."""
    y = math.sin(dlon) * cos_lat2
    x = cos_lat1 * sin_lat2 - sin_lat1 * cos_lat2 * math.cos(dlon)
    return math.degrees(math.atan2(y, x))


@njit(cache=True, nogil=True)
def evaluate_candidate(key, inside, rx_box, tr_box, rx, rx4, patterns, tx_yagi, tx_mix,
                       tx_gains, params, link, link_at, shadow, shadow_at,
                       elevation, elevation_at, tx_height_m, snr, noise, dist, present,
                       east, north, excess, los, tx):
    """Place one transmitter and find the SNR and noise floor at every receiver; fills
    `excess` (loss beyond free space) and `los` per link and tx = (power, antenna,
    bearing, ground). Returns (lat, lon, detected)."""
    min_snr = params[P_MIN_SNR]
    sigma = params[P_SIGMA]
    fspl_const = params[P_FSPL]
    flat = params[P_FLAT] > 0.0
    lat, lon = draw_position(key, inside, rx_box, tr_box)
    p_tx = params[P_POWER_LO] + uniform(key, DRAW_POWER) * params[P_POWER_SPAN]
    pick = uniform(key, DRAW_ANTENNA) * tx_mix[tx_mix.shape[0] - 1]
    antenna = 0
    while antenna < tx_mix.shape[0] - 1 and pick >= tx_mix[antenna]:
        antenna += 1
    beam = 360.0 * uniform(key, DRAW_BEARING) if antenna == TX_YAGI_CODE else np.nan
    ground = 0.0
    if params[P_ELEVATION] > 0.0 and not flat:
        ground = grid_height(elevation, elevation_at[0], elevation_at[1], elevation_at[2],
                             lat, lon)
    tx[0] = p_tx
    tx[1] = antenna
    tx[2] = beam
    tx[3] = ground
    lat_rad = math.radians(lat)
    lon_rad = math.radians(lon)
    half_lat = 0.5 * lat_rad
    half_lon = 0.5 * lon_rad
    s_hlat = math.sin(half_lat)
    c_hlat = math.cos(half_lat)
    s_hlon = math.sin(half_lon)
    c_hlon = math.cos(half_lon)
    cos_lat = (c_hlat - s_hlat) * (c_hlat + s_hlat)
    sin_lat = 2.0 * s_hlat * c_hlat
    r0, fy = lattice_cell((link_at[0] - lat) / link_at[2], link.shape[0])
    c0, fx = lattice_cell((lon - link_at[1]) / link_at[2], link.shape[1])
    w00 = (1.0 - fy) * (1.0 - fx)
    w01 = (1.0 - fy) * fx
    w10 = fy * (1.0 - fx)
    w11 = fy * fx
    s0, gy = lattice_cell((shadow_at[0] - lat) / shadow_at[2], shadow.shape[0])
    t0, gx = lattice_cell((lon - shadow_at[1]) / shadow_at[3], shadow.shape[1])
    rho = shadow_at[4]
    spread = sigma / math.sqrt((1.0 - 2.0 * gy * (1.0 - gy) * (1.0 - rho))
                               * (1.0 - 2.0 * gx * (1.0 - gx) * (1.0 - rho)))
    v00 = (1.0 - gy) * (1.0 - gx) * spread
    v01 = (1.0 - gy) * gx * spread
    v10 = gy * (1.0 - gx) * spread
    v11 = gy * gx * spread
    tx_abs_m = ground + tx_height_m
    n_rx = rx.shape[0]
    detected = 0
    for r in range(n_rx):
        base = DRAWS_SAMPLE + r * DRAWS_PER_LINK
        s_lat = rx[r, RX_SIN_HALF_LAT] * c_hlat - rx[r, RX_COS_HALF_LAT] * s_hlat
        s_lon = rx[r, RX_SIN_HALF_LON] * c_hlon - rx[r, RX_COS_HALF_LON] * s_hlon
        a = s_lat * s_lat + cos_lat * rx[r, RX_COS_LAT] * s_lon * s_lon
        d = max(2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))), MIN_DISTANCE_KM)
        e_km = EARTH_RADIUS_KM * cos_lat * (rx[r, RX_LON_RAD] - lon_rad)
        n_km = EARTH_RADIUS_KM * (rx[r, RX_LAT_RAD] - lat_rad)
        east[r] = e_km
        north[r] = n_km
        plane_earth = False
        if flat:  # SPEC section 3: Rician up to los_km
            extra = 0.0
            plane_earth = d > rx[r, RX_CROSSOVER_KM]  # two-ray, beyond the crossover
            clear = d < params[P_LOS_KM]
        else:
            extra = (w00 * link[r0, c0, r, LINK_EXCESS_DB]
                     + w01 * link[r0, c0 + 1, r, LINK_EXCESS_DB]
                     + w10 * link[r0 + 1, c0, r, LINK_EXCESS_DB]
                     + w11 * link[r0 + 1, c0 + 1, r, LINK_EXCESS_DB])
            nu = (w00 * link[r0, c0, r, LINK_NU] + w01 * link[r0, c0 + 1, r, LINK_NU]
                  + w10 * link[r0 + 1, c0, r, LINK_NU] + w11 * link[r0 + 1, c0 + 1, r, LINK_NU])
            clear = nu <= params[P_LOS_NU]
        shadowing = (v00 * shadow[s0, t0, r] + v01 * shadow[s0, t0 + 1, r]
                     + v10 * shadow[s0 + 1, t0, r] + v11 * shadow[s0 + 1, t0 + 1, r])
        clutter = params[P_CLUTTER_MIN] + uniform(key, base + LINK_CLUTTER) * params[P_CLUTTER_SPAN]
        if clear:  # Rician: K falling as d ** -0.5 from 1 km (Greenstein et al.) over
            # terrain, one K on the flat plane (SPEC section 3)
            k = params[P_K_1KM] if flat else params[P_K_1KM] / math.sqrt(d)
            scatter = math.sqrt(0.5 / (k + 1.0))
            re = math.sqrt(k / (k + 1.0)) + scatter * normal(key, base + LINK_FADING_RE)
        else:
            scatter = RAYLEIGH_SCATTER
            re = scatter * normal(key, base + LINK_FADING_RE)
        im = scatter * normal(key, base + LINK_FADING_IM)
        power = max(re * re + im * im, 1e-30)
        # the path loss shares the fading's logarithm: free space is 20 log10(d) +
        # fspl_const, plane earth 40 log10(d) + RX_PEL_DB
        if plane_earth:
            gain_db = DB_PER_NEPER * math.log(power / (d * d * d * d)) - rx[r, RX_PEL_DB]
        else:
            gain_db = DB_PER_NEPER * math.log(power / (d * d)) - fspl_const - extra
        # the antennas: the transmitter's toward the receiver, the receiver's toward it
        g_tx = tx_gains[antenna]
        if antenna == TX_YAGI_CODE:
            g_tx = line_gain(tx_yagi, math.degrees(math.atan2(e_km, n_km)) - beam)
        g_rx = 0.0
        if params[P_ELEVATION] > 0.0:
            azimuth = 0.0
            if rx4[r, RX4_DIRECTIONAL] > 0.0:
                azimuth = bearing_deg(rx4[r, RX4_SIN_LAT], rx[r, RX_COS_LAT], sin_lat,
                                      cos_lat, lon_rad - rx[r, RX_LON_RAD])
                azimuth -= rx4[r, RX4_AZIMUTH_DEG]
            d_m = d * 1000.0
            elev = math.degrees(math.atan((tx_abs_m - rx4[r, RX4_HEIGHT_M]) / d_m)
                                - d_m * params[P_CURVATURE])
            g_rx = pattern_gain(patterns[r], azimuth, elev)
        floor = rx4[r, RX4_NOISE_DBM] + rx4[r, RX4_NOISE_SIGMA_DB] * normal(key, base + LINK_NOISE)
        # rx[RX_LINK_DB] is the gain column less the receiver's nominal noise floor
        s = (p_tx + g_tx + g_rx + rx[r, RX_LINK_DB] + rx4[r, RX4_NOISE_DBM] - floor
             + gain_db - clutter + shadowing)
        dist[r] = d
        snr[r] = s
        noise[r] = floor
        excess[r] = extra
        los[r] = clear
        present[r] = s >= min_snr
        detected += present[r]
    return lat, lon, detected


@njit(cache=True, nogil=True)
def measure(key, row, n_rx, rx, rx4, params, snr, noise, dist, present, los, tx_offset_hz,
            snr_out, prx_out, foff_out, toa_out, noise_out):
    """A kept sample's measurements: power readings with the receivers' calibration,
    frequency offsets and arrival times with their errors (module docstring)."""
    f_hz = params[P_FREQ_HZ]
    bandwidth = params[P_BANDWIDTH_HZ]
    on_s = params[P_ON_S]
    emission = EMISSION_SPAN_NS * uniform(key, DRAW_EMISSION)
    total = 0.0
    for r in range(n_rx):
        base = DRAWS_SAMPLE + r * DRAWS_PER_LINK
        calibration = rx4[r, RX4_CALIBRATION_DB]
        noise_out[row, r] = noise[r] + calibration
        if not present[r]:
            snr_out[row, r] = np.nan
            prx_out[row, r] = np.nan
            foff_out[row, r] = np.nan
            toa_out[row, r] = np.nan
            continue
        total += snr[r]
        snr_out[row, r] = snr[r]
        prx_out[row, r] = snr[r] + noise[r] + calibration
        # E/N0 of the observation: the SNR in the bandwidth times B T
        energy = 10.0 ** (0.1 * snr[r]) * bandwidth * on_s
        # a tone's frequency bound, sqrt(6) / (2 pi T sqrt(E/N0)) (Rife and Boorstyn)
        f_error = math.sqrt(6.0) / (2.0 * math.pi * on_s * math.sqrt(energy))
        foff_out[row, r] = (tx_offset_hz - 1e-6 * f_hz * rx4[r, RX4_OSCILLATOR_PPM]
                            + f_error * normal(key, base + LINK_FREQ_ERROR))
        if rx4[r, RX4_TIMED] == 0.0:
            toa_out[row, r] = np.nan
            continue
        # the delay bound 1 / (2 pi beta sqrt(2 E/N0)), with beta = B / sqrt(12): a
        # spectrum flat over the bandwidth
        t_error_ns = 1e9 * math.sqrt(3.0) / (math.pi * bandwidth * math.sqrt(2.0 * energy))
        delay = dist[r] * NS_PER_KM
        if not los[r]:  # exponential excess delay of mean T1 sqrt(d)
            delay -= params[P_NLOS_NS] * math.sqrt(dist[r]) * math.log(
                1.0 - uniform(key, base + LINK_EXCESS_DELAY))
        toa_out[row, r] = (emission + delay
                           + rx4[r, RX4_CLOCK_NS] * normal(key, base + LINK_CLOCK)
                           + t_error_ns * normal(key, base + LINK_TOA_ERROR))
    return total


@njit(cache=True, nogil=True, parallel=True)
def draw_chunks(keys, chunk_first, chunk_start, chunk_stop, out_offset, inside_ratio,
                rx_box, tr_box, rx, rx4, patterns, tx_yagi, tx_mix, tx_gains, params,
                link, link_at, shadow, shadow_at, elevation, elevation_at, tx_height_m,
                min_receivers, max_gdop, tx_lat, tx_lon, tx_alt, inside_out, gdop_out,
                ndet_out, mean_snr_out, present_out, snr_out, prx_out, foff_out, dist_out,
                loss_out, los_out, ground_out, toa_out, noise_out, power_out, antenna_out,
                bearing_out, tx_offset_out, counters, status):
    """As `kernel_v3.draw_chunks`, with the transmitters, antennas and measurements of
    this version."""
    n_rx = rx.shape[0]
    fspl_const = params[P_FSPL]
    flat = params[P_FLAT] > 0.0
    for item in prange(2 * keys.shape[0]):
        j = item // 2
        s = item % 2
        snr = np.empty(n_rx)
        noise = np.empty(n_rx)
        dist = np.empty(n_rx)
        east = np.empty(n_rx)
        north = np.empty(n_rx)
        excess = np.empty(n_rx)
        tx = np.empty(4)
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
                    key, inside, rx_box, tr_box, rx, rx4, patterns, tx_yagi, tx_mix,
                    tx_gains, params, link, link_at, shadow, shadow_at, elevation,
                    elevation_at, tx_height_m, snr, noise, dist, present, east, north,
                    excess, los, tx)
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
            ground = 0.0
            if not flat:
                ground = grid_height(elevation, elevation_at[0], elevation_at[1],
                                     elevation_at[2], lat, lon)
            tx_offset = 1e-6 * params[P_FREQ_HZ] * params[P_TX_PPM] * normal(key, DRAW_TX_OFFSET)
            tx_lat[row] = lat
            tx_lon[row] = lon
            tx_alt[row] = ground + tx_height_m
            ground_out[row] = ground
            inside_out[row] = inside
            gdop_out[row] = g
            ndet_out[row] = detected
            power_out[row] = tx[0]
            antenna_out[row] = tx[1]
            bearing_out[row] = tx[2]
            tx_offset_out[row] = tx_offset
            for r in range(n_rx):
                present_out[row, r] = present[r]
                dist_out[row, r] = dist[r]
                log_d = math.log10(dist[r])
                loss = 20.0 * log_d + fspl_const + excess[r]
                if flat and dist[r] > rx[r, RX_CROSSOVER_KM]:
                    loss = 40.0 * log_d + rx[r, RX_PEL_DB]
                loss_out[row, r] = loss
                los_out[row, r] = los[r]
            total = measure(key, row, n_rx, rx, rx4, params, snr, noise, dist, present, los,
                            tx_offset, snr_out, prx_out, foff_out, toa_out, noise_out)
            mean_snr_out[row] = total / detected


# ---------------------------------------------------------------------------
# what `generator` calls


def kernel_inputs(config: DatasetConfig, terrain: ElevationGrid | None = None) -> object:
    """`preparation` run to its end."""
    steps = preparation(config, terrain)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def fill_block(prepared, config, keys, chunk_first, chunk_start, chunk_stop, start, a,
               counters, status) -> None:
    """Fill the block arrays `a` (one per sample field) for the chunks described."""
    t = prepared
    draw_chunks(
        keys, chunk_first, chunk_start, chunk_stop, start, config.inside_ratio,
        t.rx_box, t.tr_box, t.rx, t.rx4, t.patterns, t.tx_yagi, t.tx_mix, t.tx_gains,
        t.params, t.link, t.link_at, t.shadow, t.shadow_at, t.elevation,
        t.elevation_at, config.propagation.tx_height_m, config.min_receivers,
        config.max_gdop, a["tx_lat"], a["tx_lon"], a["tx_alt_m"], a["inside"], a["gdop"],
        a["num_receivers_detected"], a["mean_snr_db"], a["signal_present"], a["snr_db"],
        a["rx_power_dbm"], a["freq_offset_hz"], a["distance_km"], a["path_loss_db"],
        a["line_of_sight"], a["tx_ground_m"], a["toa_ns"], a["noise_floor_dbm"],
        a["tx_power_dbm"], a["tx_antenna"], a["tx_bearing_deg"], a["tx_freq_offset_hz"],
        counters, status)
    a["frequency_hz"][:] = config.frequency_mhz * 1e6
