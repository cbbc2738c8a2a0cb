"""The samples of a dataset as a table that scrolls through any number of them at once.

`SampleTableModel` is virtual: it holds no samples, only the pages of `PAGE_ROWS` rows
that the view has asked for lately (an LRU of `CACHED_PAGES`), each read as a slice of
the file (`core.dataset.reader.read_samples`) in a worker thread, so scrolling ten
million rows reads the few pages shown and the window never waits for a read. A cell of
a page not yet read shows "…" until it arrives. A per-receiver field is one column per
receiver (`snr_db[Torino]`); an IQ dataset's records are no column (the IQ tab shows
them), only the fields around them are read.

The model follows a dataset that grows (`set_row_count`: a short last page is read again
once rows are added to it) and one whose file disappears (cleared, with a sentence).
`SampleView` is the Samples tab: the table, "Go to sample" and a note.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.api import DatasetEntry
from ..core.config.fields import (
    CONSTANT_FIELDS,
    IQ_SCALE_FIELD,
    MEASUREMENT_FIELDS,
    PER_RECEIVER_FIELDS,
    RECORD_FIELDS,
)
from ..core.dataset.reader import DatasetHeader, read_header, read_samples
from ..core.errors import DatasetBusyError, DatasetInUseError
from .jobs import describe_error
from .threads import work_for

log = logging.getLogger(__name__)

PAGE_ROWS = 4096
CACHED_PAGES = 8  # a screenful spans at most two pages: the rest is for scrolling back
BUSY_RETRY_MS = 500  # a page of a file being written that cannot be read this moment
GROWTH_POLL_MS = 1000  # how often the count of a dataset being written is read again
PENDING_TEXT = "…"
NOT_DETECTED_TEXT = "–"  # NaN: a receiver that did not detect the signal
# A field's unit from its name's suffix (docs/file-format.md names every field so).
UNIT_SUFFIXES = (("_dbm", "dBm"), ("_db", "dB"), ("_hz", "Hz"), ("_km", "km"),
                 ("_ns", "ns"), ("_deg", "°"), ("_m", "m"))
DEGREE_FIELDS = ("tx_lat", "tx_lon")  # degrees to 6 decimals: about 0.1 m
_DISPLAY_ROLE = int(Qt.ItemDataRole.DisplayRole)
_ALIGNMENT_ROLE = int(Qt.ItemDataRole.TextAlignmentRole)
_CELL_ALIGNMENT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class Column:
    """One column of the table: a field, or one receiver's value of a per-receiver one."""

    field: str
    receiver: int | None  # the receiver's position in the config, for a per-receiver field
    title: str
    tooltip: str


def field_unit(name: str) -> str:
    if name in DEGREE_FIELDS:
        return "°"
    return next((unit for suffix, unit in UNIT_SUFFIXES if name.endswith(suffix)), "")


def sample_columns(fields: list[str], receivers: list[str]) -> list[Column]:
    """The columns of `fields`, one per receiver for the per-receiver ones, titled as the
    CSV export's; the tooltip says the unit and whether a real network measures it."""
    columns = []
    for name in fields:
        unit = field_unit(name)
        kind = ("measurement" if name in MEASUREMENT_FIELDS else
                "the config's, the same in every sample" if name in CONSTANT_FIELDS
                else "ground truth")
        about = f"{f'in {unit}' if unit else 'no unit'}; {kind}"
        if name in PER_RECEIVER_FIELDS:
            columns += [Column(name, r, f"{name}[{rx}]",
                               f"{name} at receiver {rx}, {about} ({NOT_DETECTED_TEXT} "
                               "where the value is NaN)")
                        for r, rx in enumerate(receivers)]
        else:
            columns.append(Column(name, None, name, f"{name}, {about}"))
    return columns


def cell_text(value: object, field: str) -> str:
    """A value as the table shows it: plain digits, never an exponent ("433,920,000",
    "12.35", "0.0042"); degrees to 6 decimals; yes/no for flags."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    x = float(value)  # type: ignore[arg-type]
    if np.isnan(x):
        return NOT_DETECTED_TEXT
    if field in DEGREE_FIELDS:
        return f"{x:.6f}"
    magnitude = abs(x)
    if magnitude >= 1000 or not np.isfinite(x):
        return f"{x:,.0f}"
    if magnitude >= 100:
        return f"{x:.1f}"
    if magnitude >= 1 or x == 0:
        return f"{x:.2f}"
    return f"{x:.4f}"


class SampleSource(Protocol):
    """Where the model reads rows: a dataset file, or any other table (tests)."""

    columns: list[Column]

    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows [start, stop) of every field of `columns`; called in a worker thread."""
        ...


class DatasetSource:
    """The feature fields of a dataset file (no IQ records: the IQ tab shows those)."""

    def __init__(self, header: DatasetHeader):
        self.path = header.path
        self.fields = tuple(f for f in header.fields
                            if f not in RECORD_FIELDS and f != IQ_SCALE_FIELD)
        self.has_records = any(f in RECORD_FIELDS for f in header.fields)
        self.columns = sample_columns(list(self.fields),
                                      [r.name for r in header.config.receivers])

    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        return read_samples(self.path, start, stop, self.fields)[1]


@dataclass
class _Page:
    arrays: dict[str, np.ndarray]
    rows: int  # rows it holds
    asked: int  # rows it was asked for (more than it holds: the file held fewer)


class SampleTableModel(QAbstractTableModel):
    """Rows of a `SampleSource`, read page by page on demand (see the module)."""

    page_loaded = Signal(int)  # page number
    failed = Signal(str)  # the source cannot be read any more: the model is cleared

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source: SampleSource | None = None
        self.columns: list[Column] = []
        self.rows = 0
        self.pages: OrderedDict[int, _Page] = OrderedDict()
        self.pending: set[int] = set()
        self.page_reads = 0  # pages asked of the source (tests count them)
        self._generation = 0  # bumped when the source changes: late pages are dropped

    # -- what is shown ---------------------------------------------------------

    def set_source(self, source: SampleSource | None, rows: int = 0) -> None:
        self.beginResetModel()
        self._generation += 1
        self.source = source
        self.columns = list(source.columns) if source is not None else []
        self.rows = rows if source is not None else 0
        self.pages.clear()
        self.pending.clear()
        self.endResetModel()

    def clear(self) -> None:
        self.set_source(None)

    def set_row_count(self, rows: int) -> None:
        """The source holds `rows` rows now (a dataset being written grows)."""
        if self.source is None or rows == self.rows:
            return
        if rows < self.rows:  # not a dataset growing: another file under its name
            self.set_source(self.source, rows)
            return
        self.beginInsertRows(QModelIndex(), self.rows, rows - 1)
        self.rows = rows
        self.endInsertRows()
        for page, held in list(self.pages.items()):  # a short page now has more rows
            wanted = min(PAGE_ROWS, rows - page * PAGE_ROWS)
            if held.asked < wanted:
                self._changed(page, held.rows, wanted)

    # -- Qt's model interface ------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self.rows

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()
                    ) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == _ALIGNMENT_ROLE:
            return _CELL_ALIGNMENT
        if role != _DISPLAY_ROLE or not index.isValid():
            return None
        return self._text(index.row(), index.column())

    def multiData(self, index: QModelIndex | QPersistentModelIndex,
                  roleDataSpan: QModelRoleDataSpan) -> None:
        """Every role a cell's painting asks for, in one call. Qt's delegate asks for
        seven roles per cell; answered one `data()` call each, every call would cross
        into Python and take the GIL again, which a paint during a run pays dearly for."""
        text = self._text(index.row(), index.column()) if index.isValid() else None
        for role_data in roleDataSpan:
            role = role_data.role()
            if role == _DISPLAY_ROLE and text is not None:
                role_data.setData(text)
            elif role == _ALIGNMENT_ROLE:
                role_data.setData(_CELL_ALIGNMENT)
            else:
                role_data.clearData()

    def _text(self, row: int, column_number: int) -> str:
        """What a cell shows ("…" while its page is being read)."""
        column = self.columns[column_number]
        page = self._page(row // PAGE_ROWS)
        offset = row % PAGE_ROWS
        if page is None or offset >= page.rows:
            return PENDING_TEXT
        values = page.arrays[column.field]
        value = values[offset] if column.receiver is None else values[offset, column.receiver]
        return cell_text(value, column.field)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Vertical:
            return str(section) if role == Qt.ItemDataRole.DisplayRole else None
        if not 0 <= section < len(self.columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.columns[section].tooltip
        return None

    # -- pages -----------------------------------------------------------------------

    def value(self, row: int, column: int) -> str:
        """What the cell shows (reading its page if need be)."""
        return str(self.data(self.index(row, column)))

    def _page(self, page: int) -> _Page | None:
        """The page if it is read (a short one is read again once it has more rows);
        else None, and it is read."""
        held = self.pages.get(page)
        if held is not None:
            self.pages.move_to_end(page)
            if held.asked < min(PAGE_ROWS, self.rows - page * PAGE_ROWS):
                self._request(page)
            return held
        self._request(page)
        return None

    def _request(self, page: int) -> None:
        if page in self.pending or self.source is None:
            return
        self.pending.add(page)
        self.page_reads += 1
        start = page * PAGE_ROWS
        stop = min(self.rows, start + PAGE_ROWS)
        generation = self._generation
        work_for(self, self.source.read, start, stop,
                 returned=lambda arrays: self._arrived(generation, page, stop - start, arrays),
                 errored=lambda exc: self._read_failed(generation, page, exc))

    def _arrived(self, generation: int, page: int, asked: int,
                 arrays: dict[str, np.ndarray]) -> None:
        if not self._current(generation):
            return
        self.pending.discard(page)
        rows = min((len(v) for v in arrays.values()), default=0)
        self.pages[page] = _Page(arrays, rows, asked)
        self.pages.move_to_end(page)
        while len(self.pages) > CACHED_PAGES:
            self.pages.popitem(last=False)
        self._changed(page, 0, rows)
        self.page_loaded.emit(page)

    def _current(self, generation: int) -> bool:
        """Whether a page read under `generation` is still wanted: the source is the
        same. (A read that ends after the model was deleted reaches nothing:
        `work_for`, and the retry's timer is the model's.)"""
        return generation == self._generation

    def _retry(self, generation: int, page: int) -> None:
        """Repaint the page's rows, so that the view asks for them again."""
        if self._current(generation):
            self._changed(page, 0, PAGE_ROWS)

    def _changed(self, page: int, first: int, stop: int) -> None:
        start = page * PAGE_ROWS
        end = min(self.rows, start + max(stop, first + 1)) - 1
        if end >= start + first and self.columns:
            self.dataChanged.emit(self.index(start + first, 0),
                                  self.index(end, len(self.columns) - 1))

    def _read_failed(self, generation: int, page: int, exc: Exception) -> None:
        if not self._current(generation):
            return
        self.pending.discard(page)
        if isinstance(exc, (DatasetBusyError, DatasetInUseError)):
            # being written, unreadable for a moment: the view asks again in a while
            QTimer.singleShot(BUSY_RETRY_MS, self, lambda: self._retry(generation, page))
            return
        log.warning("cannot read samples: %s", describe_error(exc))
        self.clear()
        self.failed.emit(describe_error(exc))


class SampleView(QWidget):
    """The Samples tab: the selected dataset's samples, "Go to sample" and a note."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sample_view")
        self.path: Path | None = None
        self._config_json = ""
        self.model = SampleTableModel(self)
        self.model.failed.connect(self._failed)
        self.table = QTableView(objectName="sample_table")
        self.table.setModel(self.model)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        rows = self.table.verticalHeader()
        # Uniform rows: a fixed height needs no row to be measured, at any row count.
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(22)
        self.table.horizontalHeader().setDefaultSectionSize(120)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.goto = QSpinBox(objectName="goto_sample")
        self.goto.setRange(0, 0)
        self.goto.setGroupSeparatorShown(True)
        self.goto.setKeyboardTracking(False)  # go when the number is typed, not per digit
        self.goto.setToolTip("Scroll to this sample (its index in the dataset)")
        self.goto.valueChanged.connect(self.go_to)
        self.note = QLabel(objectName="samples_note")
        self.note.setStyleSheet("color: #606060;")
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        top = QHBoxLayout()
        top.addWidget(QLabel("Go to sample"))
        top.addWidget(self.goto)
        top.addWidget(self.note, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        # The count of a dataset being written, read again while the tab shows it.
        self._growth = QTimer(self, interval=GROWTH_POLL_MS)
        self._growth.timeout.connect(self._poll_count)
        self._polling = False
        self._records_note = ""
        self.set_dataset(None)

    def set_dataset(self, entry: DatasetEntry | None, busy: bool = False) -> None:
        """Show a dataset's samples (or none). The same dataset again only updates the
        count. `busy`: a run of ours writes it, so its count is read as it grows."""
        header = entry.header if entry is not None else None
        if entry is None or header is None:
            self.path = None
            self._growth.stop()
            self.model.clear()
            self.goto.setRange(0, 0)
            self.note.setText("" if entry is None else "The samples cannot be read.")
            return
        if entry.path != self.path or header.config_json != self._config_json:
            # another dataset, or another file under the same name
            self.path, self._config_json = entry.path, header.config_json
            source = DatasetSource(header)
            self._records_note = (" IQ records are not shown as columns: the IQ tab shows "
                                  "them." if source.has_records else "")
            self.model.set_source(source, header.num_samples)
        else:
            self.set_sample_count(entry.path, header.num_samples)
        if busy or entry.writer is not None:
            self._growth.start()
        else:
            self._growth.stop()
        self._show_count()

    def set_sample_count(self, path: Path, count: int) -> None:
        """The dataset shown holds `count` samples now."""
        if path == self.path and count > self.model.rows:
            self.model.set_row_count(count)
            self._show_count()

    def go_to(self, row: int) -> None:
        if not 0 <= row < self.model.rows:
            return
        index = self.model.index(row, 0)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        self.table.selectRow(row)
        if self.goto.value() != row:
            self.goto.setValue(row)

    def _show_count(self) -> None:
        rows = self.model.rows
        self.goto.setRange(0, max(0, rows - 1))
        self.note.setText(f"{rows:,} samples, {len(self.model.columns)} columns; "
                          f"a column's tooltip gives its unit.{self._records_note}")

    def _failed(self, why: str) -> None:
        self.path = None
        self._growth.stop()
        self.goto.setRange(0, 0)
        self.note.setText(f"The samples cannot be read: {why}")

    def _poll_count(self) -> None:
        if self.path is None or self._polling or not self.isVisible():
            return
        self._polling = True
        path = self.path
        work_for(self, _committed_count, path,
                 returned=lambda count: self._counted(path, count),
                 errored=lambda exc: self._counted(path, None))

    def _counted(self, path: Path, count: int | None) -> None:
        self._polling = False
        if count is not None:
            self.set_sample_count(path, count)


def _committed_count(path: Path) -> int:
    """The samples committed to a dataset being written (its header only)."""
    return read_header(path, check_samples=False).num_samples

