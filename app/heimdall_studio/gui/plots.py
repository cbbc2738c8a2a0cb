"""pyqtgraph widgets: histograms, a trend curve, and the spectrum and waterfall of an IQ
record (maps: `map_view`).

Every plot item is created once, in the constructor, and later only fed with `setData`
(the pattern of pyqtgraph's scrolling-plot examples): rebuilding items on every update is
what makes live plots stutter.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QPalette

pg.setConfigOptions(antialias=True, background="w", foreground="#303030")

INSIDE_COLOR = (31, 119, 180)
OUTSIDE_COLOR = (255, 127, 14)
RECEIVER_COLOR = (200, 20, 40)
FILL_COLOR = (31, 119, 180, 110)


def round_up(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= value (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1.0, 2.0, 2.5, 5.0, 10.0)
                if step * power >= value * (1 - 1e-12))


def tick_text(value: float) -> str | None:
    """A large tick value as people read it: "1,500", "250k", "2M", "1.5G"; None for
    values under 1000, which pyqtgraph's own format already shows well."""
    size = abs(value)
    if size < 1000:
        return None
    if size < 10_000:
        return f"{value:,.0f}"
    for step, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= step:
            return f"{value / step:.4g}{suffix}"
    return None  # not reached


class ReadableAxis(pg.AxisItem):
    """An axis whose large tick values read "2M" rather than "2e+06"."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = super().tickStrings(values, scale, spacing)
        if self.logMode:
            return strings
        return [tick_text(v * scale) or text for v, text in zip(values, strings, strict=True)]


def apply_palette(plot: pg.PlotWidget) -> None:
    """Background, axes and title in the widget's palette colours (Window, WindowText),
    so a plot looks like the rest of the window in a light or a dark theme."""
    palette = plot.palette()
    background = palette.color(QPalette.ColorRole.Window)
    foreground = palette.color(QPalette.ColorRole.WindowText)
    plot.setBackground(background)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(foreground)
        axis.setTextPen(foreground)
    title = plot.plotItem.titleLabel
    title.setText(title.text, color=foreground.name(), size="10pt")


class _PaletteFollower(QObject):
    """Re-colours its plot when the plot's or the application's palette changes."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and isinstance(watched, pg.PlotWidget):
            apply_palette(watched)
        return False


def _style(plot: pg.PlotWidget, title: str, x_label: str, y_label: str,
           grid: bool = True) -> None:
    plot.setAxisItems({"left": ReadableAxis("left"), "bottom": ReadableAxis("bottom")})
    plot.setTitle(title, size="10pt")
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    apply_palette(plot)
    plot.installEventFilter(_PaletteFollower(plot))
    # Translucent grid lines are most of what a repaint costs (benchmarks/README.md):
    # plots redrawn several times a second during a run go without.
    plot.showGrid(x=grid, y=grid, alpha=0.25)
    plot.setMinimumSize(160, 120)
    # Counts read better as plain numbers than as "x0.001" scaled axes.
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.getAxis("bottom").enableAutoSIPrefix(False)


class HistogramPlot(pg.PlotWidget):
    """Counts on fixed bin edges, drawn as a filled step curve."""

    def __init__(self, title: str, x_label: str, y_label: str = "count", parent=None,
                 grid: bool = True):
        super().__init__(parent, enableMenu=False)  # the view's menu is not even built
        _style(self, title, x_label, y_label, grid)
        self.plotItem.vb.setMouseEnabled(x=True, y=False)
        # Axis-aligned steps need no antialiasing, and painting is what live plots pay for.
        self.curve = self.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
                               brush=FILL_COLOR, pen=pg.mkPen(INSIDE_COLOR, width=1.5),
                               antialias=False)
        self._x_range: tuple[float, float] | None = None
        self.clear_data()

    def set_histogram(self, edges: np.ndarray, counts: np.ndarray) -> None:
        edges, counts = np.asarray(edges, float), np.asarray(counts, float)
        self.curve.setData(edges, counts)
        # The bins are fixed, so x is set once; y steps through round values, so that
        # during a run the axes (whose labels are most of a repaint) rarely change.
        x_range = (float(edges[0]), float(edges[-1]))
        if x_range != self._x_range:
            self._x_range = x_range
            self.setXRange(*x_range, padding=0.02)
        top = float(counts.max()) if counts.size else 0.0
        if top > 0 and not (self._y_top / 4 < top <= self._y_top):
            self._y_top = round_up(1.05 * top)
            self.setYRange(0, self._y_top, padding=0)

    def clear_data(self) -> None:
        self.curve.setData([0.0, 1.0], [0.0])
        # An empty histogram autoscales around zero, showing negative counts; pin it.
        self.setRange(xRange=(0, 1), yRange=(0, 1))
        self._x_range = None
        self._y_top = 1.0

    def total(self) -> float:
        """Sum of the drawn counts (what tests and screenshots check)."""
        _, y = self.curve.getData()
        return float(np.sum(y)) if y is not None else 0.0


class TrendPlot(pg.PlotWidget):
    """One curve of y against x, e.g. the acceptance rate against samples generated."""

    def __init__(self, title: str, x_label: str, y_label: str, parent=None,
                 x_units: str = "", grid: bool = True):
        super().__init__(parent, enableMenu=False)  # the view's menu is not even built
        _style(self, title, x_label, y_label, grid)
        if x_units:  # "generated (ksamples)" rather than "1e+06" tick labels
            self.setLabel("bottom", x_label, units=x_units)
            self.getAxis("bottom").enableAutoSIPrefix(True)
        self.curve = self.plot([], [], pen=pg.mkPen(INSIDE_COLOR, width=2),
                               symbol="o", symbolSize=4, symbolBrush=INSIDE_COLOR,
                               symbolPen=None)
        # A percentage on its full scale: autoscaling would blow up noise of 0.1 %.
        self.setYRange(0, 100, padding=0.02)
        self.setXRange(0, 1)
        self._x_max: float | None = None

    def set_points(self, x: np.ndarray, y: np.ndarray, x_max: float | None = None) -> None:
        """The curve; the x axis spans [0, x_max] when given (a run's requested samples),
        so that it does not rescale with every point."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        self.curve.setData(x, y)
        if x_max:
            if self._x_max != x_max:
                self._x_max = x_max
                self.setXRange(0, x_max, padding=0.02)
        elif len(x):
            self._x_max = None
            self.enableAutoRange(axis="x")
        else:
            self._x_max = None
            self.setXRange(0, 1)


def _box_outline(box: tuple[float, float, float, float]) -> tuple[list[float], list[float]]:
    lat0, lat1, lon0, lon1 = box
    return [lon0, lon1, lon1, lon0, lon0], [lat0, lat0, lat1, lat1, lat0]


def place_relief(item: pg.ImageItem, image: np.ndarray,
                 area: tuple[float, float, float, float]) -> None:
    """Show a shaded relief (row 0 north, `terrain.relief`) over `area` (south, north,
    west, east) of a longitude/latitude plot."""
    south, north, west, east = area
    # The view's y grows upwards and the image's first row is drawn at the rect's lowest
    # y: the rows go south first.
    item.setImage(np.ascontiguousarray(image[::-1]), autoLevels=False, levels=(0, 255))
    item.setRect(QRectF(west, south, east - west, north - south))


class SpectrumPlot(pg.PlotWidget):
    """A record's power spectral density, with the link's stored frequency offset and
    the receiver's noise density marked."""

    def __init__(self, parent=None):
        super().__init__(parent, enableMenu=False)  # the view's menu is not even built
        _style(self, "Spectrum", "frequency (kHz)", "dBm/Hz")
        self.curve = self.plot([], [], pen=pg.mkPen(INSIDE_COLOR, width=1.2))
        self.offset_line = pg.InfiniteLine(
            angle=90, movable=False, label="stored offset",
            labelOpts={"position": 0.9, "color": RECEIVER_COLOR,
                       "anchors": [(-0.05, 0.5), (-0.05, 0.5)]},  # right of the line
            pen=pg.mkPen(RECEIVER_COLOR, width=1, style=Qt.PenStyle.DashLine))
        self.noise_line = pg.InfiniteLine(
            angle=0, movable=False, label="noise floor",
            labelOpts={"position": 0.05, "color": (90, 90, 90), "anchors": [(0, 1), (0, 1)]},
            pen=pg.mkPen((90, 90, 90), width=1, style=Qt.PenStyle.DotLine))
        for line in (self.offset_line, self.noise_line):
            self.addItem(line)
        self.clear_data()

    def set_spectrum(self, frequency_khz: np.ndarray, density_dbm_hz: np.ndarray,
                     offset_khz: float, noise_dbm_hz: float) -> None:
        """The curve, and the marks where they are known (NaN: not drawn)."""
        self.curve.setData(frequency_khz, density_dbm_hz)
        for line, value in ((self.offset_line, offset_khz), (self.noise_line, noise_dbm_hz)):
            known = math.isfinite(value)
            line.setVisible(known)
            if known:
                line.setValue(value)
        self.setXRange(float(frequency_khz[0]), float(frequency_khz[-1]), padding=0)
        top = float(np.max(density_dbm_hz))
        bottom = float(np.percentile(density_dbm_hz, 1))
        if math.isfinite(noise_dbm_hz):
            bottom = min(bottom, noise_dbm_hz)
        self.setYRange(bottom - 5, top + 5, padding=0)

    def clear_data(self) -> None:
        self.curve.setData([], [])
        self.offset_line.setVisible(False)
        self.noise_line.setVisible(False)

    def peak_khz(self) -> float | None:
        """Where the drawn curve peaks (what tests check); None when it is empty."""
        x, y = self.curve.getData()
        if x is None or not len(x):
            return None
        return float(x[int(np.argmax(y))])


class WaterfallPlot(pg.PlotWidget):
    """A record's spectrogram: frequency across, time running down, density in colour."""

    COLOR_MAP = "viridis"  # ships with pyqtgraph
    RANGE_DB = 60.0  # shown below the strongest bin at most

    def __init__(self, parent=None):
        super().__init__(parent, enableMenu=False)  # the view's menu is not even built
        _style(self, "Waterfall", "frequency (kHz)", "time (s)", grid=False)
        self.plotItem.vb.invertY(True)  # the record's start on top
        self.image = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.image)
        colors = pg.colormap.get(self.COLOR_MAP)
        self.image.setColorMap(colors)
        self.color_bar = pg.ColorBarItem(colorMap=colors, label="dBm/Hz", interactive=False,
                                         width=14)
        self.color_bar.setImageItem(self.image, insert_in=self.plotItem)
        self.clear_data()

    def set_spectrogram(self, frequency_khz: np.ndarray, time_s: np.ndarray,
                        density_dbm_hz: np.ndarray, duration_s: float) -> None:
        """Rows of `density_dbm_hz` at `time_s`, columns at `frequency_khz` (evenly
        spaced), over a record of `duration_s`."""
        step = float(frequency_khz[1] - frequency_khz[0]) if len(frequency_khz) > 1 else 1.0
        top = float(np.max(density_dbm_hz))
        bottom = max(float(np.percentile(density_dbm_hz, 5)) - 3, top - self.RANGE_DB)
        self.image.setImage(density_dbm_hz, autoLevels=False)
        self.color_bar.setLevels((bottom, max(top, bottom + 1)))
        left = float(frequency_khz[0]) - step / 2
        self.image.setRect(QRectF(left, 0.0, step * len(frequency_khz), duration_s))
        self.image.setVisible(True)
        self.setRange(xRange=(left, left + step * len(frequency_khz)),
                      yRange=(0.0, duration_s), padding=0)

    def clear_data(self) -> None:
        self.image.clear()
        self.image.setVisible(False)

    def rows(self) -> int:
        """Rows of the drawn image (what tests check); 0 when empty."""
        image = self.image.image
        return 0 if image is None or not self.image.isVisible() else int(image.shape[0])
