"""The map's samples layer (gui/sample_layer.py) and the growing samples of a run's map
(map_data.MapSamples.extended): what an update draws is what drawing everything at once
draws, and a dot lands on its sample's pixel."""

from __future__ import annotations

import itertools

import numpy as np
import pyqtgraph as pg
import pytest

from heimdall_studio.gui.map_data import MapSamples
from heimdall_studio.gui.sample_layer import COLOR_STEPS, Coloring, SampleLayer

VIEW = ((7.0, 9.0), (44.0, 46.0))


def _samples(n: int, seed: int = 1, start: int = 0) -> MapSamples:
    rng = np.random.default_rng(seed)
    gdop = rng.uniform(1, 12, n).astype(np.float32)
    gdop[rng.random(n) < 0.05] = np.nan  # samples without a value
    lat, lon = rng.uniform(43.5, 46.5, n), rng.uniform(6.5, 9.5, n)  # around VIEW
    return MapSamples(start, lat, lon, rng.random(n) < 0.7, gdop,
                      rng.integers(0, 6, n).astype(np.int8))


def _prefix(samples: MapSamples, n: int) -> MapSamples:
    return MapSamples(samples.start, samples.lat[:n], samples.lon[:n], samples.inside[:n],
                      samples.gdop[:n], samples.detected[:n])


def test_extended_samples_are_the_concatenation_and_leave_the_earlier_ones_as_they_were():
    whole = _samples(30_000)
    cuts = [0, 700, 701, 5000, 12_345, 30_000]
    grown = _prefix(whole, 0)
    earlier = []
    for a, b in itertools.pairwise(cuts):
        tail = MapSamples(a, whole.lat[a:b], whole.lon[a:b], whole.inside[a:b],
                          whole.gdop[a:b], whole.detected[a:b])
        earlier.append((grown, len(grown)))
        grown = grown.extended(tail)
    for name in ("lat", "lon", "inside", "gdop", "detected"):
        np.testing.assert_array_equal(getattr(grown, name), getattr(whole, name))
    for samples, n in earlier:  # views of the grown buffers, unchanged by later growth
        assert len(samples) == n
        np.testing.assert_array_equal(samples.lat, whole.lat[:n])
    # Extending one that is not the newest copies, and changes neither
    branch = earlier[2][0].extended(MapSamples(701, whole.lat[:3], whole.lon[:3],
                                               whole.inside[:3], whole.gdop[:3],
                                               whole.detected[:3]))
    np.testing.assert_array_equal(branch.lat[701:], whole.lat[:3])
    np.testing.assert_array_equal(grown.lat, whole.lat)


@pytest.mark.parametrize("by", ["inside", "gdop"])
@pytest.mark.parametrize("max_points", [100_000, 1000])  # dots, then density
def test_adding_samples_draws_what_drawing_them_all_at_once_draws(qtbot, by, max_points):
    whole = _samples(20_000)
    coloring = Coloring() if by == "inside" else Coloring(pg.colormap.get("plasma"), (1, 12))

    def values(s: MapSamples):
        return None if by == "inside" else s.gdop

    once = SampleLayer()
    once.max_points = max_points
    once.set(whole, values(whole), coloring)
    once.draw(VIEW, 600, 450)
    step = SampleLayer()
    step.max_points = max_points
    first = _prefix(whole, 3000)
    step.set(first, values(first), coloring)
    step.draw(VIEW, 600, 450)
    grown = first
    for a, b in ((3000, 9000), (9000, 20_000)):
        grown = grown.extended(MapSamples(a, whole.lat[a:b], whole.lon[a:b],
                                          whole.inside[a:b], whole.gdop[a:b],
                                          whole.detected[a:b]))
        step.extend(grown, values(grown))
        step.draw(VIEW, 600, 450)
    (x0, x1), (y0, y1) = VIEW
    in_view = np.flatnonzero((whole.lon >= x0) & (whole.lon <= x1)
                             & (whole.lat >= y0) & (whole.lat <= y1))
    assert 0 < len(in_view) < len(whole)  # some in view, some not
    dots = len(in_view) <= max_points
    assert once.points.isVisible() == step.points.isVisible() == dots
    assert once.density.isVisible() == step.density.isVisible() == (not dots)
    np.testing.assert_array_equal(step.drawn_points, once.drawn_points)
    np.testing.assert_array_equal(step.density_counts, once.density_counts)
    np.testing.assert_array_equal(step.point_colors(), once.point_colors())
    if dots:
        np.testing.assert_array_equal(step.drawn_points, in_view)
        np.testing.assert_array_equal(step.points.image, once.points.image)
    else:
        assert step.density_counts.sum() == len(in_view)
        np.testing.assert_allclose(step.density.image, once.density.image, atol=1)
    # By a field, each value's colour is its step of the map; no value has its own.
    colors = once.point_colors()
    if by == "gdop" and dots:
        table = coloring.table()
        gdop = whole.gdop[in_view]
        assert (colors[np.isnan(gdop)] == table[COLOR_STEPS]).all()
        assert (colors[gdop <= 1] == table[0]).all()
        assert (colors[gdop >= 12] == table[COLOR_STEPS - 1]).all()


def test_a_dot_lands_on_its_samples_pixel_in_its_colour(qtbot):
    lon, lat = np.array([7.5, 8.75]), np.array([44.25, 45.5])
    samples = MapSamples(0, lat, lon, np.array([True, False]), np.ones(2, np.float32),
                         np.zeros(2, np.int8))
    layer = SampleLayer()
    layer.set(samples, None, Coloring())
    layer.draw(VIEW, 400, 200)  # 200 pixels a degree across, 100 up
    image = layer.points.image
    assert image.shape == (200, 400, 4)
    table = Coloring().table()
    for x, y, inside in zip(lon, lat, (True, False), strict=True):
        col, row = int((x - 7.0) * 200), int((y - 44.0) * 100)  # row 0 south
        assert tuple(image[row, col]) == tuple(table[int(inside)])
        assert image[row, col + 2, 3] > 0 and image[row, col + 4, 3] == 0  # a small dot
    assert (image[..., 3] > 0).sum() == 2 * 13  # two dots of 13 pixels, nothing else


def test_on_a_high_density_screen_dots_keep_their_size_and_the_density_its_cells(qtbot):
    samples = _samples(5000)
    layer = SampleLayer()
    layer.set(samples, None, Coloring())
    layer.draw(VIEW, 300, 240, ratio=2.0)
    assert layer.points.image.shape == (480, 600, 4)  # device pixels
    one = MapSamples(0, np.array([45.0]), np.array([8.0]), np.array([True]),
                     np.ones(1, np.float32), np.zeros(1, np.int8))
    layer.set(one, None, Coloring())
    layer.draw(VIEW, 300, 240, ratio=2.0)
    assert (layer.points.image[..., 3] > 0).sum() == 49  # radius 4 device pixels
    layer.set(samples, None, Coloring())
    layer.max_points = 10
    layer.draw(VIEW, 300, 240, ratio=2.0)
    assert layer.density_counts.shape == (80, 100)  # cells of 3 screen pixels
