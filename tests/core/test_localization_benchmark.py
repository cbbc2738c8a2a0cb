"""benchmarks/localization.py without scikit-learn: its feature builders read measurements
only and mean what they say, and its baselines locate transmitters."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.fields import MEASUREMENT_FIELDS, TRUTH_FIELDS

ROOT = Path(__file__).resolve().parents[2]
UNTIMED = 4  # the receiver of the test network without a clock


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("localization_benchmark",
                                                  ROOT / "benchmarks" / "localization.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


@pytest.fixture
def data(workspace):
    """3,000 samples of the default network, every receiver GPS-timed but one."""
    receivers = [{**r.to_dict(), "timing": "none" if i == UNTIMED else "gps"}
                 for i, r in enumerate(api.make_config("network", seed=0).receivers)]
    config = api.make_config("localization", seed=11, chunk_size=256, receivers=receivers)
    return api.load_dataset(api.create_dataset(config, 3000, workspace).path)


class MeasurementsOnly(Mapping):
    """A sample's arrays that refuse to give away ground truth, and remember what was read."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self._arrays = arrays
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in MEASUREMENT_FIELDS:
            raise AssertionError(f"a feature builder read {key!r}, which is not a measurement")
        self.read.add(key)
        return self._arrays[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


def test_the_benchmark_reads_measurements_only():
    assert set(bench.MEASUREMENTS) <= MEASUREMENT_FIELDS
    assert not set(bench.MEASUREMENTS) & TRUTH_FIELDS


def test_feature_builders_and_baselines_read_no_truth(data):
    guarded = MeasurementsOnly(dict(data.arrays))  # truth included, but locked
    min_snr = data.config.min_snr_db
    for family in bench.FAMILIES:
        bench.family_features(guarded, family, min_snr)
    rx_km = bench.receivers_km(data.config)
    bench.snr_weighted_centroid(guarded, rx_km, min_snr)
    bench.centroid(guarded["signal_present"], rx_km)
    assert guarded.read == set(bench.MEASUREMENTS)
    with pytest.raises(AssertionError, match="distance_km"):
        guarded["distance_km"]


def test_feature_shapes_fills_and_no_nan(data):
    n, n_rx = data["signal_present"].shape
    min_snr = data.config.min_snr_db
    widths = {"signal strength": 4, "+ frequency offset": 5, "+ arrival times": 7}
    for family, per_rx in widths.items():
        x = bench.family_features(data.arrays, family, min_snr)
        assert x.shape == (n, per_rx * n_rx)
        assert np.isfinite(x).all(), family
    present = data["signal_present"]
    assert 0 < present.mean() < 1  # both kinds of links are there
    signal = bench.signal_features(data.arrays, min_snr)
    snr, flag, power, floor = np.split(signal, 4, axis=1)
    np.testing.assert_array_equal(flag, present)
    assert (snr[~present] == min_snr - bench.BELOW_THRESHOLD_DB).all()
    assert (snr[present] >= min_snr).all()
    np.testing.assert_array_equal(floor, data["noise_floor_dbm"])
    # an undetected link's power lies below what a detection would have needed
    assert (power[~present] < floor[~present] + min_snr).all()
    # the transmitter's offset, shared by the detecting receivers, is gone
    offset = bench.frequency_features(data.arrays)
    assert (offset[~present] == 0).all()
    np.testing.assert_allclose(offset.sum(axis=1), 0, atol=1e-6)
    after_us, timed = bench.arrival_times_us(data["toa_ns"])
    expected = present.copy()
    expected[:, UNTIMED] = False
    np.testing.assert_array_equal(timed, expected)
    assert (after_us[~timed] == 0).all() and (after_us >= 0).all()
    has_timed = timed.any(axis=1)
    np.testing.assert_array_equal(np.where(timed, after_us, np.inf)[has_timed].min(axis=1), 0)


def test_arrival_feature_is_the_distance_difference_over_c(data):
    """On clear links at high SNR, the arrival after the earliest one is the difference of
    the distances over c, within the documented errors: each arrival's GPS clock error
    (measurement.gps_clock_ns, a standard deviation) and the Cramer-Rao bound of the
    bandwidth (core/sampling/kernel_v4.py), five of their combined deviations."""
    config = data.config
    after_us, timed = bench.arrival_times_us(data["toa_ns"])
    first = np.where(timed, after_us, np.inf).argmin(axis=1)
    rows = np.arange(len(first))
    energy = (10 ** (0.1 * data["snr_db"].astype(np.float64)) * config.bandwidth_hz
              * config.iq_duration_s * config.measurement.tx_duty_cycle)
    bound_ns = 1e9 * math.sqrt(3) / (math.pi * config.bandwidth_hz * np.sqrt(2 * energy))
    sigma_ns = np.sqrt(config.measurement.gps_clock_ns**2 + bound_ns**2)
    distance = data["distance_km"].astype(np.float64)
    clear = data["line_of_sight"] & (data["snr_db"] >= 20)  # NaN SNR compares False
    checked = timed & clear & clear[rows, first][:, None]
    checked[rows, first] = False  # the earliest is 0 by construction
    assert checked.sum() >= 30
    expected_us = (distance - distance[rows, first][:, None]) / bench.LIGHT_KM_PER_US
    tolerance_us = 5e-3 * np.hypot(sigma_ns, sigma_ns[rows, first][:, None])
    error_us = np.abs(after_us - expected_us)
    assert (error_us[checked] <= tolerance_us[checked]).all()
    # what the test would catch: a sign, or the emission instant left in
    assert (np.abs(after_us + expected_us)[checked] > tolerance_us[checked]).mean() > 0.9


def test_baselines_locate_inside_the_training_box(data):
    config = data.config
    truth = bench.targets_km(data["tx_lat"], data["tx_lon"], config)
    rx_km = bench.receivers_km(config)
    box = bench.training_box_km(config)
    diagonal = bench.box_diagonal_km(box)
    assert 250 < diagonal < 400  # the default network's box, about 230 x 210 km
    west, east, south, north = box
    assert (truth[:, 0] >= west).all() and (truth[:, 0] <= east).all()
    assert (truth[:, 1] >= south).all() and (truth[:, 1] <= north).all()
    present = data["signal_present"]
    plain = bench.errors_km(bench.centroid(present, rx_km), truth)
    weighted = bench.errors_km(bench.snr_weighted_centroid(data.arrays, rx_km,
                                                           config.min_snr_db), truth)
    for errors in (plain, weighted):
        assert np.isfinite(errors).all() and (errors < diagonal).all()
        assert np.median(errors) < diagonal / 4
    after_us, timed = bench.arrival_times_us(data["toa_ns"])
    located = bench.tdoa_multilateration(after_us, timed, rx_km,
                                         bench.centroid(present, rx_km), box)
    tdoa = bench.errors_km(located, truth)
    assert np.isfinite(tdoa).all() and (tdoa < diagonal).all()
    assert np.median(tdoa) < np.median(plain) / 5


def test_multilateration_is_exact_on_exact_arrivals():
    rng = np.random.default_rng(3)
    rx_km = rng.uniform(-80, 80, (6, 2))
    truth = rng.uniform(-100, 100, (200, 2))
    distance = np.hypot(*(truth[:, None, :] - rx_km[None]).transpose(2, 0, 1))
    toa_ns = 5e8 + distance / bench.LIGHT_KM_PER_US * 1e3  # an emission instant added
    timed = rng.random(distance.shape) < 0.8
    timed[:, :4] = True  # at least four: a unique answer
    after_us, flags = bench.arrival_times_us(np.where(timed, toa_ns, np.nan))
    start = np.zeros_like(truth)
    located = bench.tdoa_multilateration(after_us, flags, rx_km, start,
                                         (-120.0, 120.0, -120.0, 120.0))
    assert bench.errors_km(located, truth).max() < 1e-3
    # with two timed receivers there is nothing to solve: the fallback is kept
    flags[:, 2:] = False
    kept = bench.tdoa_multilateration(after_us, flags, rx_km, start, (-120, 120, -120, 120))
    np.testing.assert_array_equal(kept, start)


def test_without_scikit_learn_it_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    monkeypatch.setattr(sys, "argv", ["localization.py", "--quick"])
    with pytest.raises(SystemExit) as exit_info:
        bench.main()
    assert "pip install 'heimdall-studio[learn]'" in str(exit_info.value.code)
