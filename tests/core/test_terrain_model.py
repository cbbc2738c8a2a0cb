"""The terrain model (docs/propagation.md) against closed forms and independent
computations: the link loss on flat, ridged and hilly ground (synthetic SRTM tiles through
the real tile reader), the kernel's lookups against the model evaluated on the exact
profile, the shadowing field's statistics, and what a dataset drawn over terrain keeps."""

import json
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.model import make_config
from heimdall_studio.core.dataset.reader import read_header, read_terrain
from heimdall_studio.core.errors import ConfigError, DatasetFormatError, TerrainError
from heimdall_studio.core.sampling import kernel_v3, link_cache, physics
from heimdall_studio.core.sampling.diffraction import (
    LINE_OF_SIGHT_NU,
    knife_edge_loss_db,
    terrain_loss_db,
)
from heimdall_studio.core.sampling.generator import generate_block, prepare
from heimdall_studio.core.sampling.terrain_grids import profile_loss_db, profile_tables
from heimdall_studio.core.terrain.profile import terrain_profile
from heimdall_studio.core.terrain.source import resolve_terrain
from heimdall_studio.core.terrain.srtm import read_hgt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
K = 4 / 3
RADIUS_KM = 6371.0 * K  # P.452's earth radius, as the model uses it
C_M_S = 299_792_458.0


def flat_profile(d_km, points=401, height=0.0):
    dist = np.linspace(0.0, d_km, points)
    return dist, np.full(points, height)


def two_ray(d_km, f_mhz, h_tx, h_rx):
    return max(physics.free_space_loss_db(d_km, f_mhz),
               physics.plane_earth_loss_db(d_km, h_tx, h_rx))


# -- closed forms --------------------------------------------------------------------


@pytest.mark.parametrize("f_mhz", [145.0, 433.0])
@pytest.mark.parametrize("d_km", [0.5, 2.0, 5.0, 8.0])
def test_flat_ground_inside_the_horizon_is_the_flat_plane_model(d_km, f_mhz):
    # SPEC section 3's two-ray loss, max(free space, plane earth), with the same heights
    dist, ground = flat_profile(d_km)
    loss, nu = terrain_loss_db(dist, ground, 2.0, 10.0, f_mhz, K, 0.0, True)
    assert loss == pytest.approx(two_ray(d_km, f_mhz, 2.0, 10.0), abs=1e-9)
    # and the ground under low antennas fills their first Fresnel zone: not line of sight
    assert nu > LINE_OF_SIGHT_NU


def _p526_first_term_db(d_km, h1_m, h2_m, f_mhz):
    """ITU-R P.526-15 section 3.1.1, written out here from the Recommendation: the
    first-term diffraction loss over a smooth earth of radius RADIUS_KM, land (relative
    permittivity 22, conductivity 0.003 S/m), vertical polarisation; f in MHz."""
    eps, sigma = 22.0, 0.003
    k_h = 0.36 * (RADIUS_KM * f_mhz) ** (-1 / 3) * (
        (eps - 1) ** 2 + (18_000 * sigma / f_mhz) ** 2) ** (-1 / 4)
    k_v = k_h * math.sqrt(eps ** 2 + (18_000 * sigma / f_mhz) ** 2)
    beta = (1 + 1.6 * k_v ** 2 + 0.67 * k_v ** 4) / (1 + 4.5 * k_v ** 2 + 1.53 * k_v ** 4)
    x = 2.188 * beta * f_mhz ** (1 / 3) * RADIUS_KM ** (-2 / 3) * d_km
    f_x = (11 + 10 * math.log10(x) - 17.6 * x if x >= 1.6
           else -20 * math.log10(x) - 5.6488 * x ** 1.425)

    def g(h_m):
        y = 9.575e-3 * beta * f_mhz ** (2 / 3) * RADIUS_KM ** (-1 / 3) * h_m
        b = beta * y
        value = (17.6 * math.sqrt(b - 1.1) - 5 * math.log10(b - 1.1) - 8 if b > 2
                 else 20 * math.log10(b + 0.1 * b ** 3))
        return max(value, 2 + 20 * math.log10(k_v))

    return -f_x - g(h1_m) - g(h2_m)


@pytest.mark.parametrize("f_mhz", [145.0, 433.0])
@pytest.mark.parametrize("d_km", [40.0, 80.0, 150.0])
def test_flat_ground_beyond_the_horizon_is_the_spherical_earth_loss(d_km, f_mhz):
    dist, ground = flat_profile(d_km)
    loss, nu = terrain_loss_db(dist, ground, 2.0, 10.0, f_mhz, K, 0.0, True)
    horizon_km = math.sqrt(2 * RADIUS_KM) * (math.sqrt(0.002) + math.sqrt(0.010))
    assert d_km > horizon_km and nu > 0  # the bulge hides each antenna from the other
    spherical = physics.free_space_loss_db(d_km, f_mhz) + _p526_first_term_db(
        d_km, 2.0, 10.0, f_mhz)
    assert spherical > two_ray(d_km, f_mhz, 2.0, 10.0)
    assert loss == pytest.approx(spherical, abs=0.01)


def bullington_of(v, d_km):
    """P.452-16 equation 20 for a single edge: J(v) and the correction for a d-km path."""
    j = knife_edge_loss_db(v)
    return j + (1 - math.exp(-j / 6)) * (10 + 0.02 * d_km)


def test_a_knife_edge_in_the_middle_of_a_path_adds_its_textbook_loss():
    assert knife_edge_loss_db(0.0) == pytest.approx(6.03, abs=0.005)
    assert knife_edge_loss_db(-0.78) == 0.0 and knife_edge_loss_db(-0.7799) > 0
    # Masts that leave the first Fresnel zone clear over the smooth earth (so the smooth
    # path's Bullington loss is 0), and an edge mid-path.
    d, f_mhz, mast = 10.0, 145.0, 100.0
    dist, flat = flat_profile(d)
    reference, _ = terrain_loss_db(dist, flat, mast, mast, f_mhz, K, 0.0, True)
    assert reference == pytest.approx(two_ray(d, f_mhz, mast, mast), abs=1e-9)
    wavelength = C_M_S / (f_mhz * 1e6)
    bulge = 1000 * 5.0 * 5.0 / (2 * RADIUS_KM)
    for ridge in (60.0, 90.0, 160.0, 300.0):
        ground = flat.copy()
        ground[200] = ridge  # one point wide
        loss, nu = terrain_loss_db(dist, ground, mast, mast, f_mhz, K, 0.0, True)
        # the edge's height above the ray (the bulge lifts it), v = h sqrt(2 d / (l d1 d2))
        v = (ridge + bulge - mast) * math.sqrt(2 * d * 1000 / (wavelength * 5000 * 5000))
        assert nu == pytest.approx(v, rel=1e-6)
        if ridge < mast:
            # inside the first Fresnel zone, below the ray: the two-ray path plus the edge
            assert loss - reference == pytest.approx(bullington_of(v, d), abs=1e-6)
        else:
            # above the ray it is the path's obstruction: P.526's single knife edge over
            # free space (the smooth earth lowered under it reflects nothing in the way)
            assert loss == pytest.approx(physics.free_space_loss_db(d, f_mhz)
                                         + bullington_of(v, d), abs=1e-6)
        assert knife_edge_loss_db(v) > 0


def test_line_of_sight_is_sixty_percent_of_the_first_fresnel_zone_clear():
    d, f_mhz, mast = 20.0, 433.0, 100.0
    wavelength = C_M_S / (f_mhz * 1e6)
    r1 = math.sqrt(wavelength * 10_000 * 10_000 / (d * 1000))  # at mid-path, m
    bulge = 1000 * 10.0 * 10.0 / (2 * RADIUS_KM)
    dist, flat = flat_profile(d)
    for clear, expected in ((0.62, True), (0.58, False)):
        ground = flat.copy()
        ground[200] = mast - bulge - clear * r1  # leaves `clear` of the zone's radius
        _, nu = terrain_loss_db(dist, ground, mast, mast, f_mhz, K, 0.0, True)
        assert (nu <= LINE_OF_SIGHT_NU) is expected


def test_a_hill_below_the_fresnel_zone_costs_nothing_and_a_higher_one_more():
    dist = np.linspace(0, 30, 301)
    losses = []
    for top in (0.0, 50.0, 300.0, 500.0, 800.0):  # masts 300 m above the plain
        ground = 100.0 + top * np.exp(-(((dist - 15) / 3) ** 2))
        losses.append(terrain_loss_db(dist, ground, 300.0, 300.0, 145.0, K, 0.0, True)[0])
    assert losses[1] == pytest.approx(losses[0], abs=1e-6)  # well below the ray
    assert losses[0] < losses[2] < losses[3] < losses[4]
    assert losses[4] - losses[0] > 15


def test_the_fast_profile_loss_is_the_model():
    # what the link grids evaluate, on random and real profiles
    rng = np.random.default_rng(7)
    inv, inv_sqrt = profile_tables(700)
    grid = resolve_terrain(make_config("t", seed=1))[1]
    cases = []
    for _ in range(150):
        n = int(rng.integers(3, 600))
        heights = np.maximum(0.0, rng.normal(300, 400, n)).cumsum() % 1500
        cases.append((rng.uniform(0.05, 300.0), heights))
    for lat, lon in ((44.9, 8.6), (45.5, 7.4), (44.3, 8.1)):
        dist, ground = terrain_profile(grid, 44.395, 8.956, lat, lon)
        cases.append((dist[-1], ground))
    for d, ground in cases:
        n = len(ground)
        for f_mhz, two in ((145.0, True), (1296.0, False)):
            sea = float((ground <= 0).mean())
            want = terrain_loss_db(np.linspace(0, d, n), ground, 10.0, 2.0, f_mhz, K, sea, two)
            got = profile_loss_db(ground, n, d, inv, inv_sqrt, 10.0, 2.0, f_mhz, K, True, two)
            assert got == pytest.approx(want, abs=1e-6)


# -- synthetic tiles through the real reader -----------------------------------------


def _tile(path, heights):
    path.write_bytes(np.asarray(np.rint(heights), dtype=">i2").tobytes())
    return read_hgt(path)


def test_synthetic_tiles_give_the_closed_forms(tmp_path):
    samples = 1201  # 3 arc-seconds
    lat = 45 - np.arange(samples)[:, None] / (samples - 1) + 1
    lon = 8 + np.arange(samples)[None, :] / (samples - 1)
    plain = _tile(tmp_path / "N45E008.hgt", np.full((samples, samples), 100.0))
    # a ridge along the meridian 8.5 E, 3 samples wide (the profile steps over it)
    ridge = np.where(np.abs(lon - 8.5) < 1.6 / 1200, 250.0, 100.0) + 0 * lat
    (tmp_path / "ridge").mkdir()
    ridged = _tile(tmp_path / "ridge" / "N45E008.hgt", ridge)
    a, b = (45.5, 8.45), (45.5, 8.55)  # 7.8 km apart, the ridge mid-path
    mast = 60.0  # the smooth earth leaves the first Fresnel zone clear
    for grid, extra in ((plain, None), (ridged, 150.0)):
        dist, ground = terrain_profile(grid, *a, *b)
        loss, _ = terrain_loss_db(dist, ground, mast, mast, 145.0, K, 0.0, True)
        if extra is None:
            flat_loss = loss
            # the plain at 100 m is the flat plane model
            assert loss == pytest.approx(two_ray(dist[-1], 145.0, mast, mast), abs=1e-6)
            continue
        half = dist[-1] / 2
        wavelength = C_M_S / 145e6
        h = extra + 1000 * half * half / (2 * RADIUS_KM) - mast
        v = h * math.sqrt(2 * dist[-1] * 1000 / (wavelength * (half * 1000) ** 2))
        assert flat_loss == pytest.approx(physics.free_space_loss_db(dist[-1], 145.0))
        # above the ray: free space and the edge, as P.526's single knife edge
        assert loss - flat_loss == pytest.approx(bullington_of(v, dist[-1]), abs=0.3)


# -- the kernel: lookups against the model on the exact profile ----------------------


def _exact(grid, config, lat, lon, r):
    rx = config.receivers[r]
    dist, ground = terrain_profile(grid, rx.lat, rx.lon, lat, lon)
    sea = float((ground <= 0).mean()) if config.propagation.terrain.source != "flat" else 0.0
    return terrain_loss_db(dist, ground, rx.antenna_height_m,
                           config.propagation.tx_height_m, config.frequency_mhz,
                           config.propagation.terrain.k_factor, sea, True)


@pytest.mark.parametrize("source, median_db, p90_db", [("builtin", 0.6, 4.0),
                                                       ("flat", 0.05, 0.3)])
def test_the_stored_link_loss_is_the_model_at_the_transmitter(source, median_db, p90_db):
    config, grid = resolve_terrain(make_config(
        "truth", seed=3, min_snr_db=-20, propagation={"terrain": {"source": source}}))
    a = generate_block(config, 0, 120, prepare(config, terrain=grid)).arrays
    error, agree = [], []
    for i in range(120):
        for r in range(len(config.receivers)):
            loss, nu = _exact(grid, config, a["tx_lat"][i], a["tx_lon"][i], r)
            error.append(abs(a["path_loss_db"][i, r] - loss))
            agree.append((nu <= LINE_OF_SIGHT_NU) == a["line_of_sight"][i, r])
    assert np.median(error) < median_db and np.percentile(error, 90) < p90_db
    assert np.mean(agree) > 0.95
    # and the ground under the transmitter is the grid's
    assert np.allclose(a["tx_ground_m"], grid.elevation(a["tx_lat"], a["tx_lon"]), atol=0.01)


def test_shadowing_is_a_field_of_the_place_with_gudmundsons_correlation():
    # Tall masts over the plain and a near-constant Rician K: the links are line of sight
    # and fade by hundredths of a dB, so rx power minus the deterministic terms is the
    # shadowing at the transmitter's place.
    receivers = [{"name": f"m{i}", "lat": 45.30 + 0.1 * (i // 2), "lon": 9.0 + 0.1 * (i % 2),
                  "alt_m": 100.0, "antenna_height_m": 300.0, "calibration_db": 0.0}
                 for i in range(4)]
    config = make_config("field", seed=5, receivers=receivers, margin_deg=0.0,
                         inside_ratio=1.0, min_snr_db=-20, max_gdop=1e6, tx_power_dbm=60,
                         propagation={"clutter_min_db": 0, "clutter_max_db": 0,
                                      "rician_k_db": 40},
                         measurement={"tx_antennas": "whip"})
    a = generate_block(config, 0, 40_000).arrays
    los = a["line_of_sight"]
    assert los.mean() > 0.9 and a["signal_present"].all()
    shadow = a["rx_power_dbm"] - (config.tx_power_dbm - a["path_loss_db"])
    sigma = config.propagation.shadowing_sigma_db
    # its spread is the configured sigma at every place (bilinear weights restored)
    values = shadow[los]
    assert values.std() == pytest.approx(sigma, rel=0.05) and abs(values.mean()) < 0.3
    # pairs of transmitters: correlated as exp(-(|dx| + |dy|) / d) at the same receiver
    # (docs/propagation.md), independent across receivers
    km_lat = 111.2
    km_lon = km_lat * math.cos(math.radians(45.35))
    order = np.argsort(a["tx_lat"])
    lat, lon = a["tx_lat"][order], a["tx_lon"][order]
    s = shadow[order] / sigma
    first, second = [], []
    for gap in (1, 2, 3):
        first.append(np.arange(len(lat) - gap))
        second.append(np.arange(gap, len(lat)))
    i, j = np.concatenate(first), np.concatenate(second)
    l1 = (np.abs(lat[i] - lat[j]) * km_lat + np.abs(lon[i] - lon[j]) * km_lon) * 1000
    near = l1 < 300.0
    assert near.sum() > 200
    decorrelation = config.propagation.terrain.shadowing_decorrelation_m
    expected = np.exp(-l1[near] / decorrelation).mean()
    both = los[order][i][near][:, 0] & los[order][j][near][:, 0]
    measured = np.mean(s[i][near][both, 0] * s[j][near][both, 0])
    assert measured == pytest.approx(expected, abs=0.1)
    far = (l1 > 3000) & (l1 < 10_000)
    assert abs(np.mean(s[i][far, 0] * s[j][far, 0])) < 0.1
    # two receivers, two fields (the box holds some thousand independent field cells)
    assert abs(np.mean(s[:, 0] * s[:, 1])) < 0.15


def test_the_shadowing_field_depends_on_the_seed_alone():
    config = make_config("f", seed=9)
    field, where = kernel_v3.shadowing_fields(config)
    again, _ = kernel_v3.shadowing_fields(config.replace(name="other", min_snr_db=10.0))
    assert np.array_equal(field, again)
    other, _ = kernel_v3.shadowing_fields(config.replace(seed=10))
    assert not np.array_equal(field, other)
    rho = where[4]
    assert rho == pytest.approx(math.exp(-1 / kernel_v3.SHADOWING_CELLS_PER_DISTANCE))
    x = field[:, :, 0].astype(np.float64)
    assert x.std() == pytest.approx(1.0, abs=0.05)
    for lag in (1, 2, 4):
        along_rows = np.mean(x[:, lag:] * x[:, :-lag])
        along_cols = np.mean(x[lag:, :] * x[:-lag, :])
        assert along_rows == pytest.approx(rho ** lag, abs=0.05)
        assert along_cols == pytest.approx(rho ** lag, abs=0.05)


def test_terrain_none_draws_version_2s_samples_bit_for_bit():
    config = make_config("flat", seed=12, chunk_size=256,
                         propagation={"terrain": {"source": "none"}})
    v2 = generate_block(config, 100, 900, version=2).arrays
    v3 = generate_block(config, 100, 900, version=3).arrays
    for name, values in v2.items():
        assert np.array_equal(values, v3[name], equal_nan=True), name
    d = v3["distance_km"]
    assert np.array_equal(v3["line_of_sight"], d < config.propagation.los_distance_km)
    assert (v3["tx_ground_m"] == 0).all()
    alt = np.array([r.alt_m for r in config.receivers])
    want = [[two_ray(float(d[i, r]), 145.0, 2.0, alt[r]) for r in range(7)] for i in range(5)]
    assert np.allclose(v3["path_loss_db"][:5], want, atol=1e-4)


# -- datasets drawn over terrain -----------------------------------------------------


def _tiles(folder, lat0=44, lat1=46, lon0=6, lon1=9):
    """3 arc-second tiles of a tilted plane over the default network's box."""
    folder.mkdir(exist_ok=True)
    samples = 1201
    for la in range(lat0, lat1 + 1):
        for lo in range(lon0, lon1 + 1):
            lat = la + 1 - np.arange(samples)[:, None] / (samples - 1)
            lon = lo + np.arange(samples)[None, :] / (samples - 1)
            heights = 50 + 300 * (lat - 44) + 100 * np.sin(3 * lon)
            (folder / f"N{la:02d}E{lo:03d}.hgt").write_bytes(
                np.rint(heights).astype(">i2").tobytes())
    return folder


def test_a_dataset_over_tiles_expands_bit_for_bit_after_they_are_deleted(workspace, tmp_path):
    tiles = _tiles(tmp_path / "tiles", 44, 44, 7, 7)  # not all of the box: GLOBE fills
    receivers = [{"name": f"s{i}", "lat": 44.6 + 0.3 * (i % 2), "lon": 7.4 + 0.5 * (i // 2),
                  "alt_m": 300.0} for i in range(4)]
    params = {"seed": 4, "chunk_size": 256, "receivers": receivers, "margin_deg": 0.2,
              "propagation": {"terrain": {"source": "tiles", "tiles_dir": str(tiles)}}}
    whole = api.create_dataset(api.make_config("whole", **params), 1500, workspace).path
    part = api.create_dataset(api.make_config("part", **params), 700, workspace).path
    terrain = read_header(part).config.propagation.terrain
    assert terrain.step_deg == pytest.approx(1 / 1200) and terrain.bounds[0] < 44.4
    with h5py.File(part) as f:
        assert "the rest from GLOBE" in f["terrain"].attrs["source"]
        assert f["terrain/elevation"].shape[0] > 800
    shutil.rmtree(tiles)
    api.expand_dataset("part", 800, workspace)
    a, b = api.load_dataset(whole).arrays, api.load_dataset(part).arrays
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    # the tiles' ground where they reach, GLOBE's beyond
    lat, lon, ground = b["tx_lat"], b["tx_lon"], b["tx_ground_m"]
    tiled = (lat < 44.99) & (lon < 7.99)
    assert 0.3 < tiled.mean() < 0.95
    plane = 50 + 300 * (lat - 44) + 100 * np.sin(3 * lon)
    assert np.abs(ground - plane)[tiled].max() < 1.0
    assert np.abs(ground - plane)[~tiled].mean() > 50


def test_bad_terrain_is_refused_before_anything_is_written(workspace, tmp_path):
    far = _tiles(tmp_path / "far", 30, 30, 20, 20)
    with pytest.raises(TerrainError, match="do not reach the training box"):
        api.create_dataset("far", 10, workspace, propagation={
            "terrain": {"source": "tiles", "tiles_dir": str(far)}})
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "N45E007.hgt").write_bytes(b"\0" * 1000)
    with pytest.raises(TerrainError, match="truncated or not a tile"):
        api.create_dataset("broken", 10, workspace, propagation={
            "terrain": {"source": "tiles", "tiles_dir": str(broken)}})
    with pytest.raises(TerrainError, match="gone does not exist"):
        api.create_dataset("gone", 10, workspace, propagation={
            "terrain": {"source": "tiles", "tiles_dir": str(tmp_path / "gone")}})
    with pytest.raises(TerrainError, match="not inside it"):
        api.create_dataset("wide", 10, workspace, margin_deg=3.0)
    with pytest.raises(ConfigError, match="k_factor"):
        api.make_config("k", propagation={"terrain": {"k_factor": 0.2}})
    assert not workspace.exists() or list(workspace.iterdir()) == []


def test_a_file_whose_elevation_grid_was_altered_is_refused(workspace):
    path = api.create_dataset("altered", 100, workspace, seed=1).path
    with h5py.File(path, "r+") as f:
        f["terrain/elevation"][10, 10] += 5.0
    before = path.read_bytes()
    with pytest.raises(DatasetFormatError, match="not the elevation grid its config names"):
        api.expand_dataset("altered", 10, workspace)
    assert path.read_bytes() == before
    with pytest.raises(DatasetFormatError), h5py.File(path) as f:
        read_terrain(f, read_header(path))


def test_link_grids_are_cached_by_content_and_a_damaged_entry_is_made_again(
        tmp_path, monkeypatch):
    monkeypatch.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(tmp_path / "own-cache"))
    config = make_config("cache", seed=1, margin_deg=0.1)
    first = prepare(config).prepared.link
    [entry] = link_cache.folder().glob("*.npz")
    again = prepare(config.replace(seed=2, min_snr_db=8.0)).prepared.link  # same grids
    assert np.array_equal(first, again) and len(list(link_cache.folder().glob("*"))) == 1
    entry.write_bytes(b"not an npz")
    assert np.array_equal(prepare(config).prepared.link, first)
    other = prepare(config.replace(frequency_mhz=433.0)).prepared.link
    assert not np.array_equal(other, first) and len(list(link_cache.folder().glob("*"))) == 2


def test_the_link_loss_agrees_with_p452_on_real_profiles_of_the_network():
    # pycraf's independent P.452-16 (scripts/terrain_validation.py wrote the reference):
    # free space plus delta-Bullington diffraction on 18 obstructed links of the default
    # network, at 145 and 433 MHz
    reference = json.loads((FIXTURES / "terrain_reference.json").read_text())
    assert len(reference["cases"]) == 36
    for case in reference["cases"]:
        loss, nu = terrain_loss_db(np.array(case["dist_km"]), np.array(case["height_m"]),
                                   case["h_rx_agl_m"], case["h_tx_agl_m"], case["f_mhz"],
                                   reference["k_factor"], case["sea_fraction"], True)
        assert nu > LINE_OF_SIGHT_NU, case["name"]  # obstructed: diffraction, as in P.452
        assert loss == pytest.approx(case["p452_l_bfsg_plus_l_d_db"], abs=0.5), case["name"]
