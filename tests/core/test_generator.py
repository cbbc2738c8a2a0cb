"""Generator: filters, stratification, determinism (docs/generation.md)."""

import subprocess
import sys

import numpy as np
import pytest

from heimdall_studio.core.api import make_config
from heimdall_studio.core.config import geo
from heimdall_studio.core.config.geo import inside_mask
from heimdall_studio.core.errors import StratumUnfillableError
from heimdall_studio.core.sampling import physics
from heimdall_studio.core.sampling.generator import generate_block, generate_blocks


def same(a, b):
    return all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_every_sample_passes_the_filters(small_config):
    # version 3's uniform per-link frequency offsets; tests/core/test_measurements.py has
    # version 4's measurements
    block = generate_block(small_config, 0, 2000, version=3)
    a = block.arrays
    assert (a["num_receivers_detected"] >= small_config.min_receivers).all()
    # with n receivers evenly around, GDOP is 2/sqrt(n): below 1 from five receivers on
    assert (a["gdop"] <= small_config.max_gdop).all()
    assert (a["gdop"] >= 2 / np.sqrt(a["num_receivers_detected"]) - 1e-5).all()
    present = a["signal_present"]
    assert (a["num_receivers_detected"] == present.sum(axis=1)).all()
    assert (a["snr_db"][present] >= small_config.min_snr_db).all()
    for key in ("snr_db", "rx_power_dbm", "freq_offset_hz"):
        assert (np.isnan(a[key]) == ~present).all()
    assert np.isfinite(a["distance_km"]).all()
    assert (np.abs(a["freq_offset_hz"][present]) <= 50).all()
    assert block.candidates == (2000 + block.rejected_too_few_receivers
                                + block.rejected_gdop)
    assert block.rejected_too_few_receivers > 0 and block.rejected_gdop > 0


def test_noise_floor_links_power_and_snr(small_config):
    # one noise floor for every sample up to version 3 (version 4's varies and is stored)
    a = generate_block(small_config, 0, 500, version=3).arrays
    present = a["signal_present"]
    assert np.allclose((a["rx_power_dbm"] - a["snr_db"])[present], -120.03, atol=0.01)


def test_default_network_detects_about_four_of_seven_inside():
    # SPEC section 3's statement, of its flat-plane model (terrain none)
    config = make_config("d", seed=5, min_receivers=3, max_gdop=1e9, min_snr_db=3,
                         inside_ratio=1.0, propagation={"terrain": {"source": "none"}})
    # Unfiltered view: the kept samples' detection counts, at a filter that keeps anything
    # with three detections, cluster around four of seven (docs/generation.md).
    a = generate_block(config, 0, 4000).arrays
    assert 3.5 < a["num_receivers_detected"].mean() < 5.0


def test_stratification_keeps_the_ratio_in_every_prefix(small_config):
    a = generate_block(small_config, 0, 1000).arrays
    inside = a["inside"]
    assert (inside == inside_mask(0, 1000, 0.7)).all()
    for n in (1, 7, 10, 99, 1000):
        assert abs(inside[:n].sum() - 0.7 * n) < 1
    lat0, lat1, lon0, lon1 = geo.receiver_box(small_config)
    t_lat0, t_lat1, t_lon0, t_lon1 = geo.training_box(small_config)
    lat, lon = a["tx_lat"], a["tx_lon"]
    in_rx = (lat >= lat0) & (lat <= lat1) & (lon >= lon0) & (lon <= lon1)
    in_tr = (lat >= t_lat0) & (lat <= t_lat1) & (lon >= t_lon0) & (lon <= t_lon1)
    assert in_rx[inside].all()
    assert (in_tr & ~in_rx)[~inside].all()


def test_outside_samples_cover_all_four_sides_of_the_ring():
    config = make_config("ring", seed=3, inside_ratio=0.0, min_receivers=3, max_gdop=1e6,
                         min_snr_db=-20, tx_power_dbm=70)
    a = generate_block(config, 0, 2000).arrays
    lat0, lat1, lon0, lon1 = geo.receiver_box(config)
    lat, lon = a["tx_lat"], a["tx_lon"]
    for side in (lat > lat1, lat < lat0, lon < lon0, lon > lon1):
        assert side.sum() > 50


def test_a_sample_does_not_depend_on_the_range_it_is_generated_in(small_config):
    whole = generate_block(small_config, 0, 700).arrays
    for start, stop in [(0, 1), (63, 65), (100, 700), (1, 699)]:
        part = generate_block(small_config, start, stop).arrays
        assert same(part, {k: v[start:stop] for k, v in whole.items()})


def test_blocks_concatenate_to_the_whole(small_config):
    whole = generate_block(small_config, 10, 3000).arrays
    blocks = list(generate_blocks(small_config, 10, 3000))
    assert blocks[0].first_index == 10
    joined = {k: np.concatenate([b.arrays[k] for b in blocks]) for k in whole}
    assert same(joined, whole)


def test_output_does_not_depend_on_the_thread_count(tmp_path):
    script = (
        "import hashlib, numba, sys\n"
        "numba.set_num_threads(int(sys.argv[1]))\n"
        "from heimdall_studio.core.api import make_config\n"
        "from heimdall_studio.core.sampling.generator import generate_block\n"
        "a = generate_block(make_config('t', seed=9, chunk_size=128), 0, 3000).arrays\n"
        "h = hashlib.sha256()\n"
        "[h.update(a[k].tobytes()) for k in sorted(a)]\n"
        "print(h.hexdigest())\n")
    digests = {subprocess.run([sys.executable, "-c", script, str(n)], check=True,
                              capture_output=True, text=True).stdout for n in (1, 2)}
    assert len(digests) == 1


def test_different_seeds_and_configs_differ(small_config):
    a = generate_block(small_config, 0, 100).arrays
    b = generate_block(small_config.replace(seed=2025), 0, 100).arrays
    assert not np.array_equal(a["tx_lat"], b["tx_lat"])


def test_unfillable_stratum_stops_with_advice():
    config = make_config("hopeless", seed=1, tx_power_dbm=-30, min_snr_db=60,
                         min_receivers=7, inside_ratio=1.0)
    with pytest.raises(StratumUnfillableError) as info:
        generate_block(config, 0, 10)
    message = str(info.value)
    assert "inside stratum" in message and "1,000,000 candidates" in message
    assert "min_snr_db (now 60 dB)" in message


def test_unfillable_outside_stratum_says_so_and_suggests_more_inside():
    # The outer ring hopeless, the receiver box fine: only the outside stratum fails,
    # in the second of three chunks.
    # (a ring 5 degrees wide: beyond the built-in elevation grid, so over a flat plane)
    config = make_config("ring", seed=1, chunk_size=64, margin_deg=5.0, inside_ratio=0.9,
                         tx_power_dbm=30, min_snr_db=20,
                         propagation={"terrain": {"source": "none"}})
    with pytest.raises(StratumUnfillableError) as info:
        generate_block(config, 70, 150)
    message = str(info.value)
    assert "outside stratum (chunk 1)" in message and "raise inside_ratio" in message


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("model", ["two_ray", "free_space"])
def test_kernel_power_matches_the_reference_formulas(model, version):
    # the flat-plane model of SPEC section 3 (terrain none; tests/core/test_terrain_model.py
    # holds the terrain model to its own)
    # Freeze the random terms: fixed clutter, no shadowing, near-deterministic fading
    # (Rician K = 40 dB on every link), so rx power is the path-loss formula alone; in
    # version 4 also whips only and receivers without calibration error.
    receivers = [{**r.to_dict(), "calibration_db": 0.0}
                 for r in make_config("r", seed=0).receivers]
    config = make_config("formula", seed=8, min_snr_db=-20, max_gdop=1e6, tx_power_dbm=60,
                         receivers=receivers, measurement={"tx_antennas": "whip"},
                         propagation={"path_loss_model": model, "clutter_min_db": 10,
                                      "clutter_max_db": 10, "shadowing_sigma_db": 0,
                                      "rician_k_db": 40, "los_distance_km": 20000,
                                      "terrain": {"source": "none"}})
    a = generate_block(config, 0, 300, version=version).arrays
    alt = [r.alt_m for r in config.receivers]
    code = physics.PATH_LOSS_CODES[model]
    present = a["signal_present"]
    rows, cols = np.nonzero(present)
    expected = np.array([
        60 - physics.path_loss_db(float(a["distance_km"][i, r]), 145.0, 2.0, alt[r], code) - 10
        for i, r in zip(rows, cols, strict=True)])
    error = a["rx_power_dbm"][rows, cols] - expected
    assert np.abs(error).max() < 0.5 and abs(error.mean()) < 0.02
    # and the stored distance is the haversine of the stored positions
    lat, lon = a["tx_lat"][0], a["tx_lon"][0]
    assert a["distance_km"][0, 2] == pytest.approx(
        physics.haversine_km(lat, lon, config.receivers[2].lat, config.receivers[2].lon),
        rel=1e-6)


def _two_sample_ks(a, b):
    both = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), both, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), both, side="right") / len(b)
    return np.abs(cdf_a - cdf_b).max()


@pytest.mark.parametrize("line_of_sight", [False, True])
def test_kernel_random_link_terms_match_an_independent_numpy_draw(line_of_sight):
    # With every link detected, rx power minus the deterministic terms is
    # -clutter + shadowing + fading. Its distribution must match the same terms
    # drawn with numpy's own generators (docs/generation.md).
    los_km = 20000.0 if line_of_sight else 0.0
    config = make_config("terms", seed=11, min_snr_db=-20, max_gdop=1e6, tx_power_dbm=70,
                         propagation={"los_distance_km": los_km,
                                      "terrain": {"source": "none"}})
    # the flat plane's per-link shadowing draws (version 4 draws a field per receiver)
    a = generate_block(config, 0, 20000, version=3).arrays
    alt = [r.alt_m for r in config.receivers]
    assert a["signal_present"].mean() > 0.99
    rows, cols = np.nonzero(a["signal_present"])
    loss = np.array([physics.path_loss_db(float(a["distance_km"][i, r]), 145.0, 2.0, alt[r],
                                          physics.PATH_LOSS_TWO_RAY)
                     for i, r in zip(rows, cols, strict=True)])
    kernel_terms = a["rx_power_dbm"][rows, cols] - (70.0 - loss)

    draw = np.random.default_rng(5)
    n = 200_000
    k = 10 ** (6.0 / 10)
    scatter = (draw.normal(size=n) + 1j * draw.normal(size=n)) / np.sqrt(2)
    h = np.sqrt(k / (k + 1)) + np.sqrt(1 / (k + 1)) * scatter if line_of_sight else scatter
    numpy_terms = (-draw.uniform(5, 15, n) + draw.normal(0, 6, n)
                   + 10 * np.log10(np.abs(h) ** 2))
    m = len(kernel_terms)
    # 99.9 % critical value of the two-sample Kolmogorov-Smirnov statistic
    assert _two_sample_ks(kernel_terms, numpy_terms) < 1.95 * np.sqrt((m + n) / (m * n))
