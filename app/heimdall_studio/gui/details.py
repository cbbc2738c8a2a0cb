"""Details of the selected dataset: config, receivers, history, distributions and map, and
the IQ records of an iq_raw dataset (`iq_view`).

Config, receivers and history come from the header the listing already read, so they show
at once. The distributions and the map need samples: a worker thread reads and reduces them
(`summary.summarize_dataset`) while the window stays responsive; a result that arrives
after the selection moved on is dropped. A read that fails says why in the pane; samples
found damaged are also reported (`samples_refused`), since the listing read only the
header. A file being written is not damaged: its samples are read once, and again when its
writer has ended; one that cannot be read for a moment is tried again a second later.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.api import DatasetEntry
from ..core.config.params import (
    CONFIG_PARAMS,
    MEASUREMENT_PARAMS,
    PROPAGATION_PARAMS,
    RECEIVER_PARAMS,
    unit_of,
)
from ..core.config.units import format_size
from ..core.dataset.layout import HISTORY_FIELDS, HistoryRow
from ..core.dataset.reader import DatasetHeader, read_header
from ..core.errors import DatasetBusyError, DatasetFormatError, DatasetInUseError, HeimdallError
from .browser import writer_text
from .iq_view import IqView
from .jobs import describe_error
from .map_view import MapPanel
from .plots import HistogramPlot
from .receivers import RECEIVER_TITLES, receiver_rows
from .sample_table import SampleView
from .summary import DatasetSummary, summarize_dataset
from .threads import work_for

log = logging.getLogger(__name__)

# The history row's titled columns, with after the candidates the acceptance they imply.
HISTORY_SHOWN = tuple(f for f in HISTORY_FIELDS if f.label)
HISTORY_TITLES = tuple(title for f in HISTORY_SHOWN for title in
                        ((f.label, "Acceptance") if f.name == "candidates" else (f.label,)))


def history_cells(row: HistoryRow) -> tuple[object, ...]:
    """One run's cells, in HISTORY_TITLES order."""
    cells: list[object] = []
    for f in HISTORY_SHOWN:
        value = getattr(row, f.name)
        if f.name == "started_utc":
            value = value.replace("T", " ").rstrip("Z")
        elif f.unit:
            value = f"{value:.1f} {f.unit}"
        cells.append(value)
        if f.name == "candidates":
            cells.append(f"{100 * row.count / row.candidates:.1f}%" if row.candidates
                         else "–")
    return tuple(cells)


def _table(columns: tuple[str, ...], name: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    # No stretched last column: squeezed into the room the others leave, it clips its
    # values; the table scrolls sideways instead.
    table.horizontalHeader().setStretchLastSection(False)
    table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    return table


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:  # not drawn: a receiver of a dataset older than generator version 4
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _fill(table: QTableWidget, rows: list[tuple[object, ...]]) -> None:
    """Show `rows`, touching only the cells whose text changed: a dataset being written
    is listed again several times a second, and rebuilding every cell costs frames."""
    if table.rowCount() != len(rows):
        table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            text = _cell_text(value)
            item = table.item(r, c)
            if item is None:
                item = QTableWidgetItem(text)
                if not isinstance(value, str):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)
            elif item.text() != text:
                item.setText(text)


def config_rows(header: DatasetHeader) -> list[tuple[str, str, str]]:
    """(parameter, value, unit) for the file facts and the whole config; parameters the
    dataset's generator version does not read are left out."""
    c = header.config
    version = header.generator_version
    rows = [("samples", f"{header.num_samples:,}", ""),
            ("size", format_size(header.size_bytes), ""),
            ("created_utc", header.created_utc, ""), ("app_version", header.app_version, ""),
            ("generator_version", str(version), "")]
    for param in CONFIG_PARAMS:
        if param.read_by(version):
            rows.append((param.path, param.text(getattr(c, param.key)), param.unit))
    rows.append(("receivers", f"{len(c.receivers)} (see Receivers)", ""))
    for param in PROPAGATION_PARAMS:
        if param.read_by(version):
            rows.append(_row(param.path, getattr(c.propagation, param.key)))
    for key, value in c.propagation.terrain.to_dict().items():
        rows.append(_row(f"propagation.terrain.{key}", value))
    for param in MEASUREMENT_PARAMS:
        if param.read_by(version):
            rows.append((param.path, param.text(getattr(c.measurement, param.key)),
                         param.unit))
    return rows


def _row(path: str, value: object) -> tuple[str, str, str]:
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list):  # the grid's bounds
        text = ", ".join(f"{v:.4f}" for v in value)
    else:
        text = str(value)
    return path, text, unit_of(path)


class DetailsPanel(QWidget):
    """Everything about one dataset."""

    summary_loaded = Signal(object)  # DatasetSummary now shown
    samples_refused = Signal(object, str)  # path, why: its samples are damaged

    BUSY_RETRY_MS = 1000
    LIVE_READ_S = 1.0  # a run's header is read again at most this often
    create_requested = Signal()  # the empty state's button

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dataset_details")
        self.entry: DatasetEntry | None = None
        self.summary: DatasetSummary | None = None
        self._loaded_key: tuple[Path, int] | None = None
        self._load_serial = 0
        self.loading = False
        self._retry = QTimer(self, singleShot=True, interval=self.BUSY_RETRY_MS)
        self._live_reading = False  # a header read during a run is on its way
        self._live_read_at = -self.LIVE_READ_S
        self._retry.timeout.connect(self.load_summary)

        # One-line labels that never ask for more room: text that changes at every commit
        # must not re-layout (and so repaint) the plots around it.
        self.title = QLabel(objectName="details_title")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel(objectName="sample_note")
        self.note.setStyleSheet("color: #606060;")
        for label in (self.title, self.note):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        self.config_table = _table(("Parameter", "Value", "Unit"), "config_table")
        header = self.config_table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.receiver_table = _table(RECEIVER_TITLES, "receiver_table")
        self.history_table = _table(HISTORY_TITLES, "history_table")
        self.info_tabs = QTabWidget(objectName="info_tabs")
        self.info_tabs.addTab(self.config_table, "Configuration")
        self.info_tabs.addTab(self.receiver_table, "Receivers")
        self.info_tabs.addTab(self.history_table, "History")

        self.snr_plot = HistogramPlot("SNR of detecting links", "SNR (dB)", "links")
        self.gdop_plot = HistogramPlot("GDOP", "GDOP", "samples")
        self.detected_plot = HistogramPlot("Receivers detecting", "receivers", "samples")
        self.distance_plot = HistogramPlot("Distance of detecting links", "distance (km)",
                                           "links")
        distributions = QWidget(objectName="distributions")
        grid = QGridLayout(distributions)
        grid.setContentsMargins(2, 2, 2, 2)
        for i, plot in enumerate((self.snr_plot, self.gdop_plot, self.detected_plot,
                                  self.distance_plot)):
            grid.addWidget(plot, i // 2, i % 2)
        self.map_panel = MapPanel()
        self.map_plot = self.map_panel.view
        self.plot_tabs = QTabWidget(objectName="plot_tabs")
        self.plot_tabs.addTab(distributions, "Distributions")
        self.plot_tabs.addTab(self.map_panel, "Map")
        self.iq_view = IqView()
        self.iq_tab = self.plot_tabs.addTab(self.iq_view, "IQ")
        self.sample_view = SampleView()
        self.samples_tab = self.plot_tabs.addTab(self.sample_view, "Samples")
        # The note is about the distributions; the IQ and Samples tabs have lines of their own.
        self.plot_tabs.currentChanged.connect(
            lambda index: self.note.setVisible(index not in (self.iq_tab, self.samples_tab)))

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.info_tabs)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.plot_tabs, 1)
        right_layout.addWidget(self.note)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([520, 880])
        self.splitter = splitter
        content = QWidget(objectName="details_content")
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addWidget(self.title)
        content_layout.addWidget(splitter, 1)
        self.stack = QStackedWidget(objectName="details_stack")
        self.stack.addWidget(self._build_empty_state())
        self.stack.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self.show_entry(None)

    def _build_empty_state(self) -> QWidget:
        """What shows while no dataset is selected: what to do, and a button to do it,
        rather than empty tables and plots."""
        page = QWidget(objectName="empty_state")
        self.empty_text = QLabel(objectName="empty_text", wordWrap=True)
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.create_button = QPushButton("Create your first dataset",
                                         objectName="create_first_dataset")
        self.create_button.setToolTip("Choose the parameters of a dataset and generate it")
        self.create_button.clicked.connect(self.create_requested)
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        layout.addWidget(self.empty_text)
        layout.addWidget(self.create_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        self.set_dataset_count(0)
        return page

    def set_dataset_count(self, count: int) -> None:
        """The empty state's words follow the workspace: none yet, or some to choose."""
        if count:
            self.empty_text.setText(f"{count:,} dataset{'s' if count != 1 else ''} in this "
                                    "workspace: select one above to see its parameters, "
                                    "history, distributions and map.")
            self.create_button.setText("New dataset…")
        else:
            self.empty_text.setText("<b>No datasets in this workspace yet.</b><br>A dataset "
                                    "holds simulated transmitters and what the receiver "
                                    "network measures of them.")
            self.create_button.setText("Create your first dataset")

    # -- what is shown ---------------------------------------------------------

    def show_entry(self, entry: DatasetEntry | None, busy: bool = False) -> None:
        """Show a dataset (or nothing). `busy`: a run of ours is writing it right now, so
        its samples are reloaded when the run ends rather than at every commit."""
        previous = self.entry
        self.entry = entry
        self._show_iq(entry, busy)
        self.sample_view.set_dataset(entry, busy)
        self.stack.setCurrentIndex(0 if entry is None else 1)
        if entry is None:
            self._clear("Select a dataset to see its parameters, history and distributions.")
            return
        if entry.header is None:
            if entry.writer is not None:  # not damaged: unreadable while it is written
                self._clear(f"<b>{entry.name}</b> is being written by {writer_text(entry)} "
                            "and cannot be read at this moment")
            else:
                self._clear(f"<b>{entry.name}</b> cannot be read: {entry.error}")
                self.title.setStyleSheet("color: #b3261e;")
            self.title.setToolTip(entry.error or "")
            return
        header = entry.header
        self.title.setStyleSheet("")
        self.title.setToolTip(str(entry.path))
        self._set_title(header.num_samples)
        _fill(self.config_table, config_rows(header))
        _fill(self.receiver_table, receiver_rows(header.config.receivers))
        for column, param in enumerate(RECEIVER_PARAMS):  # those its generator reads
            self.receiver_table.setColumnHidden(column, not param.read_by(header.generator_version))
        _fill(self.history_table, [history_cells(h) for h in header.history])
        key = (entry.path, header.num_samples)
        same_dataset = previous is not None and previous.path == entry.path
        # A file another process writes is read once, not at every commit (several a
        # second), which would redraw five plots each time; again when the writer ends.
        read_once = entry.writer is not None and not busy and same_dataset and (
            self.loading or self._loaded_key is not None)
        if key == self._loaded_key or read_once:
            if not self.loading and not busy:
                self._show_summary_note()
            return
        if busy:
            # Drawing five plots in one go would stall the window during the run, whose
            # own live plots show the distributions meanwhile.
            if not same_dataset:
                self._clear_distributions()
            # The map follows the samples as they are committed (`set_sample_count`).
            self.map_panel.follow(entry.path, header.config)
            self.note.setText("A run is writing this dataset: its distributions are in the "
                              "live plots below and appear here when it ends.")
            return
        self.load_summary()

    def _show_iq(self, entry: DatasetEntry | None, busy: bool) -> None:
        """The IQ tab is open for iq_raw datasets only."""
        shown = IqView.shows(entry)
        if not shown and self.plot_tabs.currentIndex() == self.iq_tab:
            self.plot_tabs.setCurrentIndex(0)
        self.plot_tabs.setTabEnabled(self.iq_tab, shown)
        self.plot_tabs.setTabToolTip(
            self.iq_tab, "Each receiver's recorded baseband: spectrum, waterfall and audio"
            if shown else "Only iq_raw datasets hold IQ records (choose Type iq_raw when "
            "creating a dataset)")
        self.iq_view.set_dataset(entry, busy)

    def _set_title(self, num_samples: int) -> None:
        entry = self.entry
        assert entry is not None and entry.header is not None
        self.title.setText(f"<b>{entry.name}</b> · {num_samples:,} samples · "
                           f"{entry.header.config.frequency_mhz:g} MHz · {entry.path}")

    def set_sample_count(self, path: Path, count: int) -> None:
        """The dataset a run of ours is writing has `count` samples, as its progress says
        (the file is not listed again while the run writes it)."""
        if self.entry is None or self.entry.path != path or self.entry.header is None:
            return
        self._set_title(count)
        self.config_table.item(0, 1).setText(f"{count:,}")  # config_rows puts samples first
        self.map_panel.samples_committed(path, count)
        self._read_live(path)

    def _read_live(self, path: Path) -> None:
        """Read the header of the file being written, off the GUI thread and at most every
        LIVE_READ_S, so that its size and history follow the run (its row counts only
        the run's progress)."""
        now = time.monotonic()
        if self._live_reading or now - self._live_read_at < self.LIVE_READ_S:
            return
        self._live_reading, self._live_read_at = True, now
        work_for(self, read_header, path, False,
                 returned=lambda header: self._show_live(path, header),
                 errored=lambda exc: log.debug("reading %s during its run: %s", path, exc),
                 finished=lambda: setattr(self, "_live_reading", False))

    def _show_live(self, path: Path, header: DatasetHeader) -> None:
        if self.entry is None or self.entry.path != path or self.entry.header is None:
            return
        self.config_table.item(1, 1).setText(format_size(header.size_bytes))  # size second
        _fill(self.history_table, [history_cells(h) for h in header.history])

    def reload(self) -> None:
        """Read the samples again (F5)."""
        self._loaded_key = None
        if self.entry is not None and self.entry.header is not None:
            self.load_summary()
            self.iq_view.reload()

    def _clear(self, message: str) -> None:
        self.title.setText(message)
        self.title.setStyleSheet("")
        self.note.setText("")
        for table in (self.config_table, self.receiver_table, self.history_table):
            table.setRowCount(0)
        self._clear_distributions()

    def _clear_distributions(self) -> None:
        self._load_serial += 1  # drop any load in flight
        self._retry.stop()
        self.loading = False
        self.summary = None
        self._loaded_key = None
        for plot in (self.snr_plot, self.gdop_plot, self.detected_plot, self.distance_plot,
                     self.map_panel):
            plot.clear_data()

    # -- loading samples -------------------------------------------------------

    def load_summary(self) -> None:
        entry = self.entry
        assert entry is not None and entry.header is not None
        self._retry.stop()
        self._load_serial += 1
        serial, path = self._load_serial, entry.path
        self.loading = True
        self.note.setText("Reading samples…")
        work_for(self, summarize_dataset, path,
                 returned=lambda s: self._loaded(serial, s),
                 errored=lambda exc: self._load_failed(serial, path, exc))

    def _loaded(self, serial: int, summary: DatasetSummary) -> None:
        if serial != self._load_serial:
            return  # the selection moved on meanwhile
        self.loading = False
        self.summary = summary
        self._loaded_key = (summary.path, summary.num_samples)
        plots = {"snr_db": self.snr_plot, "gdop": self.gdop_plot,
                 "num_receivers_detected": self.detected_plot,
                 "distance_km": self.distance_plot}
        for key, plot in plots.items():
            histogram = summary.histograms.get(key)
            if histogram is None:
                plot.clear_data()
            else:
                plot.set_histogram(histogram.edges, histogram.counts)
        self.map_panel.show_dataset(summary.path, summary.map)
        self._show_summary_note()
        self.summary_loaded.emit(summary)

    def _show_summary_note(self) -> None:
        summary, entry = self.summary, self.entry
        if summary is None or entry is None:
            return
        if entry.writer is not None:
            self.note.setText(f"{writer_text(entry).capitalize()} is writing this dataset: "
                              f"these are the distributions of its first "
                              f"{summary.num_samples:,} samples, read again when that ends.")
            return
        self.note.setText(f"Distributions and map over all {summary.num_samples:,} samples.")

    def _load_failed(self, serial: int, path: Path, exc: Exception) -> None:
        """Why the samples cannot be read, in the pane. Only damage makes the file
        unreadable (`samples_refused`): a file being written is read again in a second,
        one another program holds when Refresh asks."""
        if serial != self._load_serial:
            return
        self.loading = False
        if isinstance(exc, DatasetBusyError):
            self.note.setText("The file is being written and cannot be read at this "
                              "moment; reading it again in a second…")
            self._retry.start()
        elif isinstance(exc, DatasetInUseError):
            self.note.setText(f"{exc} (Refresh reads it again).")
        else:
            if not isinstance(exc, HeimdallError):
                log.error("reading the samples of %s failed", path, exc_info=exc)
            self.note.setText(f"Cannot read the samples: {describe_error(exc)}")
            if isinstance(exc, DatasetFormatError):
                self.samples_refused.emit(path, str(exc))
