"""Physics and geometry kernels against values worked by hand (docs/generation.md)."""

import math

import numpy as np
import pytest
from numba import njit

from heimdall_studio.core.config import geo
from heimdall_studio.core.sampling import physics, rng
from heimdall_studio.core.sampling.physics import (
    PATH_LOSS_FREE_SPACE,
    PATH_LOSS_TWO_RAY,
    fading_db,
    free_space_loss_db,
    gdop_from_vectors,
    haversine_km,
    noise_floor_dbm,
    path_loss_db,
    plane_earth_loss_db,
)


def test_free_space_loss_at_100_km_145_mhz():
    assert free_space_loss_db(100.0, 145.0) == pytest.approx(115.68, abs=0.005)


def test_plane_earth_loss_by_hand():
    # 40 log10(10 000 m) - 20 log10(2) - 20 log10(50) = 160 - 6.0206 - 33.9794
    assert plane_earth_loss_db(10.0, 2.0, 50.0) == pytest.approx(120.0, abs=1e-9)


def test_two_ray_takes_the_larger_loss_and_free_space_ignores_heights():
    near = path_loss_db(0.5, 145.0, 2.0, 600.0, PATH_LOSS_TWO_RAY)
    assert near == pytest.approx(free_space_loss_db(0.5, 145.0))  # FSPL dominates close in
    far = path_loss_db(50.0, 145.0, 2.0, 100.0, PATH_LOSS_TWO_RAY)
    assert far == pytest.approx(plane_earth_loss_db(50.0, 2.0, 100.0))
    assert far > free_space_loss_db(50.0, 145.0)
    assert path_loss_db(50.0, 145.0, 2.0, 100.0, PATH_LOSS_FREE_SPACE) == pytest.approx(
        free_space_loss_db(50.0, 145.0))


def test_noise_floor_at_defaults_is_minus_120_dbm():
    assert noise_floor_dbm(12500.0, 13.0) == pytest.approx(-120.03, abs=0.005)


def test_haversine_known_distances():
    # one degree of latitude on the mean sphere
    assert haversine_km(45.0, 7.0, 46.0, 7.0) == pytest.approx(6371.0088 * math.pi / 180)
    # Torino to Genova (default network), about 123 km
    assert haversine_km(45.044, 7.672, 44.395, 8.956) == pytest.approx(123.0, abs=1.5)
    assert haversine_km(45.0, 7.0, 45.0, 7.0) == geo.MIN_DISTANCE_KM


def test_compiled_haversine_is_geos_formula():
    # The compiled one is the kernel's reference; the histogram bins use the plain one.
    for args in ((45.0, 7.0, 46.0, 7.0), (45.044, 7.672, 44.395, 8.956), (1.0, 2.0, 1.0, 2.0)):
        assert physics.haversine_km(*args) == pytest.approx(geo.haversine_km(*args), rel=1e-14)


def _ring(bearings_deg):
    b = np.radians(np.asarray(bearings_deg, dtype=float))
    return 10 * np.sin(b), 10 * np.cos(b)  # east, north


@pytest.mark.parametrize("bearings, expected", [
    ([0, 120, 240], math.sqrt(4 / 3)),
    ([0, 90, 180, 270], 1.0),
])
def test_gdop_of_symmetric_geometries(bearings, expected):
    east, north = _ring(bearings)
    use = np.ones(len(bearings), dtype=np.bool_)
    assert gdop_from_vectors(east, north, use, len(bearings)) == pytest.approx(expected)


def test_gdop_needs_three_detecting_receivers():
    east, north = _ring([0, 90, 180, 270])
    use = np.array([True, True, False, False])
    assert gdop_from_vectors(east, north, use, 4) == math.inf


def test_gdop_of_receivers_in_one_direction_is_infinite():
    east = np.array([1.0, 2.0, 3.0])
    north = np.array([1.0, 2.0, 3.0])
    assert gdop_from_vectors(east, north, np.ones(3, np.bool_), 3) == math.inf


def test_gdop_grows_as_receivers_bunch_together():
    wide = _ring([0, 120, 240])
    narrow = _ring([0, 30, 60])
    use = np.ones(3, np.bool_)
    assert gdop_from_vectors(*narrow, use, 3) > 3 * gdop_from_vectors(*wide, use, 3)


@njit
def _draw_normals(key0, key1, n):
    out = np.empty((n, 2))
    for i in range(n):
        key = rng.candidate_key(key0, key1, i)
        out[i, 0] = rng.normal(key, 0)
        out[i, 1] = rng.normal(key, 1)
    return out


def _normals(n):
    key0, key1 = rng.stream_key(7, 0, 0)
    return _draw_normals(key0, key1, n)


def test_counter_rng_normals_have_unit_moments():
    z = _normals(20000)
    assert abs(z.mean()) < 0.03
    assert z.std() == pytest.approx(1.0, abs=0.03)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.03


def test_ziggurat_normals_follow_the_normal_law_into_the_tail():
    z = _normals(1_000_000).ravel()
    # Kolmogorov-Smirnov against the exact CDF: sqrt(n) D stays below 1.95 with 99.9 %
    # probability for a true normal sample.
    z.sort()
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in z])
    n = len(z)
    d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert math.sqrt(n) * d < 1.95
    # Two-sided tail frequencies, including beyond the base layer (r = 3.654), which
    # the ziggurat draws by a separate method: within 5 binomial sigmas.
    for t in (1.0, 2.0, 3.0, rng.ZIGGURAT_R, 4.0):
        p = math.erfc(t / math.sqrt(2.0))
        seen = np.count_nonzero(np.abs(z) > t)
        assert abs(seen - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 1, t
    assert np.count_nonzero(z < -rng.ZIGGURAT_R) > 0 and np.count_nonzero(z > rng.ZIGGURAT_R) > 0


def test_ziggurat_layers_have_equal_area():
    x, f = rng.ZIGGURAT_X, rng.ZIGGURAT_F
    area = x[0] * f[1]  # the base strip: rectangle up to r plus the tail
    layers = x[1:-1] * (f[2:] - f[1:-1])
    assert np.allclose(layers, area, rtol=1e-9) and x[-1] == 0.0


@pytest.mark.parametrize("line_of_sight", [True, False])
def test_fading_has_unit_mean_power(line_of_sight):
    z = _normals(20000)
    k = 10 ** (6 / 10)
    gains = np.array([fading_db(a, b, k, line_of_sight) for a, b in z])
    assert np.mean(10 ** (gains / 10)) == pytest.approx(1.0, abs=0.03)
    # Deep (-10 dB) fades: Rayleigh 1 - exp(-0.1) = 9.5 %; Rician K = 6 dB about 2.7 %
    # (reference from an independent numpy draw of the same distribution).
    if line_of_sight:
        ref = np.random.default_rng(1).normal(size=(200000, 2))
        h = np.sqrt(k / (k + 1)) + np.sqrt(1 / (2 * (k + 1))) * (ref[:, 0] + 1j * ref[:, 1])
        expected = np.mean(np.abs(h) ** 2 < 0.1)
    else:
        expected = 1 - math.exp(-0.1)
    assert np.mean(gains < -10) == pytest.approx(expected, abs=0.006)
