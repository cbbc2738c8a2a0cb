"""The dataset browser: a table model of the workspace, and what keeps it current.

`DatasetTableModel` shows `DatasetEntry` values (plain data from the core's listing).
`WorkspaceWatcher` decides when to list again: a QFileSystemWatcher on the folder (files
appearing or vanishing) and on each dataset file (commits changing it), funnelled through a
single-shot timer: the first change of a burst starts it and later ones ride along, so a
run committing four times a second gives two listings a second, and a burst of file
operations gives one.
Listing reads each file's header, so it runs in a worker thread, which hands the entries
over in batches as it goes (`listing_batches`): a large workspace never seen before shows
rows while the rest is read. Only entries cross threads.

A dataset that any process is writing (a run of ours, the command line, a script) is listed
with that process (`DatasetEntry.writer`) and cannot be expanded, exported or deleted. Its
file changes at every commit, so the watcher sees a write go on; its end may change
nothing (a killed writer leaves the file as it was), so while files are being written the
watcher also asks their locks, once a second, whether the writer is still there.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QFileSystemWatcher,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView
from superqt.utils import GeneratorWorker, create_worker

from ..core.api import DatasetEntry
from ..core.config.units import format_size as format_size  # the one size format
from ..core.dataset.locking import writer_pid
from ..core.dataset.recovery import held_by_another_program
from ..core.errors import HeimdallError
from ..core.workspace.index import Signature, signature
from ..core.workspace.listing import iter_workspace, with_writer
from .jobs import describe_error

log = logging.getLogger(__name__)


COLUMNS = ("Name", "Type", "Samples", "Frequency (MHz)", "Power (dBm)", "Min SNR (dB)",
           "Max GDOP", "Inside ratio", "Created (UTC)", "Size", "Status")
NUMERIC_COLUMNS = {2, 3, 4, 5, 6, 7, 9}
SAMPLES_COLUMN = 2
STATUS_COLUMN = len(COLUMNS) - 1
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
                blank, blank, (format_size(size), size), (entry.status, entry.status)]
    c = header.config
    return [
        (entry.name, entry.name.lower()),
        (c.dataset_type, c.dataset_type),
        (f"{header.num_samples:,}", header.num_samples),
        (f"{c.frequency_mhz:g}", c.frequency_mhz),
        (f"{c.tx_power_dbm:g}", c.tx_power_dbm),
        (f"{c.min_snr_db:g}", c.min_snr_db),
        (f"{c.max_gdop:g}", c.max_gdop),
        (f"{c.inside_ratio:g}", c.inside_ratio),
        (header.created_utc.replace("T", " ").rstrip("Z"), header.created_utc),
        (format_size(header.size_bytes), header.size_bytes),
        (entry.status, entry.status),
    ]


class DatasetTableModel(QAbstractTableModel):
    """One row per dataset file of the workspace, in the order the view sorts by.

    The model sorts itself (`sort`), in Python: a sort proxy would call `data` from C++
    for every comparison, some twenty thousand calls into Python for a thousand rows,
    which held the GUI thread for 60-100 ms at every listing.
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


FIRST_BATCH_S = 0.05  # a listing going on hands over what it has read this soon,
LAST_BATCH_S = 0.4  # then half as often each time, down to this


def listing_batches(workspace: Path
                    ) -> Generator[list[DatasetEntry], None, list[DatasetEntry]]:
    """The workspace's entries in batches, as the core lists them (in a worker thread),
    then the whole listing, by name, as the return value.

    While the listing goes on, the first batch comes FIRST_BATCH_S after the first entry,
    each later one after twice the wait of the one before (up to LAST_BATCH_S): the first
    rows fill the view at once, the others mostly move its scroll bar, and every batch
    repaints the view, whose calls into Python take the GIL from the thread reading the
    files. A listing done sooner (files known unchanged) hands over nothing before the end.
    """
    entries: list[DatasetEntry] = []
    handed = 0
    wait = FIRST_BATCH_S
    due = None
    for entry in iter_workspace(workspace):
        entries.append(entry)
        now = time.monotonic()
        if due is None:
            due = now + wait  # from the first entry: loading the index comes before it
        elif now >= due:
            yield entries[handed:]
            handed = len(entries)
            wait = min(2 * wait, LAST_BATCH_S)
            due = now + wait
    return sorted(entries, key=lambda entry: entry.path.name)


class WorkspaceWatcher(QObject):
    """Lists the workspace in the background whenever it may have changed.

    `more_listed` carries entries of a listing going on, `listed` all of the latest
    listing. A listing requested while one runs is remembered and started afterwards, so
    the last change is never missed.
    """

    listed = Signal(object)  # list[DatasetEntry], by name
    more_listed = Signal(object)  # list[DatasetEntry]
    failed = Signal(str)

    DELAY_MS = 500
    WRITER_PROBE_MS = 1000

    def __init__(self, workspace: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = Path(workspace)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._changed)
        self._watcher.fileChanged.connect(self._changed)
        self._delay = QTimer(self, singleShot=True, interval=self.DELAY_MS)
        self._delay.timeout.connect(self.refresh)
        self._writers: dict[Path, int] = {}  # file -> its writer, as last listed
        self._held: set[Path] = set()
        self._writer_probe = QTimer(self, interval=self.WRITER_PROBE_MS)
        self._writer_probe.timeout.connect(self._probe_writers)
        self._running: GeneratorWorker | None = None
        self._pending = False
        self._stopped = False
        self.quiet_paths: frozenset[Path] = frozenset()  # see set_quiet_paths
        self._watch_folder()

    def set_workspace(self, workspace: Path) -> None:
        self.workspace = Path(workspace)
        if self._running is not None:
            self._running.quit()  # at its next batch; then this workspace is listed
        self._set_writers({})
        paths = self._watcher.directories() + self._watcher.files()
        if paths:
            self._watcher.removePaths(paths)
        self._watch_folder()
        self.refresh()

    def stop(self) -> None:
        """No more listings (the window is closing)."""
        self._stopped = True
        self._delay.stop()
        self._writer_probe.stop()
        if self._running is not None:
            self._running.quit()

    def _watch_folder(self) -> None:
        if self.workspace.is_dir():
            self._watcher.addPath(str(self.workspace))

    def set_quiet_paths(self, paths: set[Path]) -> None:
        """Stop watching `paths` (until a listing after they leave the set): files our own
        runs are writing. Their progress says how they grow, while the file system would
        report every single write, over a thousand a second, each a call into Python in
        the GUI thread that competes with the run for the GIL."""
        self.quiet_paths = frozenset(paths)
        watched = {str(p) for p in paths} & set(self._watcher.files())
        if watched:
            self._watcher.removePaths(sorted(watched))

    def _changed(self, _path: str) -> None:
        # Not restarted by later changes: a restarting (debounce) timer would never fire
        # while a run commits more often than its interval.
        if not self._delay.isActive():
            self._delay.start()

    def refresh(self) -> None:
        if self._stopped:
            return
        if self._running is not None:
            self._pending = True
            return
        workspace = self.workspace
        self._running = create_worker(
            listing_batches, workspace,
            _connect={"yielded": lambda entries: self._more(workspace, entries),
                      "returned": lambda entries: self._done(workspace, entries),
                      "errored": self._failed, "finished": self._finished})

    def _more(self, workspace: Path, entries: list[DatasetEntry]) -> None:
        if not self._stopped and workspace == self.workspace:
            self.more_listed.emit(entries)

    def _done(self, workspace: Path, entries: list[DatasetEntry]) -> None:
        if self._stopped or workspace != self.workspace:
            return  # a listing of the previous workspace
        self._watch_files(entries)
        self._set_writers({e.path: e.writer for e in entries if e.writer is not None},
                          {e.path for e in entries if e.in_use})
        self.listed.emit(entries)

    def _failed(self, exc: Exception) -> None:
        message = describe_error(exc)
        log.error("listing the workspace failed: %s", message,
                  exc_info=None if isinstance(exc, HeimdallError) else exc)
        if not self._stopped:
            self.failed.emit(message)

    def _finished(self) -> None:
        self._running = None
        if self._pending:
            self._pending = False
            self.refresh()

    def _set_writers(self, writers: dict[Path, int], held: set[Path] = frozenset()) -> None:
        self._writers = writers
        self._held = held  # files other programs hold open for writing
        if not writers and not held:
            self._writer_probe.stop()
        elif not self._writer_probe.isActive():
            self._writer_probe.start()

    def _probe_writers(self) -> None:
        """List again when a file's writer has ended (or another has taken over), or a
        program that held a file let it go (it may have been killed, changing nothing).
        A few microseconds per file, and never in a writer's way (`locking.writer_pid`,
        `recovery.held_by_another_program`)."""
        if (any(writer_pid(path) != pid for path, pid in self._writers.items())
                or not all(held_by_another_program(path) for path in self._held)):
            self._set_writers({})  # the listing says who writes what now
            self.refresh()

    def _watch_files(self, entries: list[DatasetEntry]) -> None:
        wanted = {str(e.path) for e in entries if e.path not in self.quiet_paths}
        watched = set(self._watcher.files())
        if watched - wanted:
            self._watcher.removePaths(sorted(watched - wanted))
        if wanted - watched:
            self._watcher.addPaths(sorted(wanted - watched))
        if not self._watcher.directories():
            self._watch_folder()  # the folder may have been created since
