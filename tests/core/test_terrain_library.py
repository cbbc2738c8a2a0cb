"""The terrain library: `heimdall-studio terrain import` and `terrain list`, and the API
under them. Tiles are written here and go through the real reader."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.errors import TerrainError

CLI = [sys.executable, "-m", "heimdall_studio"]


@pytest.fixture
def library(tmp_path, monkeypatch):
    folder = tmp_path / "library"
    monkeypatch.setenv("HEIMDALL_STUDIO_TERRAIN_DIR", str(folder))
    return folder


def tile(folder, name, samples=1201, value=100):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    raw = np.full((samples, samples), value, dtype=">i2").tobytes()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name[:-4], raw)
    else:
        path.write_bytes(raw)
    return path


def run(*args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_import_checks_copies_and_lists_tiles(tmp_path, library):
    source = tmp_path / "downloads"
    tile(source, "N45E007.hgt")
    tile(source, "N44E008.hgt.zip")
    (source / "notes.txt").write_text("not a tile")
    imported = api.import_terrain([source])
    assert sorted(t.name for t in imported) == ["N44E008.hgt.zip", "N45E007.hgt"]
    listed = api.terrain_tiles()
    assert [(t.south, t.west, t.arcsec) for t in listed] == [(44, 8, 3), (45, 7, 3)]
    assert all(t.path.parent == library for t in listed)
    assert sorted(p.name for p in library.iterdir()) == ["N44E008.hgt.zip", "N45E007.hgt"]


def test_a_tile_replaces_the_one_of_its_corner(tmp_path, library):
    api.import_terrain([tile(tmp_path / "a", "N45E007.hgt")])
    api.import_terrain([tile(tmp_path / "b", "N45E007.hgt.zip", samples=3601)])
    [only] = api.terrain_tiles()
    assert only.name == "N45E007.hgt.zip" and only.arcsec == 1
    assert only.bounds == (45, 46, 7, 8)


def test_nothing_is_imported_when_one_tile_is_bad(tmp_path, library):
    good = tile(tmp_path, "N45E007.hgt")
    bad = tmp_path / "N45E008.hgt"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(TerrainError, match=r"N45E008\.hgt holds 1,000 bytes"):
        api.import_terrain([good, bad])
    assert not library.exists() or list(library.iterdir()) == []
    with pytest.raises(TerrainError, match="does not exist"):
        api.import_terrain([tmp_path / "missing.hgt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(TerrainError, match=r"holds no \.hgt"):
        api.import_terrain([tmp_path / "empty"])


def test_the_command_line_imports_and_lists(tmp_path, library):
    source = tmp_path / "downloads"
    tile(source, "N45E007.hgt")
    done = run("terrain", "import", str(source / "N45E007.hgt"))
    assert done.returncode == 0, done.stderr
    assert "imported N45E007.hgt: 45 to 46 N, 7 to 8 E, 3 arc-second" in done.stdout
    listed = run("terrain", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["south"], entry["north"], entry["west"], entry["east"], entry["arcsec"]) \
        == (45, 46, 7, 8, 3)
    text = run("terrain", "list").stdout
    assert text.startswith("N45E007.hgt") and "2.8 MiB" in text


def test_the_command_line_refuses_a_bad_tile_with_one_line_and_exit_2(tmp_path, library):
    bad = tmp_path / "N45E007.hgt"
    bad.write_bytes(b"\1" * 10)
    done = run("terrain", "import", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "heimdall-studio: error: N45E007.hgt holds 10 bytes: an SRTM tile holds 2,884,802 "
        "(3 arc-seconds) or 25,934,402 (1 arc-second); it is truncated or not a tile"]
    empty = run("terrain", "list")
    assert empty.returncode == 0 and "no tiles in" in empty.stdout


# -- GeoTIFF (the optional rasterio) ----------------------------------------------------


def geotiff(path, heights, north=45.6, west=7.4, step=1 / 1200, crs="EPSG:4326",
            nodata=None):
    import rasterio
    from rasterio.transform import Affine

    path.parent.mkdir(parents=True, exist_ok=True)
    heights = np.asarray(heights, dtype=np.int16)
    with rasterio.open(path, "w", driver="GTiff", height=heights.shape[0],
                       width=heights.shape[1], count=1, dtype="int16", crs=crs,
                       transform=Affine(step, 0, west, 0, -step, north), nodata=nodata) as out:
        out.write(heights, 1)
    return path


def test_a_geographic_geotiff_is_read_imported_and_listed(tmp_path, library):
    from heimdall_studio.core.terrain.geotiff import read_geotiff

    rows = cols = 240  # 0.2 degrees of 3 arc-seconds
    lat = 45.6 - (np.arange(rows)[:, None] + 0.5) / 1200
    lon = 7.4 + (np.arange(cols)[None, :] + 0.5) / 1200
    plane = np.rint(200 + 1000 * (lat - 45.4) + 500 * (lon - 7.4)).astype(np.int16)
    plane[10, 10] = -9999  # a void
    path = geotiff(tmp_path / "dem.tif", plane, nodata=-9999)
    grid = read_geotiff(path)
    # pixel centres: half a pixel inside the corner the transform names
    assert grid.first_lat == pytest.approx(45.6 - 0.5 / 1200)
    assert grid.first_lon == pytest.approx(7.4 + 0.5 / 1200)
    assert grid.elevation(45.5, 7.5) == pytest.approx(200 + 100 + 50, abs=1.0)
    assert abs(grid.heights[10, 10] - plane[10, 11]) < 2  # filled from its neighbours
    [info] = api.import_terrain([path])
    south, north, west, east = info.bounds
    assert (south, north, west, east) == pytest.approx(
        (45.4 + 0.5 / 1200, 45.6 - 0.5 / 1200, 7.4 + 0.5 / 1200, 7.6 - 0.5 / 1200))
    assert info.arcsec == 3 and (library / "dem.tif").is_file()
    listed = json.loads(run("terrain", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["dem.tif"]


def test_a_dataset_is_drawn_over_a_geotiff_where_it_reaches(tmp_path, workspace):
    lat = 45.6 - (np.arange(240)[:, None] + 0.5) / 1200
    folder = tmp_path / "dems"
    geotiff(folder / "hill.tif", np.full((240, 240), 1500) + 0 * lat)
    receivers = [{"name": f"r{i}", "lat": 45.45 + 0.1 * (i % 2), "lon": 7.45 + 0.1 * (i // 2),
                  "alt_m": 1500.0} for i in range(4)]
    last = api.create_dataset("dem", 300, workspace, seed=1, receivers=receivers,
                              margin_deg=0.02, propagation={
                                  "terrain": {"source": "tiles", "tiles_dir": str(folder)}})
    ground = api.load_dataset(last.path)["tx_ground_m"]
    assert np.allclose(ground, 1500.0)  # the box lies inside the GeoTIFF


@pytest.mark.parametrize("crs, message", [
    ("EPSG:32632", "projected reference"), (None, "no geographic reference")])
def test_a_geotiff_without_longitude_and_latitude_is_refused(tmp_path, library, crs,
                                                            message):
    path = geotiff(tmp_path / "utm.tif", np.full((50, 50), 100), north=5_000_000.0,
                   west=400_000.0, step=90.0, crs=crs)
    with pytest.raises(TerrainError, match=message):
        api.import_terrain([path])
    result = run("terrain", "import", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and not library.exists()
