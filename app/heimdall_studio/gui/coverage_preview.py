"""The New dataset dialog's coverage preview: maps, predicted acceptance, run time, warnings.

Each change of the form asks for a preview a moment later (DEBOUNCE_MS, so that typing a
number asks once). The preview is computed in a process of its own
(`core.runs.preview.PreviewProcess`: the window's process never loads numba); a superqt
worker in the thread pool relays what comes back, and only the GUI thread draws it. Only
the newest request is shown: an answer to an older one is dropped, and while the terrain
is prepared for a new network the last maps stay, with a note saying so.

The maps are drawn on the app's map (`MapView`: relief, coastlines, borders, the labelled
network) as its translucent background, with a colour bar in the field's units. The map
is framed again only when the training box changes, so a zoom survives other edits.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget
from superqt.utils import create_worker

from ..core.config.model import DatasetConfig
from ..core.runs.preview import (
    Coverage,
    PreviewFailed,
    PreviewPreparing,
    PreviewProcess,
    PreviewReady,
    PreviewUpdate,
)
from .map_view import GDOP_SHOWN_MAX, MapView
from .threads import ClosingWorker

DEBOUNCE_MS = 100
WARNING_STYLE = "color: #8a5a00;"
# The maps: (title, colour bar label, colour map); GDOP is capped for colour.
MAPS = {
    "detections": ("Expected detecting receivers", "receivers", "viridis"),
    "gdop": ("GDOP of the likely detecting receivers", "GDOP", "plasma"),
}
MAP_OPACITY = 0.7  # the relief shows through the maps


def error_points(error: float) -> str:
    """A standard error (a fraction) in percentage points, never shown as zero."""
    points = 100 * error
    return f"{points:.1f} points" if points >= 0.05 else "less than 0.1 points"


class CoveragePreview(QWidget):
    """Maps over the training box and the predictions of the config last requested."""

    updated = Signal()  # a preview of the newest request is shown (or its failure)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("coverage_panel")  # "coverage_preview" is its map
        self.coverage: Coverage | None = None
        self._values: np.ndarray | None = None  # the map shown, row 0 south
        self._framed: tuple[float, float, float, float] | None = None  # its training box
        self._config: DatasetConfig | None = None
        self._submitted: DatasetConfig | None = None  # the config of the newest request
        self._num_samples = 0
        self._latest = 0  # the newest request's number
        self._process: PreviewProcess | None = None
        self._worker: ClosingWorker | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._submit)
        self._build()

    def _build(self) -> None:
        self.map_choice = QComboBox(objectName="coverage_map")
        for key, (title, _, _) in MAPS.items():
            self.map_choice.addItem(title, key)
        self.map_choice.currentIndexChanged.connect(self._draw)
        self.map = MapView(title="")
        self.map.setObjectName("coverage_preview")
        self.map.setMinimumSize(320, 260)
        self.map.background.setOpacity(MAP_OPACITY)
        self.predicted_acceptance = QLabel("–", objectName="predicted_acceptance")
        self.predicted_acceptance.setStyleSheet("font-weight: bold; font-size: 14pt;")
        self.estimate = QLabel(objectName="coverage_estimate", wordWrap=True)
        self.status = QLabel("Preview starting…", objectName="coverage_status",
                             wordWrap=True)
        self.warnings = QLabel(objectName="coverage_warnings", wordWrap=True)
        self.warnings.setStyleSheet(WARNING_STYLE)
        top = QHBoxLayout()
        top.addWidget(QLabel("Predicted acceptance:"))
        top.addWidget(self.predicted_acceptance)
        top.addStretch(1)
        top.addWidget(self.map_choice)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.map, 1)
        layout.addWidget(self.estimate)
        layout.addWidget(self.status)
        layout.addWidget(self.warnings)

    # -- requests ------------------------------------------------------------------

    def request(self, config: DatasetConfig, num_samples: int) -> None:
        """Preview `config` (for a run of `num_samples`) shortly, unless another comes."""
        self._config, self._num_samples = config, num_samples
        if self.coverage is not None:
            self._show_estimate(self.coverage)  # the count changes the time at once
        if config == self._submitted:
            self._timer.stop()  # only the count changed, or nothing
            return
        self._timer.start()

    def clear(self, reason: str) -> None:
        """No valid config to preview: say why, keep the last maps."""
        self._config = self._submitted = None
        self._timer.stop()
        self.status.setText(f"Preview paused: {reason}")

    def _submit(self) -> None:
        if self._config is None:
            return
        if self._process is None:
            self._start_process()
        assert self._process is not None
        self._latest = self._process.submit(self._config)
        self._submitted = self._config
        if self.coverage is None:
            self.status.setText("Computing the preview…")

    def _start_process(self) -> None:
        try:
            self._process = PreviewProcess()
        except OSError as exc:
            self.status.setText(f"No coverage preview: cannot start its process "
                                f"({exc.strerror or exc})")
            return
        self.destroyed.connect(self._process.close)  # a dialog deleted while open
        worker = create_worker(self._process.updates, _worker_class=ClosingWorker,
                               _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._received)
        # Bound methods, not lambdas: Qt drops them with the panel, should it be deleted
        # before the worker's last signal arrives.
        worker.errored.connect(self._stopped)
        self._worker = worker
        worker.start()

    def close_preview(self) -> None:
        """End the preview's process (the dialog is done); its worker ends with it, and
        nothing it still relays reaches this panel, which may be deleted before it ends."""
        self._timer.stop()
        if self._worker is not None:
            self._worker.yielded.disconnect(self._received)
            self._worker.errored.disconnect(self._stopped)
            self._worker.quit()
            self._worker = None
        if self._process is not None:
            self._process.close()
            self._process = None  # a later request starts another

    # -- results ---------------------------------------------------------------

    def _stopped(self, exc: Exception) -> None:
        self.status.setText(f"The coverage preview stopped: {exc}")

    def _received(self, update: PreviewUpdate) -> None:
        if update.request != self._latest:
            return  # an answer to an older request
        if isinstance(update, PreviewPreparing):
            self.status.setText(f"Preparing terrain… {100 * update.share:.0f} % (the "
                                "maps shown are of the previous parameters)")
            return
        if isinstance(update, PreviewFailed):
            self.status.setText(f"No preview: {update.message}")
        elif isinstance(update, PreviewReady):
            self._show(update.coverage)
        self.updated.emit()

    def _show(self, coverage: Coverage) -> None:
        self.coverage = coverage
        if coverage.unfillable is not None:
            self.predicted_acceptance.setText(f"< {100 / 10_000:.2f} %")
        else:
            self.predicted_acceptance.setText(f"{100 * coverage.acceptance:.1f} %")
        self.predicted_acceptance.setToolTip(
            f"{coverage.kept:,} of {coverage.candidates:,} candidates kept by the "
            f"generator's own draws; standard error "
            f"{100 * coverage.acceptance_error:.2f} points")
        self.status.setText(f"Preview of the current parameters "
                            f"(± {error_points(coverage.acceptance_error)}).")
        self.warnings.setText("\n".join(f"Warning: {w}" for w in coverage.warnings))
        self._show_estimate(coverage)
        self.map.set_relief(coverage.relief, coverage.relief_bounds)
        self.map.set_network(coverage.receiver_names, coverage.receiver_lat,
                             coverage.receiver_lon, coverage.receiver_box,
                             coverage.training_box)
        if coverage.training_box != self._framed:
            self.map.frame(coverage.training_box)  # a zoom stays while the box does
            self._framed = coverage.training_box
        self._draw()

    def _show_estimate(self, coverage: Coverage) -> None:
        from .job_panel import format_duration  # job_panel imports the dialogs' module

        rate = coverage.samples_per_s
        seconds = self._num_samples / rate if rate > 0 and coverage.unfillable is None \
            else math.inf
        self.estimate.setText(
            f"Run time for {self._num_samples:,} samples: about {format_duration(seconds)} "
            f"(an estimate from the preview's own speed, {rate:,.0f} samples/s here, "
            "without the time the file takes to write).")

    def _draw(self) -> None:
        """The chosen map, its colour bar and its title."""
        coverage = self.coverage
        if coverage is None:
            return
        key = self.map_choice.currentData()
        title, label, colors = MAPS[key]
        if key == "gdop":
            values = np.where(np.isfinite(coverage.gdop), coverage.gdop, np.nan)
            values = np.minimum(values, GDOP_SHOWN_MAX)
            levels = (1.0, GDOP_SHOWN_MAX)
        else:
            values = coverage.detections
            levels = (0.0, max(3.0, float(len(coverage.receiver_names))))
        self._values = values.astype(np.float32)
        color_map = pg.colormap.get(colors)
        # The maps' row 0 is south, the background's north.
        self.map.set_background(self._values[::-1], coverage.bounds, color_map, levels)
        bar = self.map.color_bar
        bar.setColorMap(color_map)
        bar.setLevels(values=levels)
        bar.axis.setLabel(label)
        bar.setVisible(True)
        self.map.setTitle(title, size="10pt")

    def map_values(self) -> np.ndarray | None:
        """The values of the map shown, row 0 south (what tests check)."""
        return self._values
