"""Two datasets side by side: their distributions overlaid and where their configs differ.

The distributions are the files' running histograms (`api.dataset_stats`, instant at any
size), read in worker threads; each is drawn as a density (counts over their sum and the
bin width), so datasets of different sizes and bins compare at a glance. The config
differences come from the headers the listing already read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import api
from ..core.api import DatasetEntry
from ..core.dataset.reader import DatasetHeader
from ..core.dataset.stats import DatasetStats
from .jobs import describe_error
from .plots import INSIDE_COLOR, OUTSIDE_COLOR, HistogramPlot, round_up
from .threads import work_for

log = logging.getLogger(__name__)

# (histogram key, plot title, x label): the four distributions of the details pane
DISTRIBUTIONS = (("snr_db", "SNR of detecting links", "SNR (dB)"),
                 ("gdop", "GDOP", "GDOP"),
                 ("num_receivers_detected", "Receivers detecting", "receivers"),
                 ("distance_km", "Distance of detecting links", "distance (km)"))
COLORS = (INSIDE_COLOR, OUTSIDE_COLOR)


def density(edges: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Counts as a probability density over the bins (zero for an empty histogram)."""
    counts = np.asarray(counts, float)
    area = counts.sum() * float(edges[1] - edges[0])
    return counts / area if area > 0 else np.zeros_like(counts)


def flat_config(header: DatasetHeader) -> dict[str, str]:
    """The config as dotted keys and display text: nested sections by name
    (`propagation.terrain.source`), receivers by theirs (`receivers[Torino].lat`)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and value and all(
                isinstance(v, dict) and "name" in v for v in value):
            for item in value:
                walk(f"{prefix}[{item['name']}]",
                     {k: v for k, v in item.items() if k != "name"})
        elif isinstance(value, list):
            flat[prefix] = ", ".join(_text(v) for v in value)
        else:
            flat[prefix] = _text(value)

    walk("", header.config.to_dict())
    flat.pop("name", None)  # always differs, and the columns say it
    return flat


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def config_differences(a: DatasetHeader, b: DatasetHeader) -> list[tuple[str, str, str]]:
    """(key, value in a, value in b) for each key whose values differ; "–" where a
    dataset has no such key (another generator version, another receiver)."""
    first, second = flat_config(a), flat_config(b)
    keys = list(first) + [k for k in second if k not in first]
    return [(k, first.get(k, "–"), second.get(k, "–")) for k in keys
            if first.get(k) != second.get(k)]


class OverlayPlot(HistogramPlot):
    """Two densities on one plot, each on its own bins, with a legend naming them."""

    def __init__(self, title: str, x_label: str):
        super().__init__(title, x_label, "density")
        self.second = self.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
                                brush=(*OUTSIDE_COLOR, 70),
                                pen=pg.mkPen(OUTSIDE_COLOR, width=1.5), antialias=False)
        self.curve.setPen(pg.mkPen(INSIDE_COLOR, width=1.5))
        self.curve.setBrush((*INSIDE_COLOR, 70))
        self.legend = self.addLegend(offset=(-10, 10))

    def set_pair(self, curves: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        """(label, edges, density) of the two datasets."""
        self.legend.clear()
        for item, (label, edges, values) in zip((self.curve, self.second), curves,
                                                strict=True):
            item.setData(np.asarray(edges, float), values)
            self.legend.addItem(item, label)
        low = min(float(edges[0]) for _, edges, _ in curves)
        high = max(float(edges[-1]) for _, edges, _ in curves)
        top = max(float(values.max()) if values.size else 0.0 for _, _, values in curves)
        self.setXRange(low, high, padding=0.02)
        self.setYRange(0, round_up(1.05 * top) if top > 0 else 1.0, padding=0)

    def legend_labels(self) -> list[str]:
        return [label.text for _, label in self.legend.items]


class CompareDialog(QDialog):
    """Choose two datasets of the workspace; see their distributions and differences."""

    compared = Signal()  # both datasets' distributions are drawn

    def __init__(self, entries: list[DatasetEntry], first: Path | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("compare_dialog")
        self.setWindowTitle("Compare datasets")
        self.resize(1100, 760)
        self.entries = {e.path: e for e in entries if e.header is not None}
        self.stats: dict[Path, tuple[DatasetHeader, DatasetStats]] = {}
        self._serial = 0

        self.first = QComboBox(objectName="compare_first")
        self.second = QComboBox(objectName="compare_second")
        for combo in (self.first, self.second):
            for path, entry in self.entries.items():
                combo.addItem(entry.name, path)
        paths = list(self.entries)
        if first in self.entries:
            self.first.setCurrentIndex(paths.index(first))
        others = [i for i, p in enumerate(paths) if p != self.first.currentData()]
        if others:
            self.second.setCurrentIndex(others[0])
        choose = QFormLayout()
        choose.addRow("Dataset", self.first)
        choose.addRow("compared with", self.second)

        self.plots = {key: OverlayPlot(title, x_label) for key, title, x_label in DISTRIBUTIONS}
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, (key, plot) in enumerate(self.plots.items()):
            plot.setObjectName(f"compare_{key}")
            grid.addWidget(plot, i // 2, i % 2)
        self.differences = QTableWidget(0, 3, objectName="config_differences")
        self.differences.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.differences.verticalHeader().setVisible(False)
        self.differences.horizontalHeader().setStretchLastSection(True)
        self.note = QLabel(objectName="compare_note", wordWrap=True)
        self.note.setStyleSheet("color: #606060;")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(plots)
        splitter.addWidget(self.differences)
        splitter.setSizes([520, 200])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.note, 1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(choose)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        self.first.currentIndexChanged.connect(self.load)
        self.second.currentIndexChanged.connect(self.load)
        self.load()

    def done(self, result: int) -> None:
        """Closing drops the reads still under way: their results would come too late."""
        self._serial += 1
        super().done(result)

    def chosen(self) -> tuple[Path, Path] | None:
        a, b = self.first.currentData(), self.second.currentData()
        return (a, b) if a is not None and b is not None else None

    def load(self) -> None:
        """Read the chosen datasets' distributions (each once) in worker threads."""
        self._serial += 1
        chosen = self.chosen()
        if chosen is None or len(self.entries) < 2:
            self.note.setText("Comparing needs two readable datasets in the workspace.")
            return
        self.note.setText("Reading the distributions…")
        self._show_differences(*chosen)
        serial = self._serial
        for path in set(chosen) - set(self.stats):
            work_for(self, api.dataset_stats, path,
                     returned=lambda result, p=path: self._loaded(serial, p, result),
                     errored=lambda exc, p=path: self._failed(serial, p, exc))
        self._draw()

    def _loaded(self, serial: int, path: Path,
                result: tuple[DatasetHeader, DatasetStats]) -> None:
        self.stats[path] = result
        if serial == self._serial:
            self._draw()

    def _failed(self, serial: int, path: Path, exc: Exception) -> None:
        log.warning("cannot read the distributions of %s: %s", path, describe_error(exc))
        if serial == self._serial:
            self.note.setText(f"Cannot read the distributions of '{path.stem}': "
                              f"{describe_error(exc)}")

    def _draw(self) -> None:
        chosen = self.chosen()
        if chosen is None or any(p not in self.stats for p in chosen):
            return
        pair = [self.stats[p] for p in chosen]
        labels = [f"{header.name} ({header.num_samples:,} samples)" for header, _ in pair]
        for key, plot in self.plots.items():
            plot.set_pair([(label, stats.edges[key], density(stats.edges[key],
                                                             stats.counts[key]))
                           for label, (_, stats) in zip(labels, pair, strict=True)])
        same = " (the same dataset twice)" if chosen[0] == chosen[1] else ""
        self.note.setText(f"Densities over every sample: {labels[0]} in blue, "
                          f"{labels[1]} in orange{same}.")
        self.compared.emit()

    def _show_differences(self, a: Path, b: Path) -> None:
        first, second = self.entries[a], self.entries[b]
        assert first.header is not None and second.header is not None
        rows = config_differences(first.header, second.header)
        self.differences.setHorizontalHeaderLabels(["Parameter", first.name, second.name])
        self.differences.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.differences.setItem(r, c, QTableWidgetItem(text))
        self.differences.resizeColumnsToContents()
