"""A map's samples, drawn for the view as it is: a dot for each sample in view while at
most `max_points` lie in it, else a density image.

Both are images the size of the view, computed with numpy: a dot is stamped at each
sample's pixel, in its colour (a step of the field's colour map, or inside/outside), and
the density image sums the samples in each cell of DENSITY_PIXEL pixels, in alpha, tinted
by the field's mean there. A hundred thousand points cost a few milliseconds this way,
where a scatter item with a brush per point takes a third of a second.

A run's map grows every second: `extend` adds samples that continue the ones shown, and
while the view and the colouring stay, only the new samples are coloured, tested against
the view and binned into the density (the samples in view are kept as indices). So an
update costs what the new samples cost, not the millions already shown.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from .map_data import GrowingArray, MapSamples
from .plots import INSIDE_COLOR, OUTSIDE_COLOR

MAX_POINTS = 50_000  # individual points while at most this many lie in view
DENSITY_PIXEL = 3  # screen pixels a side of a density image's cell
POINT_RADIUS = 2.0  # pixels from a dot's centre to its edge
COLOR_STEPS = 64  # colours a colour map is cut into for points
NO_VALUE_COLOR = (150, 150, 150)  # a sample without a value for the field (no SNR)
POINT_ALPHA = {"field": 200, "inside": 170, "no value": 120}
# Levels are taken from at most this many samples, and again once the samples have grown
# this many times over since they were taken.
LEVEL_SAMPLES = 200_000
LEVEL_GROWTH = 2.0

View = tuple[tuple[float, float], tuple[float, float]]  # (x0, x1), (y0, y1)


@dataclass(frozen=True)
class Coloring:
    """How samples are coloured: by inside/outside (`values` None), or by a field's
    values through a colour map between `levels`."""

    colors: pg.ColorMap | None = None
    levels: tuple[float, float] = (0.0, 1.0)

    def table(self) -> np.ndarray:
        """RGBA per colour index: the map's steps then "no value", or outside, inside."""
        if self.colors is None:
            return np.array([(*OUTSIDE_COLOR, POINT_ALPHA["inside"]),
                             (*INSIDE_COLOR, POINT_ALPHA["inside"])], np.uint8)
        steps = self.colors.map(np.linspace(0, 1, COLOR_STEPS), mode="byte")[:, :3]
        table = np.empty((COLOR_STEPS + 1, 4), np.uint8)
        table[:COLOR_STEPS, :3] = steps
        table[:COLOR_STEPS, 3] = POINT_ALPHA["field"]
        table[COLOR_STEPS] = (*NO_VALUE_COLOR, POINT_ALPHA["no value"])
        return table

    def index(self, values: np.ndarray | None, inside: np.ndarray) -> np.ndarray:
        """Each sample's colour index (values None: by inside)."""
        if values is None or self.colors is None:
            return inside.astype(np.uint8)
        low, high = self.levels
        with np.errstate(invalid="ignore"):
            scaled = np.clip((values - low) / (high - low), 0, 1)
        steps = np.round(np.nan_to_num(scaled) * (COLOR_STEPS - 1)).astype(np.uint8)
        steps[~np.isfinite(values)] = COLOR_STEPS
        return steps


def percentile_levels(values: np.ndarray) -> tuple[float, float] | None:
    """The 1st and 99th percentiles of the finite values (of at most LEVEL_SAMPLES of
    them, evenly spread), or None without any."""
    spread = values[::max(1, len(values) // LEVEL_SAMPLES)]
    finite = spread[np.isfinite(spread)]
    if not len(finite):
        return None
    low, high = (float(v) for v in np.percentile(finite, (1, 99)))
    return low, high


@functools.lru_cache(maxsize=4)
def _dot_offsets(radius: float) -> np.ndarray:
    """(row, column) offsets of a dot's pixels, its centre last (so it is never covered
    by a neighbour's edge)."""
    reach = math.floor(radius)
    offsets = [(r, c) for r in range(-reach, reach + 1) for c in range(-reach, reach + 1)
               if r * r + c * c <= radius * radius and (r, c) != (0, 0)]
    return np.array([*offsets, (0, 0)], np.int64)


class _Binned:
    """The samples of one view, one colouring, one image size: the indices of those in
    view and their density cells' sums, kept up to date as samples are added."""

    def __init__(self, key: tuple, cells: int):
        self.key = key
        self.done = 0  # samples looked at
        self.in_view = GrowingArray(np.zeros(0, np.int64))
        self.counts = np.zeros(cells, np.int64)
        self.sums = np.zeros(cells)  # of the field's values, or of inside
        self.valued = np.zeros(cells, np.int64)  # samples with a value


class SampleLayer:
    """The two images a map draws its samples with, and what they are drawn from."""

    def __init__(self) -> None:
        self.points = pg.ImageItem(axisOrder="row-major")
        self.density = pg.ImageItem(axisOrder="row-major")
        self.max_points = MAX_POINTS
        self.samples: MapSamples | None = None
        self.coloring = Coloring()
        self.values: np.ndarray | None = None  # per sample, for a field
        self._color_index = GrowingArray(np.zeros(0, np.uint8))  # into coloring.table()
        self._table = self.coloring.table()
        self._binned: _Binned | None = None
        self._version = 0  # of the samples and colouring set: a new one bins anew
        self.drawn_points = np.zeros(0, np.int64)  # the samples drawn as dots
        self.density_counts = np.zeros((0, 0), np.int64)

    # -- what is drawn -----------------------------------------------------------------

    def set(self, samples: MapSamples | None, values: np.ndarray | None,
            coloring: Coloring) -> None:
        """All the samples, their field's values (None: by inside) and colouring."""
        self.samples, self.values, self.coloring = samples, values, coloring
        self._table = coloring.table()
        self._color_index = GrowingArray(np.zeros(0, np.uint8) if samples is None
                                         else coloring.index(values, samples.inside))
        self._binned = None
        self._version += 1

    def extend(self, samples: MapSamples, values: np.ndarray | None) -> None:
        """`samples` continue the ones shown (same start, these first): colour only the
        new ones, with the colouring as it is (the view decides when its levels are
        taken again, `MapView.extend_samples`)."""
        assert self.samples is not None and samples.start == self.samples.start
        have = self._color_index.size
        self._color_index.extend(self.coloring.index(
            None if values is None else values[have:], samples.inside[have:]))
        self.samples, self.values = samples, values

    @property
    def color_index(self) -> np.ndarray:
        """Each sample's colour, an index into the colouring's table."""
        return self._color_index.values

    @property
    def _by_field(self) -> bool:
        return self.values is not None and self.coloring.colors is not None

    # -- drawing -----------------------------------------------------------------------

    def draw(self, view: View, width_px: float, height_px: float, ratio: float = 1.0
             ) -> None:
        """Draw the samples for `view`, an area `width_px` x `height_px` pixels of a
        screen with `ratio` device pixels to one (the dots are drawn at its resolution,
        their size and the density's cells in pixels)."""
        samples = self.samples
        if samples is None or not len(samples):
            self._show(None, None)
            self.drawn_points = np.zeros(0, np.int64)
            self.density_counts = np.zeros((0, 0), np.int64)
            return
        cols = max(1, int(width_px // DENSITY_PIXEL))
        rows = max(1, int(height_px // DENSITY_PIXEL))
        binned = self._bin(view, cols, rows)
        if binned.in_view.size <= self.max_points:
            self.drawn_points = binned.in_view.values
            self.density_counts = np.zeros((0, 0), np.int64)
            image = self._dots(self.drawn_points, view, max(1, int(width_px * ratio)),
                               max(1, int(height_px * ratio)), ratio)
            self._show(self.points, image, view)
        else:
            self.drawn_points = np.zeros(0, np.int64)
            self.density_counts = binned.counts.reshape(rows, cols)
            self._show(self.density, self._density_image(binned, rows, cols), view)

    def _bin(self, view: View, cols: int, rows: int) -> _Binned:
        """The binned samples of this view, brought up to date with the samples added."""
        samples = self.samples
        assert samples is not None
        key = (view, cols, rows, self._version)
        binned = self._binned
        if binned is None or binned.key != key or binned.done > len(samples):
            binned = self._binned = _Binned(key, cols * rows)
        start, stop = binned.done, len(samples)
        if start == stop:
            return binned
        (x0, x1), (y0, y1) = view
        lon, lat = samples.lon[start:stop], samples.lat[start:stop]
        inside_view = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        chosen = np.flatnonzero(inside_view)
        binned.in_view.extend(chosen + start)
        col = np.minimum(((lon[chosen] - x0) / (x1 - x0) * cols).astype(np.int64), cols - 1)
        row = np.minimum(((lat[chosen] - y0) / (y1 - y0) * rows).astype(np.int64), rows - 1)
        cell = row * cols + col  # row 0 south
        cells = cols * rows
        binned.counts += np.bincount(cell, minlength=cells)
        if not self._by_field:
            binned.sums += np.bincount(cell, weights=samples.inside[start:stop][chosen],
                                       minlength=cells)
        else:
            values = self.values[start:stop][chosen]
            finite = np.isfinite(values)
            binned.sums += np.bincount(cell[finite], weights=values[finite],
                                       minlength=cells)
            binned.valued += np.bincount(cell[finite], minlength=cells)
        binned.done = stop
        return binned

    def _dots(self, chosen: np.ndarray, view: View, cols: int, rows: int,
              ratio: float) -> np.ndarray:
        """An RGBA image of `cols` x `rows` device pixels (row 0 south) with a dot per
        sample."""
        samples = self.samples
        assert samples is not None
        (x0, x1), (y0, y1) = view
        col = ((samples.lon[chosen] - x0) / (x1 - x0) * cols).astype(np.int64)
        row = ((samples.lat[chosen] - y0) / (y1 - y0) * rows).astype(np.int64)
        rgba = self._table.view(np.uint32)[:, 0][self.color_index[chosen]]
        image = np.zeros((rows, cols), np.uint32)
        for dr, dc in _dot_offsets(POINT_RADIUS * ratio):  # later dots cover earlier ones
            r, c = row + dr, col + dc
            ok = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
            image[r[ok], c[ok]] = rgba[ok]
        return image.view(np.uint8).reshape(rows, cols, 4)

    def _density_image(self, binned: _Binned, rows: int, cols: int) -> np.ndarray:
        counts = binned.counts
        colors = self.coloring.colors if self._by_field else None
        if colors is None:
            share = (binned.sums / np.maximum(counts, 1))[:, None]
            rgb = share * np.array(INSIDE_COLOR) + (1 - share) * np.array(OUTSIDE_COLOR)
        else:
            low, high = self.coloring.levels
            mean = (binned.sums / np.maximum(binned.valued, 1) - low) / (high - low)
            rgb = colors.map(np.clip(mean, 0, 1), mode="byte")[:, :3]
            rgb = rgb.astype(float)
            rgb[binned.valued == 0] = NO_VALUE_COLOR
        peak = max(1, int(counts.max()))
        alpha = np.where(counts > 0, 90 + 165 * np.log1p(counts) / math.log1p(peak), 0)
        image = np.concatenate([rgb, alpha[:, None]], axis=1).reshape(rows, cols, 4)
        return image.astype(np.uint8)

    def _show(self, item: pg.ImageItem | None, image: np.ndarray | None,
              view: View | None = None) -> None:
        """Show `image` over `view` in `item`, hiding the other image."""
        for other in (self.points, self.density):
            if other is not item:
                other.clear()
                other.setVisible(False)
        if item is None or image is None or view is None:
            return
        (x0, x1), (y0, y1) = view
        item.setImage(image, autoLevels=False, levels=(0, 255))
        item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        item.setVisible(True)

    # -- what tests and the view ask -----------------------------------------------------

    def point_colors(self) -> np.ndarray:
        """The RGBA of each sample drawn as a dot, in the samples' order."""
        return self._table[self.color_index[self.drawn_points]]
