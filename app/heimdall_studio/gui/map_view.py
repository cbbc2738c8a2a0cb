"""The map: shaded relief, coastlines and borders under a receiver network, its boxes and
a dataset's samples, in longitude and latitude at the same ground scale.

`MapView` is the plot every map of the app uses (a dataset's Map tab, the Terrain dialog,
the coverage preview through `set_background`). Its receivers' labels are placed around
their markers so they cover no marker or other label (`label_layout`), again whenever the
view moves or resizes. Every sample is shown: individual points, coloured by a chosen
field, while at most `max_points` lie in view, else a density image over the view whose
pixels sum the samples in them, tinted by the field's mean. The legend lies under the
plot, outside the data. A click near a sample asks for its links (`sample_clicked`).

`MapPanel` wraps a view for a dataset: the field to colour by, the clicked sample's
receivers, and the samples of a dataset a run is writing, read again at most every
second. Its file reads happen in worker threads (`map_data`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core.config.model import DatasetConfig
from ..core.terrain import basemap
from .label_layout import place_labels
from .map_data import (
    Box,
    MapData,
    MapSamples,
    SampleLinks,
    dataset_relief,
    network_map,
    read_map_samples,
    read_receiver_snr,
    read_sample_links,
)
from .plots import INSIDE_COLOR, OUTSIDE_COLOR, RECEIVER_COLOR, _box_outline, _style, place_relief
from .sample_layer import LEVEL_GROWTH, Coloring, SampleLayer, percentile_levels
from .threads import work_for

log = logging.getLogger(__name__)

LAYOUT_DELAY_MS = 60  # labels and samples follow a zoom or resize this long after
MARKER_SIZE = 12  # receivers' markers, pixels
MARKER_REACH = MARKER_SIZE / 2 + 1  # from a marker's centre to the edge of its outline
CLICK_REACH_PX = 8  # a click this near a sample picks it
SAMPLE_INFO_WIDTH = 250  # pixels of the clicked sample's receivers beside the map
COAST_COLOR = (40, 70, 120)
BORDER_COLOR = (120, 40, 110)
DETECTED_COLOR = (20, 130, 40)
MISSED_COLOR = (160, 40, 40)
# Colour fields: key -> (label, colour map); "snr:<i>" is the SNR at receiver i.
INSIDE_FIELD = "inside"
FIELDS = {INSIDE_FIELD: ("Inside or outside the receiver box", None),
          "gdop": ("GDOP", "plasma"),
          "detected": ("Receivers detecting", "viridis")}
SNR_FIELD = "snr:"
SNR_COLORS = "viridis"
GDOP_SHOWN_MAX = 20.0


def snr_key(receiver: int) -> str:
    return f"{SNR_FIELD}{receiver}"


def _expanded(box: Box, fraction: float) -> Box:
    south, north, west, east = box
    dy, dx = (north - south) * fraction, (east - west) * fraction
    return south - dy, north + dy, west - dx, east + dx


def lines_box(frame: Box) -> Box:
    """The area whose coastlines and borders a map framed on `frame` loads: room to pan
    around it, within the detailed extract when the frame lies in it."""
    wide = _expanded(frame, 1.0)
    south, north, west, east = basemap.detailed_region()
    if frame[0] >= south and frame[1] <= north and frame[2] >= west and frame[3] <= east:
        return (max(wide[0], south), min(wide[1], north), max(wide[2], west),
                min(wide[3], east))
    return wide


class MapView(pg.PlotWidget):
    """A map in longitude and latitude: relief, an optional background image, coastlines,
    borders, a receiver network with placed labels, boxes and samples."""

    sample_clicked = Signal(int)  # index of the sample clicked in the dataset
    labels_placed = Signal()

    def __init__(self, parent: QWidget | None = None, title: str = "Map"):
        super().__init__(parent, enableMenu=False)  # the view's menu is not even built
        _style(self, title, "longitude (deg)", "latitude (deg)", grid=False)
        self.sample_layer = SampleLayer()
        self.relief = pg.ImageItem(axisOrder="row-major")
        self.relief.setZValue(-20)
        self.background = pg.ImageItem(axisOrder="row-major")
        self.background.setZValue(-15)
        # Lines one pixel wide: Qt draws those directly, while any wider pen goes through
        # its stroker, which made the coastline alone six times the cost of the rest
        # of a repaint (7 ms against 1 ms with a width of 1.2).
        self.coast = pg.PlotDataItem([], [], connect="finite",
                                     pen=pg.mkPen(COAST_COLOR, width=1))
        self.borders = pg.PlotDataItem([], [], connect="finite",
                                       pen=pg.mkPen(BORDER_COLOR, width=1,
                                                    style=Qt.PenStyle.DashDotLine))
        self.density = self.sample_layer.density
        self.density.setZValue(-5)
        self.samples = self.sample_layer.points
        self.training_box = pg.PlotDataItem(
            [], [], pen=pg.mkPen((90, 90, 90), width=1.5, style=Qt.PenStyle.DashLine))
        self.receiver_box = pg.PlotDataItem([], [], pen=pg.mkPen((40, 40, 40), width=2))
        self.links_detected = pg.PlotDataItem([], [], connect="finite",
                                              pen=pg.mkPen(DETECTED_COLOR, width=2))
        self.links_missed = pg.PlotDataItem(
            [], [], connect="finite",
            pen=pg.mkPen(MISSED_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        self.selected = pg.ScatterPlotItem(size=14, symbol="star", pen=pg.mkPen("k"),
                                           brush=pg.mkBrush(255, 230, 0))
        self.receivers = pg.ScatterPlotItem(size=MARKER_SIZE, symbol="t1",
                                            pen=pg.mkPen("w", width=1),
                                            brush=pg.mkBrush(*RECEIVER_COLOR))
        for z, item in enumerate((self.samples, self.training_box, self.receiver_box,
                                  self.links_detected, self.links_missed, self.selected,
                                  self.receivers)):
            item.setZValue(z)
        for item in (self.relief, self.background, self.coast, self.borders, self.density,
                     self.samples, self.training_box, self.receiver_box, self.links_detected,
                     self.links_missed, self.selected, self.receivers):
            self.addItem(item)
        self._labels: list[pg.TextItem] = []
        self._network: tuple | None = None  # what set_network shows
        self._relief_shown: tuple | None = None  # what set_relief shows
        self._build_legend()
        self._build_color_bar()

        self._sample_data: MapSamples | None = None
        self._color_field = INSIDE_FIELD
        self._leveled = 0  # samples the colour levels were taken from
        self._receiver_names: tuple[str, ...] = ()
        self._layout_timer = QTimer(self, singleShot=True, interval=LAYOUT_DELAY_MS)
        self._layout_timer.timeout.connect(self.relayout)
        self.plotItem.vb.sigRangeChanged.connect(self._layout_timer.start)
        self.plotItem.vb.sigResized.connect(self._layout_timer.start)
        self.scene().sigMouseClicked.connect(self._clicked)

    def _build_legend(self) -> None:
        """A legend in a row under the plot, where it covers no data."""
        self.legend = pg.LegendItem(colCount=4, labelTextSize="8pt", frame=False)
        self.plotItem.layout.addItem(self.legend, 5, 1)
        # Scatter items, not empty PlotDataItems: the legend draws a PlotDataItem's key from
        # its scatter, which takes the symbol's colour only once there is data.
        self._inside_key = pg.ScatterPlotItem(symbol="o", size=7, pen=None,
                                              brush=pg.mkBrush(*INSIDE_COLOR))
        self._outside_key = pg.ScatterPlotItem(symbol="o", size=7, pen=None,
                                               brush=pg.mkBrush(*OUTSIDE_COLOR))
        self.add_legend(self.receivers, "receiver")
        self.add_legend(self.receiver_box, "receiver box")
        self.add_legend(self.training_box, "training box")
        self.add_legend(self.coast, "coastline")
        self.add_legend(self.borders, "border")

    def add_legend(self, item: pg.GraphicsObject, name: str) -> None:
        """Name an item in the legend under the plot."""
        self.legend.addItem(item, name)

    def _build_color_bar(self) -> None:
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(SNR_COLORS),
                                         interactive=False, width=14, colorMapMenu=False)
        self.plotItem.layout.addItem(self.color_bar, 2, 5)
        self.color_bar.setVisible(False)

    # -- the base map ------------------------------------------------------------------

    def set_relief(self, image: np.ndarray | None, area: Box | None) -> None:
        """A shaded relief (row 0 north) over `area` (south, north, west, east), or none.
        The same relief again costs nothing (the preview sends it with every answer)."""
        shown = (None if image is None or area is None
                 else (area, image.shape, hash(image.tobytes())))
        if shown is not None and shown == self._relief_shown:
            return
        self._relief_shown = shown
        if image is None or area is None:
            self.relief.clear()
            self.relief.setVisible(False)
            return
        place_relief(self.relief, image, area)
        self.relief.setVisible(True)

    def set_background(self, image: np.ndarray | None, area: Box | None = None,
                       colors: pg.ColorMap | None = None,
                       levels: tuple[float, float] | None = None) -> None:
        """An image over `area` (south, north, west, east) above the relief and under
        everything else: rows run north to south; a 2-D array of values is coloured
        by `colors` between `levels` (NaN transparent), an RGB(A) one shown as it is.
        None removes it."""
        if image is None or area is None:
            self.background.clear()
            self.background.setVisible(False)
            return
        south, north, west, east = area
        image = np.ascontiguousarray(np.asarray(image)[::-1])  # the view's y grows north
        if image.ndim == 2:
            if colors is None:
                colors = pg.colormap.get(SNR_COLORS)
            low, high = levels if levels is not None else (
                float(np.nanmin(image)), float(np.nanmax(image)))
            scaled = (image - low) / max(high - low, 1e-12)
            rgba = colors.map(np.clip(np.nan_to_num(scaled), 0, 1).ravel(), mode="byte")
            rgba = rgba.reshape(*image.shape, 4)
            rgba[..., 3] = np.where(np.isfinite(image), 255, 0)
            image = rgba
        self.background.setImage(image, autoLevels=False, levels=(0, 255))
        self.background.setRect(QRectF(west, south, east - west, north - south))
        self.background.setVisible(True)

    def set_network(self, names: Sequence[str], lat: np.ndarray, lon: np.ndarray,
                    receiver_box: Box | None = None, training_box: Box | None = None) -> None:
        """Receivers (named), and the receiver and training boxes (lat0, lat1, lon0,
        lon1) when given. The same network again changes nothing: its labels stay where
        they were placed."""
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        network = (tuple(names), lat.tobytes(), lon.tobytes(), receiver_box, training_box)
        if network == self._network:
            return
        self._network = network
        self._receiver_names = tuple(names)
        self.receivers.setData(x=lon, y=lat)
        self.receiver_box.setData(*(_box_outline(receiver_box) if receiver_box else ([], [])))
        self.training_box.setData(*(_box_outline(training_box) if training_box else ([], [])))
        # Labels follow the network: reuse the items, make more only for a larger one.
        while len(self._labels) < len(names):
            label = pg.TextItem(color=(60, 0, 0), anchor=(0, 0),
                                fill=pg.mkBrush(255, 255, 255, 150))
            label.textItem.document().setDocumentMargin(1)
            label.setZValue(10)
            self.addItem(label)
            self._labels.append(label)
        for i, label in enumerate(self._labels):
            if i < len(names):
                label.setText(names[i])
                label.setPos(float(lon[i]), float(lat[i]))
            label.setVisible(i < len(names))
        self._layout_timer.start()

    def frame(self, box: Box) -> None:
        """Show `box` (south, north, west, east) with equal ground distances equally long,
        and the coastlines and borders around it."""
        south, north, west, east = box
        # A degree of longitude is cos(latitude) as long as a degree of latitude.
        mid_lat = (south + north) / 2
        self.setAspectLocked(True, ratio=max(0.05, math.cos(math.radians(mid_lat))))
        self.setRange(xRange=(west, east), yRange=(south, north), padding=0.03)
        area = lines_box(box)
        self.coast.setData(*basemap.coastlines(area))
        self.borders.setData(*basemap.borders(area))
        self._layout_timer.start()

    def set_map(self, data: MapData) -> None:
        """A dataset's map: relief, network, boxes and samples, framed on the training
        box."""
        self.set_relief(data.relief, data.relief_bounds)
        self.set_network(data.receiver_names, data.receiver_lat, data.receiver_lon,
                         data.receiver_box, data.training_box)
        self.show_links(None)
        self.set_samples(data.samples)
        self.frame(data.training_box)

    def clear_data(self) -> None:
        self.set_relief(None, None)
        self.set_background(None)
        self.set_network((), np.zeros(0), np.zeros(0))
        self.show_links(None)
        self.set_samples(None)

    # -- labels ------------------------------------------------------------------------

    def relayout(self) -> None:
        """Place the labels and draw the samples for the view as it is now."""
        self._place_labels()
        self._draw_samples()

    def visible_labels(self) -> list[pg.TextItem]:
        return [label for label in self._labels if label.isVisible()]

    def marker_rects(self) -> list[QRectF]:
        """The receivers' markers on screen (scene pixels), as the labels avoid them."""
        vb = self.plotItem.vb
        x, y = self.receivers.getData()
        rects = []
        for lon, lat in zip(x if x is not None else [], y if y is not None else [],
                            strict=True):
            centre = vb.mapViewToScene(QPointF(float(lon), float(lat)))
            rects.append(QRectF(centre.x() - MARKER_REACH, centre.y() - MARKER_REACH,
                                2 * MARKER_REACH, 2 * MARKER_REACH))
        return rects

    def _place_labels(self) -> None:
        labels = self.visible_labels()
        if not labels:
            return
        vb = self.plotItem.vb
        centres = np.array([[r.center().x(), r.center().y()] for r in self.marker_rects()])
        sizes = np.array([[label.boundingRect().width(), label.boundingRect().height()]
                          for label in labels])
        view = vb.sceneBoundingRect()
        rects = place_labels(centres, MARKER_REACH, sizes,
                             (view.left(), view.top(), view.right(), view.bottom()))
        for label, (left, top, _, _) in zip(labels, rects, strict=True):
            label.setPos(vb.mapSceneToView(QPointF(left, top)))
        self.labels_placed.emit()

    # -- samples -----------------------------------------------------------------------

    def color_field(self) -> str:
        return self._color_field

    @property
    def max_points(self) -> int:
        """Samples in view drawn as dots at most; more make a density image."""
        return self.sample_layer.max_points

    @max_points.setter
    def max_points(self, value: int) -> None:
        self.sample_layer.max_points = value

    @property
    def density_counts(self) -> np.ndarray:
        return self.sample_layer.density_counts

    def set_samples(self, samples: MapSamples | None) -> None:
        """The dataset's samples, all of them, coloured by the current field."""
        self._sample_data = samples
        self._recolor()

    def extend_samples(self, samples: MapSamples) -> None:
        """`samples` continue the ones shown (a run's new samples): only the new ones are
        coloured and drawn anew, until the field's levels are due again."""
        shown = self._sample_data
        if shown is None or not len(shown) or samples.start != shown.start \
                or len(samples) < len(shown) or len(samples) >= LEVEL_GROWTH * self._leveled:
            self.set_samples(samples)
            return
        self._sample_data = samples
        values, _, _ = self._field_values()
        self.sample_layer.extend(samples, values)
        self._draw_samples()

    def set_color_field(self, key: str) -> None:
        """Colour the samples by a field of FIELDS, or `snr_key(i)` (the samples must
        hold that receiver's SNR)."""
        self._color_field = key
        self._recolor()

    def _field_values(self) -> tuple[np.ndarray | None, str, str | None]:
        """The current field's values per sample (None: inside/outside), its label and
        its colour map."""
        samples, key = self._sample_data, self._color_field
        assert samples is not None
        if key.startswith(SNR_FIELD):
            receiver = int(key[len(SNR_FIELD):])
            name = (self._receiver_names[receiver] if receiver < len(self._receiver_names)
                    else f"receiver {receiver + 1}")
            values = samples.snr if samples.snr_receiver == receiver else None
            if values is None:
                values = np.full(len(samples), np.nan, np.float32)
            return values, f"SNR at {name} (dB)", SNR_COLORS
        if key == "gdop":
            return samples.gdop, FIELDS[key][0], FIELDS[key][1]
        if key == "detected":
            return samples.detected, FIELDS[key][0], FIELDS[key][1]
        return None, FIELDS[INSIDE_FIELD][0], None

    def _recolor(self) -> None:
        samples = self._sample_data
        for key in (self._inside_key, self._outside_key):
            self.legend.removeItem(key)
        if samples is None or not len(samples):
            self._leveled = 0
            self.sample_layer.set(None, None, Coloring())
            self.color_bar.setVisible(False)
            self._draw_samples()
            return
        values, label, colors = self._field_values()
        self._leveled = len(samples)
        if values is None or colors is None:
            coloring = Coloring()
            self.color_bar.setVisible(False)
            self.add_legend(self._inside_key, "inside")
            self.add_legend(self._outside_key, "outside")
        else:
            coloring = Coloring(pg.colormap.get(colors), self._value_levels(values))
            self.color_bar.setColorMap(coloring.colors)
            self.color_bar.setLevels(values=coloring.levels)
            self.color_bar.axis.setLabel(label)
            self.color_bar.setVisible(True)
        self.sample_layer.set(samples, values, coloring)
        self._draw_samples()

    def _value_levels(self, values: np.ndarray) -> tuple[float, float]:
        if self._color_field == "detected":
            return 0.0, float(max(1, len(self._receiver_names)))
        levels = percentile_levels(values)
        if levels is None:
            return 0.0, 1.0
        low, high = levels
        if self._color_field == "gdop":
            low, high = 1.0, min(max(high, 1.5), GDOP_SHOWN_MAX)
        return low, max(high, low + 1e-3)

    def _draw_samples(self) -> None:
        vb = self.plotItem.vb
        rect = vb.sceneBoundingRect()
        (x0, x1), (y0, y1) = vb.viewRange()
        self.sample_layer.draw(((x0, x1), (y0, y1)), rect.width(), rect.height(),
                               max(1.0, self.devicePixelRatioF()))

    def point_count(self) -> int:
        """Samples drawn as individual points."""
        return len(self.sample_layer.drawn_points)

    def density_total(self) -> int:
        """Samples the density image counts (0 when points are shown)."""
        return int(self.density_counts.sum())

    def point_colors(self) -> np.ndarray:
        """The RGBA of each sample drawn as a point (what tests check)."""
        return self.sample_layer.point_colors()

    # -- clicks and links --------------------------------------------------------------

    def _clicked(self, event: MouseClickEvent) -> None:
        samples = self._sample_data
        vb = self.plotItem.vb
        if samples is None or not len(samples) or event.button() != Qt.MouseButton.LeftButton:
            return
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        index = self.sample_near(vb.mapSceneToView(event.scenePos()))
        if index is not None:
            self.sample_clicked.emit(index)

    def sample_near(self, point: QPointF) -> int | None:
        """The dataset index of the sample nearest `point` (lon, lat), if one lies within
        CLICK_REACH_PX pixels of it."""
        samples = self._sample_data
        if samples is None or not len(samples):
            return None
        px, py = self.plotItem.vb.viewPixelSize()
        distance = np.hypot((samples.lon - point.x()) / px, (samples.lat - point.y()) / py)
        nearest = int(np.argmin(distance))
        return samples.start + nearest if distance[nearest] <= CLICK_REACH_PX else None

    def show_links(self, links: SampleLinks | None) -> None:
        """A sample's links: solid to the receivers that detected it, dashed to the
        others; None hides them."""
        if links is None:
            for item in (self.links_detected, self.links_missed):
                item.setData([], [])
            self.selected.setData(x=[], y=[])
            return
        x, y = self.receivers.getData()
        for item, which in ((self.links_detected, links.detected),
                            (self.links_missed, ~links.detected)):
            chosen = np.flatnonzero(which)
            xs = np.column_stack([np.full(len(chosen), links.tx_lon), x[chosen],
                                  np.full(len(chosen), np.nan)]).ravel()
            ys = np.column_stack([np.full(len(chosen), links.tx_lat), y[chosen],
                                  np.full(len(chosen), np.nan)]).ravel()
            item.setData(xs, ys)
        self.selected.setData(x=[links.tx_lon], y=[links.tx_lat])


def links_text(links: SampleLinks, names: Sequence[str]) -> str:
    """A sample's receivers, their SNR and whether they detected, as rich text."""
    rows = "".join(
        f"<tr><td>{name}</td><td align='right'>"
        f"{'–' if not math.isfinite(snr) else f'{snr:.1f} dB'}</td>"
        f"<td>{'detected' if detected else 'not detected'}</td></tr>"
        for name, snr, detected in zip(names, links.snr_db, links.detected, strict=True))
    return (f"<b>Sample {links.index:,}</b> at {links.tx_lat:.4f} N, {links.tx_lon:.4f} E: "
            f"{int(links.detected.sum())} of {len(names)} receivers detected it"
            f"<table cellspacing='4'><tr><th align='left'>receiver</th><th>SNR</th>"
            f"<th></th></tr>{rows}</table>")


class MapPanel(QWidget):
    """A dataset's map with the field to colour its samples by, and what a click on a
    sample finds; follows a dataset being written."""

    LIVE_INTERVAL_MS = 1000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("map_panel")
        self.view = MapView()
        self.view.setObjectName("map_plot")
        self.color_field = QComboBox(objectName="map_color_field")
        self.color_field.setToolTip("The field the samples are coloured by")
        self.color_field.currentIndexChanged.connect(self._field_chosen)
        self.sample_info = QLabel("Click a sample to see its links.",
                                  objectName="map_sample_info")
        self.sample_info.setStyleSheet("color: #404040;")
        self.sample_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.attribution = QLabel(basemap.attribution(), objectName="map_attribution",
                                  wordWrap=True)
        self.attribution.setStyleSheet("color: #808080; font-size: 8pt;")
        top = QHBoxLayout()
        top.addWidget(QLabel("Colour by"))
        top.addWidget(self.color_field)
        top.addStretch(1)
        self.sample_info.setWordWrap(True)
        self.sample_info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.sample_info.setFixedWidth(SAMPLE_INFO_WIDTH)  # the map keeps its size
        middle = QHBoxLayout()
        middle.addWidget(self.view, 1)
        middle.addWidget(self.sample_info)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(middle, 1)
        layout.addWidget(self.attribution)
        self.view.sample_clicked.connect(self.ask_links)
        self.path: Path | None = None
        self.data: MapData | None = None
        self._serial = 0  # reads answered for an older dataset are dropped
        self._live_path: Path | None = None
        self._live_target = 0
        self._live_reading = False
        self._live_timer = QTimer(self, singleShot=True, interval=self.LIVE_INTERVAL_MS)
        self._live_timer.timeout.connect(self._read_tail)

    # -- what is shown -----------------------------------------------------------------

    def show_dataset(self, path: Path, data: MapData) -> None:
        """A dataset's map, all its samples read (`map_data.read_map_samples`)."""
        self._stop_following()
        self._serial += 1
        self.path, self.data = Path(path), data
        self._fill_fields(data.receiver_names)
        self.sample_info.setText("Click a sample to see its links.")
        self.view.set_map(data)
        self._apply_field()

    def clear_data(self) -> None:
        self._stop_following()
        self._serial += 1
        self.path, self.data = None, None
        self.view.clear_data()
        self.sample_info.setText("")

    def _fill_fields(self, names: Sequence[str]) -> None:
        chosen = self.color_field.currentData()
        self.color_field.blockSignals(True)
        self.color_field.clear()
        for key, (label, _) in FIELDS.items():
            self.color_field.addItem(label, key)
        for i, name in enumerate(names):
            self.color_field.addItem(f"SNR at {name}", snr_key(i))
        index = self.color_field.findData(chosen)
        self.color_field.setCurrentIndex(max(0, index))
        self.color_field.blockSignals(False)

    def choose_field(self, key: str) -> None:
        """Colour by `key` (FIELDS or `snr_key(i)`), as if chosen in the box."""
        self.color_field.setCurrentIndex(self.color_field.findData(key))

    def _field_chosen(self, _index: int) -> None:
        self._apply_field()

    def _apply_field(self) -> None:
        key = self.color_field.currentData()
        data = self.data
        if key is None or data is None:
            return
        samples = data.samples
        if key.startswith(SNR_FIELD) and samples is not None and self.path is not None:
            receiver = int(key[len(SNR_FIELD):])
            if samples.snr_receiver != receiver:
                self._read_snr(receiver, samples)
                return
        self.view.set_color_field(key)

    def _read_snr(self, receiver: int, samples: MapSamples) -> None:
        """Read the SNR at `receiver` of every sample shown, then colour by it."""
        serial, path = self._serial, self.path
        assert path is not None
        self.sample_info.setText("Reading the SNR at the receiver…")
        work_for(self, read_receiver_snr, path, receiver, samples.start + len(samples),
                 returned=lambda snr: self._snr_read(serial, receiver, snr),
                 errored=lambda exc: self._failed(serial, exc))

    def _current(self, serial: int) -> bool:
        """Whether a read asked for under `serial` is still wanted: the panel shows the
        same dataset. (A read that ends after the panel was deleted reaches nothing:
        `work_for`.)"""
        return serial == self._serial

    def _snr_read(self, serial: int, receiver: int, snr: np.ndarray) -> None:
        data = self.data
        if not self._current(serial) or data is None or data.samples is None:
            return
        samples = data.samples
        if len(snr) < len(samples):  # samples added meanwhile: read again
            self._read_snr(receiver, samples)
            return
        self._replace_samples(samples.with_snr(receiver, snr[:len(samples)]))
        self.sample_info.setText("Click a sample to see its links.")
        self.view.set_color_field(snr_key(receiver))

    def _replace_samples(self, samples: MapSamples) -> None:
        assert self.data is not None
        self.data = MapData(**{**self.data.__dict__, "samples": samples})
        self.view.set_samples(samples)

    def _failed(self, serial: int, exc: Exception) -> None:
        if self._current(serial):
            log.info("reading the map's samples failed: %s", exc)
            self.sample_info.setText("The file cannot be read at this moment; "
                                     "try again in a moment.")

    # -- a clicked sample --------------------------------------------------------------

    def ask_links(self, index: int) -> None:
        """Read the sample's row from the file, then show its links."""
        if self.path is None:
            return
        serial = self._serial
        work_for(self, read_sample_links, self.path, index,
                 returned=lambda links: self._links_read(serial, links),
                 errored=lambda exc: self._failed(serial, exc))

    def _links_read(self, serial: int, links: SampleLinks) -> None:
        if not self._current(serial) or self.data is None:
            return
        self.view.show_links(links)
        self.sample_info.setText(links_text(links, self.data.receiver_names))

    # -- a dataset being written -------------------------------------------------------

    def follow(self, path: Path, config: DatasetConfig) -> None:
        """Show the samples of the dataset a run is writing as they are committed
        (`samples_committed`), starting with its network."""
        path = Path(path)
        if self._live_path == path:
            return
        self._serial += 1
        self.path = path
        self.data = network_map(config, samples=None)
        self._fill_fields(self.data.receiver_names)
        self.view.set_map(self.data)
        self.sample_info.setText("Samples appear as the run commits them.")
        self._live_path, self._live_target, self._live_reading = path, 0, False
        self._apply_field()

    def samples_committed(self, path: Path, count: int) -> None:
        """The dataset followed has `count` samples: read the new ones, at most once a
        second, off the GUI thread."""
        if self._live_path != Path(path):
            return
        self._live_target = count
        if not self._live_reading and not self._live_timer.isActive():
            self._live_timer.start()

    def _stop_following(self) -> None:
        self._live_path = None
        self._live_timer.stop()

    def _read_tail(self) -> None:
        data, path = self.data, self._live_path
        if path is None or data is None:
            return
        have = 0 if data.samples is None else len(data.samples)
        if have >= self._live_target:
            return
        key = self.color_field.currentData() or ""
        receiver = int(key[len(SNR_FIELD):]) if key.startswith(SNR_FIELD) else None
        serial = self._serial
        self._live_reading = True
        work_for(self, _read_tail, path, have, self._live_target, receiver,
                 data.relief is None and have == 0,
                 returned=lambda r: self._tail_read(serial, *r),
                 errored=lambda exc: self._tail_failed(serial, exc))

    def _tail_read(self, serial: int, relief: tuple[np.ndarray | None, Box | None] | None,
                   tail: MapSamples) -> None:
        if not self._current(serial) or self.data is None:
            return
        self._live_reading = False
        if relief is not None:
            self.data = MapData(**{**self.data.__dict__, "relief": relief[0],
                                   "relief_bounds": relief[1]})
            self.view.set_relief(*relief)
        samples = self.data.samples
        if samples is None:
            self._replace_samples(tail)
        elif tail.start == len(samples):
            self.data = MapData(**{**self.data.__dict__, "samples": samples.extended(tail)})
            assert self.data.samples is not None
            self.view.extend_samples(self.data.samples)
        if self._live_target > len(self.data.samples or ()):
            self._live_timer.start()

    def _tail_failed(self, serial: int, exc: Exception) -> None:
        """A file being written may be unreadable for a moment: try at the next tick."""
        if not self._current(serial):
            return
        log.debug("reading new samples for the map failed: %s", exc)
        self._live_reading = False
        self._live_timer.start()


def _read_tail(path: Path, start: int, stop: int, snr_receiver: int | None,
               with_relief: bool
               ) -> tuple[tuple[np.ndarray | None, Box | None] | None, MapSamples]:
    """New samples of a dataset being written, and its relief the first time."""
    relief = dataset_relief(path) if with_relief else None
    return relief, read_map_samples(path, start, stop, snr_receiver)
