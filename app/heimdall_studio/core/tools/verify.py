"""Check a dataset file against every invariant the generator promises.

The checks recompute what they can from the stored truth (positions, receivers, config)
rather than trusting stored derived values, and read the samples in bounded slabs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.geo import EARTH_RADIUS_KM, MIN_DISTANCE_KM, inside_mask, receiver_box, training_box
from ..dataset import stats
from ..dataset.checksums import rows_checksum, update_checksums
from ..dataset.reader import DatasetHeader, read_header, read_samples
from ..dataset.stats import read_stored_histograms
from ..errors import HeimdallError
from ..sampling.histograms import histogram
from ..sampling.physics import gdop_of_samples, noise_floor_dbm

SLAB_ROWS = 1 << 18
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
    checks = {n: Check(n) for n in names}
    report.checks = list(checks.values())
    runs = _committed_runs(header, checks["history"])
    crcs = [[0] * len(header.fields) for _ in runs]
    edges = stats.histogram_edges(header.config)
    counts = {k: np.zeros(len(e) - 1, np.int64) for k, e in edges.items()}
    try:
        for start in range(0, header.num_samples, SLAB_ROWS):
            stop = min(header.num_samples, start + SLAB_ROWS)
            _, arrays = read_samples(path, start, stop)
            _check_slab(header, start, arrays, checks)
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
    if "toa_ns" in a:  # generator version 4: measured noise floors, timed receivers
        timed = np.array([r.timing != "none" for r in rx])
        c.fail(np.count_nonzero(np.isnan(a["toa_ns"]) != ~(present & timed)),
               f"toa_ns NaN pattern disagrees with signal_present and timing {where}")
        c.fail(np.count_nonzero(~np.isfinite(a["noise_floor_dbm"])),
               f"noise floors missing {where}")
        noise = a["noise_floor_dbm"]
    with np.errstate(invalid="ignore"):
        diff = a["rx_power_dbm"] - snr - noise
        mean = np.where(present, snr, 0.0).sum(axis=1) / np.maximum(detected, 1)
    c.fail(np.count_nonzero(present & (np.abs(diff) > 1e-2)),
           f"snr_db != rx_power_dbm - noise floor {where}")
    c.fail(np.count_nonzero(~_close(a["mean_snr_db"], mean)),
           f"mean_snr_db is not the mean SNR of the detecting receivers {where}")

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
