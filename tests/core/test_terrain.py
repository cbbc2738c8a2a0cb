"""Elevation data: the built-in GLOBE extract and SRTM tiles, read through the real readers
(README, Elevation data)."""

import io
import zipfile

import numpy as np
import pytest

from heimdall_studio.core.config.geo import training_box
from heimdall_studio.core.config.model import make_config
from heimdall_studio.core.errors import TerrainError
from heimdall_studio.core.terrain.grid import ElevationGrid, builtin_grid
from heimdall_studio.core.terrain.srtm import VOID, fill_voids, read_hgt, tile_corner


def write_tile(path, heights):
    path.write_bytes(np.asarray(heights, dtype=">i2").tobytes())
    return path


def plane(samples, lat0, lon0, a=300.0, b=-120.0, c=50.0):
    """Heights c + a (lat - lat0) + b (lon - lon0) on a tile's lattice: bilinear
    interpolation reproduces a plane exactly, so any point can be checked."""
    lat = lat0 + 1 - np.arange(samples)[:, None] / (samples - 1)
    lon = lon0 + np.arange(samples)[None, :] / (samples - 1)
    return np.rint(c + a * (lat - lat0) + b * (lon - lon0)), (a, b, c)


def test_the_builtin_grid_covers_the_default_training_box_with_room():
    grid = builtin_grid()
    south, north, west, east = training_box(make_config("t", seed=1))
    assert grid.covers(south - 0.5, north + 0.5, west - 0.5, east + 0.5)
    assert grid.step_deg == pytest.approx(1 / 120)
    # cell-registered: the first centre sits 15 arc-seconds inside the extract's corner
    assert (grid.first_lat * 3600) % 30 == pytest.approx(15)
    assert (grid.first_lon * 3600) % 30 == pytest.approx(15)
    assert "GLOBE" in grid.source


def test_the_builtin_grid_knows_the_places_of_the_default_network():
    grid = builtin_grid()
    # the Ligurian Sea south of Genova, the Po plain at Milano, the Monte Rosa massif
    assert grid.elevation(44.2, 8.9) < 5
    assert 80 < grid.elevation(45.46, 9.19) < 180
    lat, lon = np.meshgrid(np.linspace(45.85, 45.98, 30), np.linspace(7.75, 7.95, 30))
    assert grid.elevation(lat, lon).max() > 4000  # 1 km cell means: the peak is 4,634 m
    # the Apennine ridge behind Genova stands well above the coast and the plain beyond
    lat = np.linspace(44.40, 44.70, 61)
    ridge = grid.elevation(lat, np.full_like(lat, 8.9))
    assert ridge.max() > 600 > 100 > ridge[0]
    assert 44.5 < lat[ridge.argmax()] < 44.65
    # the default network's plain and coastal sites agree with GLOBE's 1 km cell means;
    # the two Alpine foothill sites are reported as they are: their cells' means lie
    # 500-600 m above the stated altitudes (the cells reach into the mountains)
    near = {r.name: abs(float(grid.elevation(r.lat, r.lon)) - r.alt_m)
            for r in make_config("t", seed=1).receivers}
    assert sorted(name for name, d in near.items() if d > 100) == ["Aquila di Giaveno",
                                                                   "Coazze"]
    assert max(near["Aquila di Giaveno"], near["Coazze"]) < 700

def test_bilinear_heights_reproduce_a_plane_and_refuse_points_outside():
    heights, (a, b, c) = plane(11, 45, 7)
    grid = ElevationGrid(heights, 46.0, 7.0, 0.1)
    lat = np.array([45.0, 45.37, 45.99, 46.0])
    lon = np.array([7.0, 7.55, 7.01, 8.0])
    expected = c + a * (lat - 45) + b * (lon - 7)
    assert np.allclose(grid.elevation(lat, lon), np.rint(expected), atol=1.0)
    assert grid.bounds == pytest.approx((45.0, 46.0, 7.0, 8.0))
    with pytest.raises(TerrainError, match="outside the elevation data"):
        grid.elevation(46.01, 7.5)
    with pytest.raises(TerrainError, match="outside"):
        grid.elevation(45.5, 6.99)


@pytest.mark.parametrize("samples, arcsec", [(1201, 3), (3601, 1)])
def test_an_srtm_tile_is_read_from_its_size_and_name(tmp_path, samples, arcsec):
    heights, (a, b, c) = plane(samples, 45, 7)
    grid = read_hgt(write_tile(tmp_path / "N45E007.hgt", heights))
    assert grid.step_deg == pytest.approx(arcsec / 3600)
    assert grid.bounds == pytest.approx((45.0, 46.0, 7.0, 8.0))  # edges included
    assert grid.heights[0, 0] == heights[0, 0]  # big-endian, north row first
    assert grid.elevation(45.25, 7.75) == pytest.approx(c + a * 0.25 + b * 0.75, abs=1.0)


def test_southern_and_western_tiles_and_zipped_tiles(tmp_path):
    heights, _ = plane(1201, -34, -71)
    raw = np.asarray(heights, dtype=">i2").tobytes()
    archive = tmp_path / "S34W071.hgt.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("S34W071.hgt", raw)
    grid = read_hgt(archive)
    assert grid.bounds == pytest.approx((-34.0, -33.0, -71.0, -70.0))
    assert np.array_equal(grid.heights, heights.astype(np.float32))
    assert tile_corner("n45e007.hgt") == (45, 7)


def test_voids_are_filled_from_their_neighbours():
    heights = np.full((6, 6), 100, dtype=np.int16)
    heights[:, 3:] = 200
    heights[2:4, 2:4] = VOID  # a hole across the step
    filled = fill_voids(heights)
    assert (filled != VOID).all() and filled.dtype == np.float32
    assert filled[2:4, 2:4].min() >= 100 and filled[2:4, 2:4].max() <= 200
    assert np.array_equal(filled[heights != VOID], heights[heights != VOID])
    with pytest.raises(TerrainError, match="every sample is void"):
        fill_voids(np.full((3, 3), VOID, dtype=np.int16))


def test_a_tile_of_voids_in_a_corner_is_filled_inwards(tmp_path):
    heights = np.full((1201, 1201), 250, dtype=np.int16)
    heights[:40, :40] = VOID
    grid = read_hgt(write_tile(tmp_path / "N44E008.hgt", heights))
    assert np.allclose(grid.heights, 250)


def test_what_is_not_a_tile_is_refused_with_the_reason(tmp_path):
    write_tile(tmp_path / "N45E007.hgt", np.zeros((100, 100)))
    with pytest.raises(TerrainError, match="truncated or not a tile"):
        read_hgt(tmp_path / "N45E007.hgt")
    write_tile(tmp_path / "alps.hgt", np.zeros((1201, 1201)))
    with pytest.raises(TerrainError, match="not named as an SRTM tile"):
        read_hgt(tmp_path / "alps.hgt")
    (tmp_path / "N45E008.hgt.zip").write_bytes(b"not a zip")
    with pytest.raises(TerrainError, match="not a readable zip"):
        read_hgt(tmp_path / "N45E008.hgt.zip")
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "no tile here")
    (tmp_path / "N45E009.hgt.zip").write_bytes(empty.getvalue())
    with pytest.raises(TerrainError, match=r"holds 0 \.hgt files"):
        read_hgt(tmp_path / "N45E009.hgt.zip")
    with pytest.raises(TerrainError, match="cannot be read"):
        read_hgt(tmp_path / "N46E007.hgt")


def test_a_grid_is_identified_by_its_heights_and_lattice():
    heights, _ = plane(11, 45, 7)
    one = ElevationGrid(heights, 46.0, 7.0, 0.1)
    assert one.sha256 == ElevationGrid(heights.copy(), 46.0, 7.0, 0.1).sha256
    assert one.sha256 != ElevationGrid(heights, 46.0, 7.1, 0.1).sha256
    changed = heights.copy()
    changed[5, 5] += 1
    assert one.sha256 != ElevationGrid(changed, 46.0, 7.0, 0.1).sha256
    assert not one.heights.flags.writeable


def test_a_profile_follows_the_great_circle_at_the_grids_spacing():
    from heimdall_studio.core.config.geo import haversine_km
    from heimdall_studio.core.terrain.profile import great_circle_points, terrain_profile

    heights, (a, b, c) = plane(121, 45, 7)
    grid = ElevationGrid(heights, 46.0, 7.0, 1 / 120)
    dist, ground = terrain_profile(grid, 45.1, 7.1, 45.9, 7.8)
    assert dist[0] == 0 and dist[-1] == pytest.approx(haversine_km(45.1, 7.1, 45.9, 7.8))
    assert np.diff(dist).max() <= grid.step_deg * 111.2  # no cell skipped
    lat, lon, _ = great_circle_points(45.1, 7.1, 45.9, 7.8, len(dist))
    assert ground == pytest.approx(c + a * (lat - 45) + b * (lon - 7), abs=1.0)
    # the midpoint of a long east-west path bows towards the pole, as a great circle does
    lat, _, _ = great_circle_points(45.0, 0.0, 45.0, 40.0, 3)
    assert lat[1] > 45.0 + 1.5
    lat, lon, d = great_circle_points(45.0, 7.0, 45.0, 7.0, 5)
    assert d == 0 and (lat == 45.0).all() and (lon == 7.0).all()


def test_the_profile_from_genova_to_the_plain_crosses_the_apennines():
    from heimdall_studio.core.terrain.profile import terrain_profile

    dist, ground = terrain_profile(builtin_grid(), 44.395, 8.956, 45.0, 8.9)
    assert ground[0] < 100 and ground.max() > 600
    assert 5 < dist[int(np.argmax(ground))] < 35  # the ridge is near the coast


def test_the_relief_of_a_large_grid_covers_its_samples_pixel_for_pixel():
    from heimdall_studio.core.terrain.relief import relief_area, shaded_relief

    grid = ElevationGrid(np.zeros((2000, 1500)), 46.0, 7.0, 1 / 1200)
    image = shaded_relief(grid, max_side=900)  # every third sample
    south, north, west, east = relief_area(grid, max_side=900)
    assert image.shape[:2] == (667, 500)
    pixel = 3 / 1200
    assert north == pytest.approx(46.0 + pixel / 2) and west == pytest.approx(7.0 - pixel / 2)
    assert (north - south) / image.shape[0] == pytest.approx(pixel)
    assert (east - west) / image.shape[1] == pytest.approx(pixel)
    # the last kept samples (row 1998, column 1497) sit in the middle of the last pixels
    assert south == pytest.approx(46.0 - (1998 + 1.5) / 1200)
    assert east == pytest.approx(7.0 + (1497 + 1.5) / 1200)
