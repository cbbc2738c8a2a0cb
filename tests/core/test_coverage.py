"""The coverage preview: its predicted acceptance against real runs, its maps against the
flat plane's closed form (SPEC sections 3 and 4), its warnings, and its process."""

from __future__ import annotations

import math
import queue
import threading

import numpy as np
import pytest
from scipy import stats

from heimdall_studio.core import api
from heimdall_studio.core.config.geo import EARTH_RADIUS_KM
from heimdall_studio.core.config.model import DatasetConfig
from heimdall_studio.core.runs.preview import (
    PreviewFailed,
    PreviewPreparing,
    PreviewProcess,
    PreviewReady,
)
from heimdall_studio.core.sampling import coverage, generator

NONE = {"propagation": {"terrain": {"source": "none"}}}


def config_of(**values) -> DatasetConfig:
    return DatasetConfig.from_dict({"name": "preview", "seed": 20240611, **values})


@pytest.mark.parametrize("values", [
    {},  # the defaults: the built-in terrain
    {"min_receivers": 4},
    {"frequency_mhz": 430.0, **NONE},
    {"min_snr_db": 8.0, "tx_power_dbm": 45.0, **NONE},
    {"max_gdop": 4.0, "inside_ratio": 1.0, **NONE},
], ids=["defaults", "min-receivers-4", "430-MHz", "snr-8-dB-45-dBm", "gdop-4-inside"])
def test_predicted_acceptance_is_what_a_run_then_shows(values, workspace):
    config = config_of(**values)
    predicted = coverage.run_preview(config).acceptance
    run = api.create_dataset(config, 20_000, workspace)
    assert predicted.unfillable is None
    assert abs(predicted.value - run.acceptance) < 0.05
    # and far closer than the requirement: within the two estimates' noise
    noise = math.hypot(predicted.error, math.sqrt(run.acceptance / run.candidates))
    assert abs(predicted.value - run.acceptance) < 5 * noise + 0.005


def _flat_plane_probability(config: DatasetConfig, lat: np.ndarray, lon: np.ndarray
                            ) -> np.ndarray:
    """P(each receiver detects a transmitter at lat, lon) on the `none` terrain with one
    transmit power, a whip, no shadowing and a steady noise floor: SPEC section 3's link
    budget, with the fading's distribution in closed form and the clutter integrated."""
    p = config.propagation
    out = np.empty((*lat.shape, len(config.receivers)))
    clutter = p.clutter_min_db + (np.arange(32) + 0.5) / 32 * (p.clutter_max_db
                                                               - p.clutter_min_db)
    k = 10 ** (p.rician_k_db / 10)
    for r, rx in enumerate(config.receivers):
        p1, p2 = np.radians(lat), math.radians(rx.lat)
        a = (np.sin((p2 - p1) / 2) ** 2
             + np.cos(p1) * math.cos(p2) * np.sin(np.radians(rx.lon - lon) / 2) ** 2)
        d = np.maximum(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a)), 0.01)
        fspl = 20 * np.log10(d) + 20 * math.log10(config.frequency_mhz) + 32.45
        h_rx = max(rx.alt_m, 10.0)
        pel = 40 * np.log10(d * 1000) - 20 * math.log10(p.tx_height_m) - 20 * math.log10(h_rx)
        noise = -174 + 10 * math.log10(config.bandwidth_hz) + rx.noise_figure_db
        margin = config.tx_power_dbm + rx.antenna_gain_dbi - np.maximum(fspl, pel) - noise
        # |h|^2 must reach this for the SNR to reach min_snr_db
        need = 10 ** ((config.min_snr_db - margin[..., None] + clutter) / 10)
        rician = stats.ncx2.sf(2 * (k + 1) * need, 2, 2 * k)
        rayleigh = np.exp(-need)
        clear = (d < p.los_distance_km)[..., None]
        out[..., r] = np.where(clear, rician, rayleigh).mean(axis=-1)
    return out


def _gdop(east: np.ndarray, north: np.ndarray) -> float:
    norm = np.hypot(east, north)
    g = np.column_stack([east / norm, north / norm, np.ones_like(east)])
    if len(east) < 3 or abs(np.linalg.det(g.T @ g)) < 1e-12:
        return math.inf
    q = np.linalg.inv(g.T @ g)
    return math.sqrt(q[0, 0] + q[1, 1])


def test_maps_match_the_flat_plane_closed_form():
    receivers = [{**r.to_dict(), "noise_floor_sigma_db": 0.0}
                 for r in config_of().receivers]
    config = config_of(receivers=receivers, tx_power_dbm=37.0, margin_deg=0.3,
                       propagation={"terrain": {"source": "none"},
                                    "shadowing_sigma_db": 0.0},
                       measurement={"tx_antennas": "whip:1"})
    cells, draws = 16, 400
    maps = coverage.coverage_maps(config, generator.prepare(config), cells, draws)
    # the reference: the closed form at 100 points uniform in each cell, drawn by numpy
    south, north, west, east = maps.bounds
    rng = np.random.default_rng(1)
    rows = (np.arange(cells)[:, None, None] + rng.random((cells, cells, 100))) / cells
    cols = (np.arange(cells)[None, :, None] + rng.random((cells, cells, 100))) / cells
    expected = _flat_plane_probability(config, south + rows * (north - south),
                                       west + cols * (east - west)).mean(axis=2)
    difference = np.abs(maps.probability - expected)
    assert difference.max() < 0.12  # about 4.5 binomial errors of 400 draws
    assert difference.mean() < 0.02
    assert 0.3 < maps.detections.mean() < 7  # something to see, not all or nothing
    # GDOP at the cell centres over the receivers likely to detect (SPEC section 4)
    lats, lons = maps.cell_centres()
    rx_lat = np.radians([r.lat for r in config.receivers])
    rx_lon = np.radians([r.lon for r in config.receivers])
    finite = 0
    for i, lat in enumerate(np.radians(lats)):
        for j, lon in enumerate(np.radians(lons)):
            use = maps.probability[i, j] >= 0.5
            e = EARTH_RADIUS_KM * math.cos(lat) * (rx_lon - lon)
            n = EARTH_RADIUS_KM * (rx_lat - lat)
            want = _gdop(e[use], n[use])
            if math.isinf(want):
                assert math.isinf(maps.gdop[i, j])
            else:
                finite += 1
                assert maps.gdop[i, j] == pytest.approx(want, rel=1e-6)
    assert finite > 10


def test_warnings_name_a_far_receiver_a_sea_box_and_a_low_acceptance():
    default = config_of()
    assert coverage.layout_warnings(default, None) == []
    far = config_of(receivers=[*(r.to_dict() for r in default.receivers),
                               {"name": "Roma", "lat": 41.9, "lon": 12.5, "alt_m": 50}])
    (warning,) = coverage.far_receivers(far)
    assert "'Roma'" in warning and "km" in warning
    # the Ligurian Sea south of Genova, in the built-in elevation data
    sea = config_of(margin_deg=0.1, receivers=[
        {"name": f"buoy {i}", "lat": 43.3 + 0.3 * (i % 2), "lon": 8.3 + 0.4 * (i // 2),
         "alt_m": 10} for i in range(4)])
    assert coverage.sea_share(sea, None) > 0.9
    assert any("sea" in w for w in coverage.layout_warnings(sea, None))
    low = coverage.Acceptance(kept=30, candidates=10_000, seconds=0.1)
    (warning,) = coverage.acceptance_warnings(low)
    assert "0.30 %" in warning and "Min SNR" in warning
    assert coverage.acceptance_warnings(coverage.Acceptance(300, 1000, 0.1)) == []


def test_the_preview_process_answers_the_newest_request_only():
    config = config_of(**NONE)
    process = PreviewProcess()
    updates: list = []
    reader = threading.Thread(target=lambda: updates.extend(process.updates()))
    reader.start()
    try:
        for snr in (3.0, 4.0, 5.0):  # sent before the process is even ready
            last = process.submit(DatasetConfig.from_dict({**config.to_dict(),
                                                           "min_snr_db": snr}))
        while not any(u.request == last for u in updates) and reader.is_alive():
            reader.join(0.05)
    finally:
        process.close()
        reader.join(30)
    assert not reader.is_alive()
    ready = [u for u in updates if isinstance(u, PreviewReady)]
    assert ready[-1].request == last
    # all three were waiting when it started, each preview takes a while: the newest
    # request is answered and at least one older one was dropped unseen
    assert len({u.request for u in updates}) < 3
    shown = ready[-1].coverage
    expected = coverage.run_preview(DatasetConfig.from_dict({**config.to_dict(),
                                                             "min_snr_db": 5.0}))
    assert shown.acceptance == pytest.approx(expected.acceptance.value, abs=0.03)
    assert shown.detections.shape == (coverage.MAP_CELLS, coverage.MAP_CELLS)


def test_the_preview_survives_the_frequency_toggled_during_preparation(tmp_path,
                                                                     monkeypatch):
    """The frequency back and forth faster than the terrain is prepared (the New dialog
    while a run goes on): each preparation of the other grids is dropped for the newer
    request, and every request is still answered with a preview, never a failure."""
    monkeypatch.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(tmp_path))  # grids computed
    process = PreviewProcess()
    updates: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [updates.put(u) for u in process.updates()])
    reader.start()
    seen: list = []

    def submit(mhz: float) -> int:
        # a small sea-level box: grids in a second or two, and an acceptance that
        # measures quickly
        return process.submit(config_of(
            frequency_mhz=mhz, margin_deg=0.1, tx_power_dbm=50.0, min_snr_db=0.0,
            propagation={"terrain": {"source": "flat"}}))

    def wait_for(request: int, kinds: tuple[type, ...]):
        while True:
            update = updates.get(timeout=120)
            seen.append(update)
            assert not isinstance(update, PreviewFailed), update.message
            if update.request == request and isinstance(update, kinds):
                return update

    others = []
    try:
        wait_for(submit(145.0), (PreviewReady,))
        for _ in range(2):
            others.append(submit(146.0))
            wait_for(others[-1], (PreviewPreparing,))  # its grids are being computed
            back = submit(145.0)
            ready = wait_for(back, (PreviewReady, PreviewFailed))
            assert ready.coverage.detections.shape == (coverage.MAP_CELLS,
                                                       coverage.MAP_CELLS)
        wait_for(submit(146.0), (PreviewReady,))  # and grids dropped before are made
    finally:
        process.close()
        reader.join(30)
    assert not reader.is_alive()
    answered = {u.request for u in seen if isinstance(u, PreviewReady)}
    assert set(others) - answered  # a preparation at 146 MHz was dropped for 145 MHz
