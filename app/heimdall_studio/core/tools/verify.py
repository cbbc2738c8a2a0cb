"""Check a dataset file against every invariant the generator promises.

The checks recompute what they can from the stored truth (positions, receivers, config)
rather than trusting stored derived values, and read the samples in slabs bounded in rows
and in bytes (`DatasetHeader.slab_rows`: an IQ dataset's sample takes half a megabyte).

An `iq_raw` dataset gets one more check, "IQ power" (`IqPower`): each receiver's record
against the link budget stored next to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.fields import IQ_SCALE_FIELD
from ..config.geo import EARTH_RADIUS_KM, MIN_DISTANCE_KM, inside_mask, receiver_box, training_box
from ..config.model import DatasetConfig
from ..config.params import MODULATIONS
from ..dataset import stats
from ..dataset.checksums import rows_checksum, update_checksums
from ..dataset.reader import DatasetHeader, read_header, read_samples
from ..dataset.stats import read_stored_histograms
from ..errors import HeimdallError
from ..sampling.histograms import histogram
from ..sampling.physics import gdop_of_samples, noise_floor_dbm

SLAB_ROWS = 1 << 18  # at most; fewer when rows are large (DatasetHeader.slab_rows)
# Stored per-receiver values are float32: allow their rounding.
F4_ABS = 1e-3
F4_REL = 1e-5


@dataclass
class Check:
    name: str
    ok: bool = True
    detail: str = ""
    failures: int = 0

    def fail(self, count: int | np.integer, detail: str) -> None:
        if count:
            self.failures += int(count)
            if self.ok:
                self.detail = detail
            self.ok = False


@dataclass
class VerifyReport:
    path: Path
    header: DatasetHeader | None
    checks: list[Check] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.checks)


def _haversine(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    d = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return np.maximum(d, MIN_DISTANCE_KM)


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) <= F4_ABS + F4_REL * np.abs(b)


def verify_dataset(path: str | Path) -> VerifyReport:
    path = Path(path)
    try:
        header = read_header(path)
    except HeimdallError as exc:
        return VerifyReport(path, None, error=str(exc))
    report = VerifyReport(path, header)
    names = ["history", "checksums", "parameters", "filters", "detection pattern",
             "geometry (GDOP)", "stratification", "positions", "distances", "statistics"]
    iq = IqPower(header.config) if "iq" in header.fields else None
    if iq is not None:
        names.append(IQ_POWER)
    checks = {n: Check(n) for n in names}
    report.checks = list(checks.values())
    runs = _committed_runs(header, checks["history"])
    crcs = [[0] * len(header.fields) for _ in runs]
    edges = stats.histogram_edges(header.config)
    counts = {k: np.zeros(len(e) - 1, np.int64) for k, e in edges.items()}
    try:
        rows = min(SLAB_ROWS, header.slab_rows)
        for start in range(0, header.num_samples, rows):
            stop = min(header.num_samples, start + rows)
            _, arrays = read_samples(path, start, stop)
            _check_slab(header, start, arrays, checks)
            if iq is not None:
                iq.check_slab(start, arrays, checks[IQ_POWER])
            for k, part in stats.block_histograms(edges, arrays, histogram).items():
                counts[k] += part
            for i, (first, end, _) in enumerate(runs):  # each run's share of this slab
                lo, hi = max(first, start), min(end, stop)
                if lo < hi:
                    crcs[i] = update_checksums(
                        crcs[i], {k: v[lo - start:hi - start] for k, v in arrays.items()})
        unrecorded = sum(1 for row in header.history if row.checksum is None)
        if unrecorded:  # the history of the first builds of Heimdall Studio 0.1
            checks["checksums"].detail = (f"{unrecorded} run(s) recorded no checksum: "
                                          "the file's history has no checksum column")
        for i, (first, end, stored) in enumerate(runs):
            if stored is not None and rows_checksum(crcs[i]) != stored:
                checks["checksums"].fail(
                    1, f"samples {first}-{end - 1} (run {i}) do not match the checksum "
                       "recorded when they were written: altered or damaged")
        _check_stats(path, counts, checks["statistics"])
        if iq is not None:
            iq.check_median(checks[IQ_POWER])
    except HeimdallError as exc:
        report.error = str(exc)
    return report


def _check_stats(path: Path, counts: dict[str, np.ndarray], check: Check) -> None:
    _, stored = read_stored_histograms(path)
    if stored is None:
        # An interrupted commit can leave them behind; readers and the next run rebuild.
        check.detail = "behind the samples; rebuilt on the next expansion"
        return
    for name, expected in counts.items():
        if not np.array_equal(stored.counts[name], expected):
            check.fail(1, f"stored {name} histogram differs from the samples")


def _committed_runs(header: DatasetHeader,
                    check: Check) -> list[tuple[int, int, int | None]]:
    """(first, end, checksum) of each run's committed rows; checks the history adds up.

    A writer killed between writing its run's row and advancing num_samples leaves that
    last row one block ahead; the next writer trims it. Until then its rows are
    committed only up to num_samples, and its checksum (None) cannot be compared.
    """
    runs: list[tuple[int, int, int | None]] = []
    expected = 0
    rows = header.history
    for i, row in enumerate(rows):
        if row.kind not in ("create", "expand") or (i == 0) != (row.kind == "create"):
            check.fail(1, f"run {i} has kind {row.kind!r}")
        if row.first_index != expected:
            check.fail(1, f"run {i} starts at {row.first_index}, expected {expected}")
        # ">" rather than "!=": a run cut short by a crash keeps the counts of a block
        # it drew but never committed.
        if row.count < 0 or row.candidates < (
                row.count + row.rejected_too_few_receivers + row.rejected_gdop):
            check.fail(1, f"run {i} counts do not add up: {row.count} kept + "
                          f"{row.rejected_too_few_receivers} + {row.rejected_gdop} rejected "
                          f"!= {row.candidates} candidates")
        end = row.first_index + row.count
        if i == len(rows) - 1 and end > header.num_samples >= row.first_index:
            check.detail = "the last run was interrupted; its row is trimmed on next write"
            runs.append((row.first_index, header.num_samples, None))
            end = header.num_samples
        else:
            runs.append((row.first_index, end, row.checksum))
        expected = end
    if expected != header.num_samples:
        check.fail(1, f"runs add up to {expected} samples, num_samples is {header.num_samples}")
    return runs


def _check_slab(header: DatasetHeader, start: int, a: dict[str, np.ndarray],
                checks: dict[str, Check]) -> None:
    config = header.config
    n = len(a["tx_lat"])
    rx = config.receivers
    rx_lat = np.array([r.lat for r in rx])
    rx_lon = np.array([r.lon for r in rx])
    noise = np.array([noise_floor_dbm(config.bandwidth_hz, r.noise_figure_db) for r in rx])
    where = f"in samples {start}-{start + n - 1}"

    c = checks["parameters"]
    c.fail(np.count_nonzero(a["frequency_hz"] != config.frequency_mhz * 1e6),
           f"frequency_hz differs from {config.frequency_mhz:g} MHz {where}")
    lo, hi = (np.float32(p) for p in config.tx_power_range)
    c.fail(np.count_nonzero(~((a["tx_power_dbm"] >= lo) & (a["tx_power_dbm"] <= hi))),
           f"tx_power_dbm outside {config.tx_power_text} {where}")
    height = config.propagation.tx_height_m
    if "tx_ground_m" in a:  # the ground under the antenna, stored as float32
        c.fail(np.count_nonzero(~(np.abs(a["tx_alt_m"] - a["tx_ground_m"] - height) < 1e-3)),
               f"tx_alt_m differs from tx_ground_m + {height:g} m {where}")
    else:
        c.fail(np.count_nonzero(a["tx_alt_m"] != height),
               f"tx_alt_m differs from {height:g} m {where}")

    present = a["signal_present"]
    detected = present.sum(axis=1)
    snr = a["snr_db"]
    c = checks["filters"]
    c.fail(np.count_nonzero(detected < config.min_receivers),
           f"samples with fewer than {config.min_receivers} detecting receivers {where}")
    c.fail(np.count_nonzero(~(a["gdop"] <= np.float32(config.max_gdop))),
           f"samples with GDOP above {config.max_gdop:g} {where}")
    c.fail(np.count_nonzero(present & ~(snr >= np.float32(config.min_snr_db))),
           f"detections below min_snr_db {where}")

    c = checks["detection pattern"]
    c.fail(np.count_nonzero(a["num_receivers_detected"] != detected),
           f"num_receivers_detected disagrees with signal_present {where}")
    for key in ("snr_db", "rx_power_dbm", "freq_offset_hz"):
        c.fail(np.count_nonzero(np.isnan(a[key]) != ~present),
               f"{key} NaN pattern disagrees with signal_present {where}")
    timed = np.array([r.timing != "none" for r in rx])
    if "toa_ns" in a:  # generator version 4: measured noise floors, timed receivers
        c.fail(np.count_nonzero(np.isnan(a["toa_ns"]) != ~(present & timed)),
               f"toa_ns NaN pattern disagrees with signal_present and timing {where}")
        c.fail(np.count_nonzero(~np.isfinite(a["noise_floor_dbm"])),
               f"noise floors missing {where}")
        noise = a["noise_floor_dbm"]
    if "link_snr_db" in a:  # generator version 5: every link's SNR, heard or not
        c.fail(np.count_nonzero(present & (a["link_snr_db"] != snr)),
               f"link_snr_db differs from snr_db where detected {where}")
    if "estimated_snr_db" in a:  # iq_raw: estimates made from the records
        _check_estimates(a, present, timed, where, c)
    with np.errstate(invalid="ignore"):
        diff = a["rx_power_dbm"] - snr - noise
        mean = np.where(present, snr, 0.0).sum(axis=1) / np.maximum(detected, 1)
    c.fail(np.count_nonzero(present & (np.abs(diff) > 1e-2)),
           f"snr_db != rx_power_dbm - noise floor {where}")
    c.fail(np.count_nonzero(~_close(a["mean_snr_db"], mean)),
           f"mean_snr_db is not the mean SNR of the detecting receivers {where}")

    if "modulation" in a:
        codes = a["modulation"]
        weights = dict(config.modulation)
        drawn = np.array([weights.get(kind, 0.0) > 0 for kind in MODULATIONS])
        known = codes < len(MODULATIONS)
        c = checks["parameters"]
        c.fail(np.count_nonzero(~known | ~drawn[np.where(known, codes, 0)]),
               f"modulation codes outside the config's mix {where}")

    c = checks["geometry (GDOP)"]
    gdop = gdop_of_samples(a["tx_lat"], a["tx_lon"], rx_lat, rx_lon, present)
    c.fail(np.count_nonzero(~_close(a["gdop"], gdop)),
           f"stored GDOP differs from the GDOP of the detecting receivers {where}")

    c = checks["stratification"]
    expected = inside_mask(start, start + n, config.inside_ratio)
    c.fail(np.count_nonzero(a["inside"] != expected),
           f"inside flags break the inside_ratio stratification {where}")

    c = checks["positions"]
    lat, lon = a["tx_lat"], a["tx_lon"]
    lat0, lat1, lon0, lon1 = receiver_box(config)
    t_lat0, t_lat1, t_lon0, t_lon1 = training_box(config)
    in_rx = (lat >= lat0) & (lat <= lat1) & (lon >= lon0) & (lon <= lon1)
    in_tr = (lat >= t_lat0) & (lat <= t_lat1) & (lon >= t_lon0) & (lon <= t_lon1)
    c.fail(np.count_nonzero(a["inside"] & ~in_rx),
           f"inside samples outside the receiver box {where}")
    # An outside sample lies in the ring; its border with the receiver box belongs to both.
    strictly_in = (lat > lat0) & (lat < lat1) & (lon > lon0) & (lon < lon1)
    c.fail(np.count_nonzero(~a["inside"] & (~in_tr | strictly_in)),
           f"outside samples not in the ring around the receiver box {where}")

    c = checks["distances"]
    dist = _haversine(lat[:, None], lon[:, None], rx_lat[None, :], rx_lon[None, :])
    c.fail(np.count_nonzero(~_close(a["distance_km"], dist)),
           f"distance_km disagrees with the positions {where}")


def _check_estimates(a: dict[str, np.ndarray], present: np.ndarray, timed: np.ndarray,
                     where: str, c: Check) -> None:
    """Where a receiver can estimate (`sampling.iq_estimators.estimate_block`): the SNR
    everywhere (what its detector reads), the carrier offset where it detects, the
    arrival time where a timed receiver detects together with another timed one."""
    c.fail(np.count_nonzero(~np.isfinite(a["estimated_snr_db"])),
           f"estimated_snr_db missing {where}")
    c.fail(np.count_nonzero(np.isnan(a["estimated_freq_offset_hz"]) != ~present),
           f"estimated_freq_offset_hz NaN pattern disagrees with signal_present {where}")
    usable = present & timed[None, :]
    timed_pair = usable & (usable.sum(axis=1, keepdims=True) >= 2)
    c.fail(np.count_nonzero(np.isfinite(a["estimated_toa_ns"]) != timed_pair),
           f"estimated_toa_ns NaN pattern disagrees with signal_present and timing "
           f"(an estimate needs two detecting timed receivers) {where}")


# ---------------------------------------------------------------------------
# IQ records against the link budget

IQ_POWER = "IQ power"
# A record's mean |x|^2 misses its expected value by the noise's chance at most this many
# standard deviations (a Gaussian's 7 sigma: once in 4e11 records).
IQ_NOISE_SIGMAS = 7.0
# bandwidth_hz x a link's mean excess delay at most this: the taps arrive within a small
# part of a symbol, and the channel's gain is the same across the band
IQ_FLAT_CHANNEL = 0.1
# A flat channel's power gain lies within this of the link budget's (measured: 0.09 dB);
# a frequency-selective one's below this (measured: +8.2 dB), and anywhere above 0.
IQ_FLAT_CHANNEL_DB = 0.5
IQ_SELECTIVE_CHANNEL_DB = 15.0
# The median deviation of the records whose power is fixed: a bias larger than this
# (measured: at most 0.016 dB) is a scale error, however small each record's
IQ_MEDIAN_DB = 0.2
# How many standard errors of the median are added to IQ_MEDIAN_DB for few records
IQ_MEDIAN_ERRORS = 5.0
# A record whose signal adds at most this share to its noise has a fixed power,
# whatever the signal's content (0.04 dB)
IQ_NOISE_DOMINATED = 0.01
# The histogram the median is read from: bins of this many dB, out to +-IQ_MEDIAN_SPAN_DB
IQ_MEDIAN_BIN_DB = 0.002
IQ_MEDIAN_SPAN_DB = 5.0
# How many records a slab's power is computed over at once (float64 temporaries)
IQ_POWER_BLOCK = 16


def record_power(a: dict[str, np.ndarray]) -> np.ndarray:
    """(n, R) float64: each IQ record's mean |x|^2 (mW), in either storage, accumulated in
    float64 a few records at a time."""
    iq = a["iq"]
    n, n_rx, length = iq.shape
    kind = np.float32 if iq.dtype == np.complex64 else np.int16  # int16: scaled per record
    values: np.ndarray = iq.view(kind).reshape(n, n_rx, 2 * length)
    out = np.empty((n, n_rx))
    for i in range(0, n, IQ_POWER_BLOCK):
        part = values[i:i + IQ_POWER_BLOCK].astype(np.float64)
        out[i:i + IQ_POWER_BLOCK] = np.einsum("ijk,ijk->ij", part, part) / length
    if iq.dtype != np.complex64:
        out *= a[IQ_SCALE_FIELD].astype(np.float64) ** 2
    return out


class IqPower:
    """The "IQ power" check: each record's mean |x|^2 against the link budget.

    A record holds the link's signal at `link_snr_db + noise_floor_dbm` (mW) and white
    noise at `noise_floor_dbm` over the whole sample rate, so its expected power is

        S + N = 10^((link_snr_db + noise_floor_dbm)/10)
                + 10^(noise_floor_dbm/10) * iq_sample_rate_hz / bandwidth_hz.

    (With the receivers' impairments on, times the power they add or take: `__init__`.)
    Each record must lie within bounds that no faithful record leaves:

    - the noise's chance: the mean of L complex Gaussian values of power N, plus a
      signal of power S, has a standard deviation of sqrt(N^2 + 2 S N) / sqrt(L)
      (1/sqrt(L) relative for noise alone); IQ_NOISE_SIGMAS of it either way;
    - the signal's content over the record, against the unit mean power of the whole
      emitted waveform (`iq_synthesis.RecordPlan`, E values for a record of L):
      - FM and FSK have a constant envelope: exactly 1;
      - AM and CW are scaled over all E values, so a record holds at most E/L of it
        (all the waveform's energy inside the record); AM's envelope 1 + d*audio
        (d = AM_DEPTH, |audio| <= 1) keeps it above ((1 - d) / (1 + d))^2; CW may
        fall into a pause between words, holding no signal at all;
    - the channel: where bandwidth_hz x the link's mean excess delay
      (`measurement.nlos_delay_us` x sqrt(distance_km)) is at most IQ_FLAT_CHANNEL,
      the multipath taps add up to the link budget's gain across the band, within
      IQ_FLAT_CHANNEL_DB; otherwise they may raise the power by up to
      IQ_SELECTIVE_CHANNEL_DB, or cancel it.

    What was measured, on ten datasets: 600 samples of 7 receivers, L = 10,000, int16
    storage; 60-300 samples with L from 256 to 5,000, the default mix or one modulation
    alone, delay spreads of 0.4 (the default), 10 and 100 us. Where the signal dominates:
    FM and FSK through a flat channel within 0.09 dB of the link budget (0.02 dB at
    L = 10,000), AM within 0.6 dB (L = 256) and 0.12 dB (L = 5,000), CW from -2.5 to
    +1.2 dB; through frequency-selective channels FM from -4.4 to +8.2 dB and CW down to
    -19.6 dB. Noise-dominated records follow the noise's statistics (|z| at most 3.6 over
    2,600 of them). The median deviation of the records whose power is fixed (below) was
    at most 0.016 dB.

    So a record scaled by 10 (+20 dB) fails, as does any record outside its bounds. A
    bias shared by every record is caught by the median: over the records whose power is
    fixed (FM and FSK through a flat channel, and those where the signal adds at most
    IQ_NOISE_DOMINATED of the noise), the median deviation must stay within IQ_MEDIAN_DB
    plus IQ_MEDIAN_ERRORS standard errors of the median (1.25 sigma / sqrt(count)).
    """

    def __init__(self, config: DatasetConfig):
        # The sampling code is loaded for IQ datasets only.
        from ..sampling.iq_signals import AM_DEPTH
        from ..sampling.iq_synthesis import RecordPlan
        from .audio import FM_KINDS

        self.length = config.iq_length
        self.noise_gain = config.iq_sample_rate_hz / config.bandwidth_hz
        # The receivers' impairments (`iq_synthesis.impair`): an IQ gain imbalance g
        # scales the power by (1 + g^2) / 2, an ADC of b bits adds its quantization
        # noise, (4/3) / 4^(b-1) of the power; phase noise leaves it.
        m = config.measurement
        gain = 10.0 ** (m.rx_iq_gain_db / 20.0)
        adc = (4.0 / 3.0) / 4.0 ** (m.rx_adc_bits - 1) if m.rx_adc_bits else 0.0
        self.impaired = (1.0 + gain * gain) / 2.0 * (1.0 + adc)
        self.bandwidth_hz = config.bandwidth_hz
        self.spread_s = config.measurement.nlos_delay_us * 1e-6
        self.names = [r.name for r in config.receivers]
        share = RecordPlan(config).emitted / self.length  # E / L
        am_low = ((1 - AM_DEPTH) / (1 + AM_DEPTH)) ** 2
        self.content = np.array([(1.0, 1.0) if kind in FM_KINDS
                                 else (am_low, min(share, 1 / am_low)) if kind == "am_voice"
                                 else (0.0, share) for kind in MODULATIONS])
        self.fixed = np.array([kind in FM_KINDS for kind in MODULATIONS])
        half = round(IQ_MEDIAN_SPAN_DB / IQ_MEDIAN_BIN_DB)
        self.edges = np.arange(-half, half + 1) * IQ_MEDIAN_BIN_DB
        self.counts = np.zeros(len(self.edges) + 1, np.int64)  # with both overflows
        self.variance_db = 0.0  # sum of the fixed records' variances (dB^2)

    def check_slab(self, start: int, a: dict[str, np.ndarray], c: Check) -> None:
        power = record_power(a)
        floor = a["noise_floor_dbm"].astype(np.float64)
        noise = 10.0 ** (floor / 10) * self.noise_gain * self.impaired
        signal = 10.0 ** ((a["link_snr_db"].astype(np.float64) + floor) / 10) * self.impaired
        codes = np.minimum(a["modulation"], len(MODULATIONS) - 1)[:, None]
        low, high = self.content[codes, 0], self.content[codes, 1]
        flat = (self.bandwidth_hz * self.spread_s
                * np.sqrt(a["distance_km"].astype(np.float64)) <= IQ_FLAT_CHANNEL)
        low = low * np.where(flat, 10 ** (-IQ_FLAT_CHANNEL_DB / 10), 0.0)
        high = high * np.where(flat, 10 ** (IQ_FLAT_CHANNEL_DB / 10),
                               10 ** (IQ_SELECTIVE_CHANNEL_DB / 10))
        sigma = np.sqrt(noise * noise + 2 * signal * high * noise) / math.sqrt(self.length)
        lo = noise + signal * low - IQ_NOISE_SIGMAS * sigma
        hi = noise + signal * high + IQ_NOISE_SIGMAS * sigma
        expected = signal + noise
        with np.errstate(invalid="ignore", divide="ignore"):
            bad = ~((power >= lo) & (power <= hi))
            deviation = 10 * np.log10(power / expected)
        if bad.any():
            i, r = (int(k) for k in np.argwhere(bad)[0])
            c.fail(np.count_nonzero(bad), (
                f"records off the link budget in samples {start}-{start + len(power) - 1}, "
                f"first sample {start + i} at "
                f"{self.names[r]!r}: {_dbm(power[i, r])} where its link budget and noise "
                f"floor give {_dbm(expected[i, r])} (allowed {_dbm(lo[i, r])} to "
                f"{_dbm(hi[i, r])})"))
        dominated = signal * high <= IQ_NOISE_DOMINATED * noise
        fixed = ((self.fixed[codes] & flat) | dominated) & ~bad
        self.counts += np.bincount(np.searchsorted(self.edges, deviation[fixed]),
                                   minlength=len(self.counts))
        sigma_db = 10 / math.log(10) * sigma[fixed] / expected[fixed]
        self.variance_db += float(np.sum(sigma_db * sigma_db))

    def check_median(self, c: Check) -> None:
        count = int(self.counts.sum())
        if count == 0:
            return
        half = np.searchsorted(np.cumsum(self.counts), (count + 1) / 2)
        if half == 0 or half == len(self.edges):
            median = f"beyond {'-' if half == 0 else '+'}{IQ_MEDIAN_SPAN_DB:g} dB"
            off = True
        else:
            value = (self.edges[half - 1] + self.edges[half]) / 2
            error = 1.2533 * math.sqrt(self.variance_db / count) / math.sqrt(count)
            allowed = IQ_MEDIAN_DB + IQ_MEDIAN_ERRORS * error + IQ_MEDIAN_BIN_DB
            median = f"{value:+.3f} dB (allowed within {allowed:.3f} dB)"
            off = abs(value) > allowed
        if off:
            c.fail(1, f"the records' power is biased against the link budget: median "
                      f"deviation of the {count:,} records whose power is fixed {median}")


def _dbm(mw: float) -> str:
    return f"{10 * math.log10(mw):.2f} dBm" if mw > 0 else f"{mw:g} mW"
