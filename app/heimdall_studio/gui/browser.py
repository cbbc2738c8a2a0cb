"""The dataset browser: a table model of the workspace and its view.

`DatasetTableModel` shows `DatasetEntry` values (plain data from the core's listing, which
`watcher.WorkspaceWatcher` keeps current). A dataset that any process is writing (a run of
ours, the command line, a script) is listed with that process (`DatasetEntry.writer`) and
cannot be expanded, exported or deleted.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    Qt,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from ..core.api import DatasetEntry
from ..core.config.params import BY_PATH
from ..core.workspace.index import Signature, signature
from ..core.workspace.listing import with_writer

log = logging.getLogger(__name__)


COLUMNS = ("Name", "Type", "Samples", "Frequency (MHz)", "Power (dBm)", "Min SNR (dB)",
           "Max GDOP", "Inside ratio", "Created (UTC)", "Size (MiB)", "Status")
NUMERIC_COLUMNS = {2, 3, 4, 5, 6, 7, 9}
SAMPLES_COLUMN = 2
STATUS_COLUMN = len(COLUMNS) - 1
_TX_POWER, _MAX_GDOP = BY_PATH["tx_power_dbm"], BY_PATH["max_gdop"]
UNREADABLE_COLOR = QColor(170, 30, 30)
BUSY_COLOR = QColor(30, 90, 170)


def _identity(path: Path) -> Signature | None:
    try:
        return signature(path.lstat())
    except OSError:
        return None


def writer_text(entry: DatasetEntry) -> str:
    """Who is writing the entry's file, to say so: "process 1234" or "another process"."""
    return f"process {entry.writer}" if entry.writer else "another process"


def size_mib_text(size_bytes: int) -> str:
    """A file size in mebibytes, grouped: "1,234.5". One unit down the column lets sizes
    be compared at a glance; small files keep two decimals so that they do not read 0.
    Binary, as every other size the app shows (`units.format_size`), so the column and
    the details say the same number."""
    mebibytes = size_bytes / 2**20
    return f"{mebibytes:,.1f}" if mebibytes >= 1 else f"{mebibytes:.2f}"


def _cells(entry: DatasetEntry) -> list[tuple[str, Any]]:
    """(display text, sort key) per column; an unreadable file has keys only for its name,
    size and status."""
    header = entry.header
    if header is None:
        try:
            size = entry.path.stat().st_size
        except OSError:  # vanished since the listing
            size = 0
        blank = ("", None)
        return [(entry.name, entry.name.lower()), blank, blank, blank, blank, blank, blank,
                blank, blank, (size_mib_text(size), size), (entry.status, entry.status)]
    c = header.config
    return [
        (entry.name, entry.name.lower()),
        (c.dataset_type, c.dataset_type),
        (f"{header.num_samples:,}", header.num_samples),
        (f"{c.frequency_mhz:g}", c.frequency_mhz),
        (_TX_POWER.text(c.tx_power_dbm), c.tx_power_range[0]),
        (f"{c.min_snr_db:g}", c.min_snr_db),
        (_MAX_GDOP.text(c.max_gdop), c.max_gdop),
        (f"{c.inside_ratio:g}", c.inside_ratio),
        (header.created_utc.replace("T", " ").rstrip("Z"), header.created_utc),
        (size_mib_text(header.size_bytes), header.size_bytes),
        (entry.status, entry.status),
    ]


class DatasetTableModel(QAbstractTableModel):
    """One row per dataset file of the workspace, in the order the view sorts by.

    The model sorts itself (`sort`), in Python: a sort proxy would call `data` from C++
    for every comparison, some twenty thousand calls into Python for a thousand rows,
    which held the GUI thread noticeably at every listing.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._entries: list[DatasetEntry] = []
        self._cells: list[list[tuple[str, Any]]] = []
        self._busy: dict[Path, str] = {}  # path -> what our own job is doing to it
        # path -> (the file's identity when refused, its entry since): see `refuse`
        self._refused: dict[Path, tuple[Signature, DatasetEntry]] = {}
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.AscendingOrder

    # -- data in ------------------------------------------------------------

    def set_entries(self, entries: list[DatasetEntry]) -> None:
        """Replace the listing. Rows keep their identity while the set of files is
        unchanged, so selections and scroll positions survive the frequent refreshes
        during a run, also when a refresh reorders them."""
        entries = self._with_headers_kept(self._with_refusals(entries))
        rows = self._sorted([(e, _cells(e)) for e in entries])
        if {e.path for e in entries} == {e.path for e in self._entries} and \
                len(entries) == len(self._entries):
            self._relayout(rows)
            if rows:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(rows) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._entries = [entry for entry, _ in rows]
        self._cells = [cells for _, cells in rows]
        self.endResetModel()

    def add_entries(self, entries: list[DatasetEntry]) -> None:
        """Show more of a listing going on: new files get rows where the sort puts them,
        files shown already are updated in place (and sorted again with the next new
        rows); files gone wait for the complete listing (`set_entries`)."""
        entries = self._with_headers_kept(self._with_refusals(entries, complete=False))
        row_of = {entry.path: row for row, entry in enumerate(self._entries)}
        new = []
        for entry in entries:
            row = row_of.get(entry.path)
            if row is None:
                new.append((entry, _cells(entry)))
                continue
            self._entries[row], self._cells[row] = entry, _cells(entry)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if not new:
            return
        ordered = self._sorted(list(zip(self._entries, self._cells, strict=True)))
        if [entry.path for entry, _ in ordered] != [entry.path for entry in self._entries]:
            self._relayout(ordered)  # updated in place, or by a run's progress
        # Every shown row keeps its place among the others, so each run of new rows
        # goes in where the merged order has it.
        merged = self._sorted(ordered + new)
        added = {entry.path for entry, _ in new}
        start = 0
        while start < len(merged):
            if merged[start][0].path not in added:
                start += 1
                continue
            end = start
            while end < len(merged) and merged[end][0].path in added:
                end += 1
            self.beginInsertRows(QModelIndex(), start, end - 1)
            self._entries[start:start] = [entry for entry, _ in merged[start:end]]
            self._cells[start:start] = [cells for _, cells in merged[start:end]]
            self.endInsertRows()
            start = end

    def refuse(self, path: Path, why: str) -> None:
        """Show `path` as unreadable for `why`: its samples turned out damaged when they
        were read (a listing reads headers only). It stays so while the file keeps its
        identity (`index.signature`); a file changed since is listed afresh."""
        identity = _identity(path)
        if self.row_of(path) < 0 or identity is None:
            return
        self._refused[path] = (identity, DatasetEntry(path, None, why))
        self.set_entries(list(self._entries))

    def _with_refusals(self, entries: list[DatasetEntry],
                       complete: bool = True) -> list[DatasetEntry]:
        """The entries, refused files as refused while unchanged; a `complete` listing
        also forgets the refusals of files that are gone."""
        kept = {}
        shown = []
        for entry in entries:
            known = self._refused.pop(entry.path, None)
            if known is not None and _identity(entry.path) == known[0]:
                kept[entry.path] = known
                entry = known[1]
            shown.append(entry)
        self._refused = kept if complete else {**self._refused, **kept}
        return shown

    def _with_headers_kept(self, entries: list[DatasetEntry]) -> list[DatasetEntry]:
        """A file being written can be unreadable for a moment (the reader calls it busy):
        its row keeps what an earlier listing read of it meanwhile."""
        read = {e.path: e for e in self._entries if e.header is not None}
        return [dataclasses.replace(read[e.path], writer=e.writer)
                if e.header is None and e.writer is not None and e.path in read else e
                for e in entries]

    def set_busy(self, busy: dict[Path, str]) -> None:
        ended = set(self._busy) - set(busy)
        self._busy = dict(busy)
        for path in ended:  # a run's process lets go of its file before the run ends
            row = self.row_of(path)
            if row >= 0:
                entry = self._entries[row] = with_writer(self._entries[row])
                self._cells[row][STATUS_COLUMN] = (entry.status, entry.status)
        if self._entries:
            self.dataChanged.emit(self.index(0, STATUS_COLUMN),
                                  self.index(len(self._entries) - 1, STATUS_COLUMN))

    def set_sample_count(self, path: Path, count: int) -> None:
        """Show `count` samples for the dataset a run of ours is writing, as its progress
        says, until the next listing reads the file itself. (Its row stays where it is
        until then.)"""
        row = self.row_of(path)
        if row >= 0 and self._entries[row].header is not None:
            self._cells[row][SAMPLES_COLUMN] = (f"{count:,}", count)
            index = self.index(row, SAMPLES_COLUMN)
            self.dataChanged.emit(index, index)

    # -- sorting --------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Called by the view when a header is clicked."""
        self._sort_column, self._sort_order = column, order
        self._relayout(self._sorted(list(zip(self._entries, self._cells, strict=True))))

    def _sorted(self, rows: list[tuple[DatasetEntry, list[tuple[str, Any]]]]
                ) -> list[tuple[DatasetEntry, list[tuple[str, Any]]]]:
        """By the sort column's values (numbers as numbers), ties by name; files without
        a value in that column (unreadable ones) last, by name, in either order."""
        col = self._sort_column
        by_name = sorted(rows, key=lambda row: row[1][0][1])  # stable: ties stay by name
        valued = [row for row in by_name if row[1][col][1] is not None]
        blank = [row for row in by_name if row[1][col][1] is None]
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        return sorted(valued, key=lambda row: row[1][col][1], reverse=descending) + blank

    def _relayout(self, rows: list[tuple[DatasetEntry, list[tuple[str, Any]]]]) -> None:
        """Show `rows` (the same files in any order); selections follow their files."""
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        paths = [self._entries[index.row()].path for index in old]
        self._entries = [entry for entry, _ in rows]
        self._cells = [cells for _, cells in rows]
        row_of = {entry.path: row for row, entry in enumerate(self._entries)}
        self.changePersistentIndexList(
            old, [self.index(row_of[path], index.column())
                  for path, index in zip(paths, old, strict=True)])
        self.layoutChanged.emit()

    # -- data out -----------------------------------------------------------

    def entries(self) -> list[DatasetEntry]:
        return list(self._entries)

    def entry(self, row: int) -> DatasetEntry:
        return self._entries[row]

    def row_of(self, path: Path) -> int:
        for row, entry in enumerate(self._entries):
            if entry.path == path:
                return row
        return -1

    def status_text(self, row: int) -> str:
        entry = self._entries[row]
        busy = self._busy.get(entry.path)
        if busy:
            return f"writing ({busy})"
        return entry.status

    # -- Qt model interface ---------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        entry = self._entries[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.status_text(row) if col == STATUS_COLUMN else self._cells[row][col][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == STATUS_COLUMN and entry.path in self._busy:
                return "A run is writing this dataset; it cannot be expanded or deleted now"
            if entry.writer is not None and (col == STATUS_COLUMN or entry.header is None):
                return (f"{writer_text(entry).capitalize()} is writing this dataset; it can "
                        "be expanded, exported or deleted when that ends")
            if entry.header is None:
                return f"Cannot read {entry.path.name}: {entry.error}"
            return str(entry.path)
        if role == Qt.ItemDataRole.ForegroundRole:
            if entry.status == "unreadable":
                return QBrush(UNREADABLE_COLOR)
            if col == STATUS_COLUMN and (entry.path in self._busy or entry.status != "ok"):
                return QBrush(BUSY_COLOR)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def make_browser_view(model: DatasetTableModel) -> QTableView:
    view = QTableView()
    view.setObjectName("dataset_browser")
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)  # the window's menu
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(24)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    widths = (200, 105, 95, 115, 90, 95, 80, 90, 150, 85)
    for column, width in enumerate(widths):
        view.setColumnWidth(column, width)
    return view
