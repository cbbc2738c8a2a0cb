"""The main window: browser, details and job panel, and the actions that tie them together.

Dialogs hand back value objects; this window turns them into runs through the JobManager.
Questions and error reports go through `ask` and `show_error`, so tests can answer them
without a modal loop.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QPoint, QRect, Qt, QThreadPool, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStyle,
    QWidget,
)
from superqt.utils import create_worker

from ..core import api
from ..core.api import DatasetEntry
from ..core.config.units import format_size
from ..core.errors import HeimdallError
from . import settings
from .browser import DatasetTableModel, make_browser_view
from .compare import CompareDialog
from .compute import ComputeDialog, read_cluster, write_cluster
from .details import DetailsPanel
from .dialogs import (
    ExpandDatasetDialog,
    ExpandDatasetRequest,
    NewDatasetDialog,
    NewDatasetRequest,
)
from .export import ExportCancelled, ExportRequest, ExportRow, ExportWorker, choose_export
from .identity import AboutDialog, app_icon
from .job_panel import JobPanel
from .jobs import Job, JobManager, describe_error
from .terrain_dialog import TerrainDialog
from .watcher import WorkspaceWatcher

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1400, 900)


class MainWindow(QMainWindow):
    PREPARE_AFTER_MS = 2000
    NOTICE_MS = 30_000

    def __init__(self, workspace: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("main_window")
        self.setWindowIcon(app_icon())
        self.workspace = Path(workspace).expanduser().resolve()
        self._ensure_workspace()
        self.dialog: NewDatasetDialog | ExpandDatasetDialog | None = None
        self.about_dialog: AboutDialog | None = None
        self.terrain_dialog: TerrainDialog | None = None
        self.exports: dict[Path, ExportWorker] = {}  # dataset -> its running export
        self.export_rows: list[ExportRow] = []  # in the job panel until dismissed
        self.compare_dialog: CompareDialog | None = None
        self.last_error: str | None = None
        self.notice: str | None = None  # see show_notice
        self.run_process_ready = False  # the first run's, its kernels loaded
        self._preparing = False
        self._select_when_listed: Path | None = None
        self._restoring_selection = False
        self._closing = False
        self.listings = 0  # completed workspace listings (tests wait for the first)
        # Listing first: a workspace never seen before takes a while to read, and the
        # widgets can be built meanwhile (the results arrive through the event loop).
        self.watcher = WorkspaceWatcher(self.workspace, self)
        self.watcher.refresh()

        self.jobs = JobManager(self)
        self.model = DatasetTableModel(self)
        self.browser = make_browser_view(self.model)
        self.details = DetailsPanel()
        self.job_panel = JobPanel(self.jobs)
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="main_splitter")
        for widget in (self.browser, self.details, self.job_panel):
            self.splitter.addWidget(widget)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([190, 440, 250])
        self.setCentralWidget(self.splitter)
        self.workspace_label = QLabel()
        self.statusBar().addPermanentWidget(self.workspace_label)

        self._create_actions()
        self._create_menus_and_toolbar()
        self.watcher.more_listed.connect(self._more_listed)
        self.watcher.listed.connect(self._listed)
        self.watcher.failed.connect(lambda m: self.statusBar().showMessage(m, 10_000))
        # The first run's process starts (and loads the kernels) once the first listing is
        # in, as both want the CPU and the datasets come first; at the latest after
        # PREPARE_AFTER_MS.
        self.watcher.listed.connect(self._prepare_runs)
        self.watcher.failed.connect(self._prepare_runs)
        self.browser.selectionModel().selectionChanged.connect(self._selection_changed)
        self.details.samples_refused.connect(self._samples_refused)
        # Double-click opens what a dataset holds; Expand is in the menus and the context menu.
        self.browser.doubleClicked.connect(lambda _index: self.show_details())
        self.browser.customContextMenuRequested.connect(self._show_browser_menu)
        self.details.create_requested.connect(self.new_dataset)
        self.setAcceptDrops(True)  # .h5 files dropped on the window open as Open dataset does
        self.jobs.job_started.connect(self._job_started)
        self.jobs.job_progressed.connect(self._job_progressed)
        self.jobs.job_ended.connect(self._job_ended)

        self._restore_settings()
        self._show_workspace()
        try:
            settings.add_recent(self.workspace)
        except Exception:  # settings are a convenience, never a reason to fail
            log.warning("cannot save the recent workspaces", exc_info=True)
        self._update_actions()
        QTimer.singleShot(self.PREPARE_AFTER_MS, self._prepare_runs)

    # -- construction ------------------------------------------------------------

    def _action(self, name: str, text: str, shortcut: QKeySequence | str | None,
                icon: QStyle.StandardPixmap | None, slot, tip: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _create_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.action_new_dataset = self._action(
            "action_new_dataset", "&New dataset…", "Ctrl+N", sp.SP_FileIcon,
            self.new_dataset, "Create a dataset with new parameters")
        self.action_new_from_dataset = self._action(
            "action_new_from_dataset", "New from &This Dataset…", None, None,
            self.new_from_dataset, "Create a dataset with the selected dataset's parameters")
        self.action_expand_dataset = self._action(
            "action_expand_dataset", "&Expand dataset…", "Ctrl+E", sp.SP_ArrowUp,
            self.expand_dataset, "Add samples to the selected dataset, drawn exactly as before")
        self.action_delete_dataset = self._action(
            "action_delete_dataset", "&Delete dataset…", QKeySequence.StandardKey.Delete,
            sp.SP_TrashIcon, self.delete_dataset, "Delete the selected dataset file")
        self.action_export_dataset = self._action(
            "action_export_dataset", "E&xport dataset…", "Ctrl+Shift+E",
            sp.SP_DialogSaveButton, self.export_dataset,
            "Write the selected dataset as a CSV table, NumPy arrays or a Parquet table")
        self.action_compare_datasets = self._action(
            "compare_datasets", "Compare &with…", None, None, self.compare_datasets,
            "Overlay the distributions of two datasets and list where their configs differ")
        self.action_reveal = self._action(
            "action_reveal", "&Show in folder", "Ctrl+Shift+R", sp.SP_DirOpenIcon,
            self.reveal, "Open the folder holding the selected dataset")
        self.action_open_dataset = self._action(
            "open_dataset", "Open &dataset…", "Ctrl+Shift+O", sp.SP_DialogOpenButton,
            self.choose_dataset, "Show a dataset file from any folder (its folder becomes "
            "the workspace)")
        self.action_copy_path = self._action(
            "action_copy_path", "&Copy path", None, None, self.copy_path,
            "Copy the selected dataset's file path to the clipboard")
        self.action_open_workspace = self._action(
            "action_open_workspace", "&Open workspace…", "Ctrl+O", sp.SP_DirIcon,
            self.choose_workspace, "Browse the datasets of another folder")
        self.action_refresh = self._action(
            "action_refresh", "&Refresh", "F5", sp.SP_BrowserReload, self.refresh,
            "List the workspace and read the selected dataset again")
        self.action_terrain = self._action(
            "action_terrain", "&Terrain…", None, None, self.terrain,
            "Elevation tiles of the terrain library and what they cover")
        self.action_compute = self._action(
            "action_compute", "&Compute…", None, None, self.choose_compute,
            "Compute runs here, on worker processes here, or on a Dask cluster")
        self.action_quit = self._action("action_quit", "&Quit", "Ctrl+Q", None, self.close,
                                        "Quit Heimdall Studio")
        self.action_about = self._action("action_about", "&About", None, None, self.about,
                                         "About Heimdall Studio")

    def _create_menus_and_toolbar(self) -> None:
        menu = self.menuBar().addMenu("&Dataset")
        for action in (self.action_new_dataset, self.action_new_from_dataset,
                       self.action_expand_dataset,
                       self.action_export_dataset, self.action_compare_datasets,
                       self.action_delete_dataset, self.action_reveal):
            menu.addAction(action)
        workspace = self.menuBar().addMenu("&Workspace")
        for action in (self.action_open_workspace, self.action_open_dataset):
            workspace.addAction(action)
        self.recent_menu = workspace.addMenu("Recent &workspaces")
        self.recent_menu.setObjectName("recent_workspaces")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        workspace.addAction(self.action_refresh)
        workspace.addSeparator()
        workspace.addAction(self.action_terrain)
        workspace.addAction(self.action_compute)
        workspace.addSeparator()
        workspace.addAction(self.action_quit)
        self.menuBar().addMenu("&Help").addAction(self.action_about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.action_new_dataset, self.action_expand_dataset,
                       self.action_export_dataset, self.action_delete_dataset,
                       self.action_reveal):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.action_open_workspace)
        toolbar.addAction(self.action_refresh)

    def _ensure_workspace(self) -> None:
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # shown as an empty listing; creating a dataset will say why
            log.warning("cannot create workspace %s: %s", self.workspace, exc)

    def _prepare_runs(self, *_args: object) -> None:
        """Start the first run's process, which compiles (or loads) the numba kernels, so
        that the run starts at once."""
        if self._preparing or self._closing:
            return
        self._preparing = True
        self._show_news("Preparing the generator…")
        create_worker(self.jobs.prepare, _connect={
            "returned": self._runs_prepared,
            "errored": lambda exc: self._closing or log.warning(
                "preparing runs failed: %s", describe_error(exc))})

    def _runs_prepared(self, _result: object) -> None:
        self.run_process_ready = True
        self._show_news("Generator ready", 3000)

    def show_notice(self, text: str) -> None:
        """Tell the user something they should read (the workspace last used is gone): in
        the status bar for NOTICE_MS, where the app's own news does not replace it."""
        self.notice = text
        self.statusBar().showMessage(text, self.NOTICE_MS)

    def _show_news(self, text: str, timeout_ms: int = 0) -> None:
        if self.notice is None or self.statusBar().currentMessage() != self.notice:
            self.statusBar().showMessage(text, timeout_ms)

    # -- selection and listing ------------------------------------------------

    def selected_entry(self) -> DatasetEntry | None:
        rows = self.browser.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.entry(rows[0].row())

    def select_dataset(self, path: str | Path) -> bool:
        row = self.model.row_of(Path(path))
        if row < 0:
            return False
        index = self.model.index(row, 0)
        self.browser.selectionModel().select(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.browser.scrollTo(index)
        return True

    def _more_listed(self, entries: list[DatasetEntry]) -> None:
        """Rows of a listing going on: a large workspace shows them as its files are read.
        A row shown already is updated in place, the selected one too: its actions follow
        (a process may have started writing it)."""
        self.model.add_entries(entries)
        self._show_counts()
        self._update_actions()

    def _listed(self, entries: list[DatasetEntry]) -> None:
        self.listings += 1
        selected = self.selected_entry()
        self._restoring_selection = True
        try:
            self.model.set_entries(entries)
            target = self._select_when_listed or (selected.path if selected else None)
            if (target is not None and self.select_dataset(target)
                    and target == self._select_when_listed):
                self._select_when_listed = None
        finally:
            self._restoring_selection = False
        self._selection_changed()
        self._show_counts()

    def _show_counts(self) -> None:
        entries = self.model.entries()
        # A file being written may be unreadable for a moment; it is a dataset all the same.
        bad = sum(1 for e in entries if e.status == "unreadable")
        count = len(entries) - bad
        self.details.set_dataset_count(len(entries))
        self.workspace_label.setText(
            f"{count} dataset{'s' if count != 1 else ''}"
            + (f", {bad} unreadable" if bad else "") + f" in {self.workspace}")

    def _selection_changed(self, *_args: object) -> None:
        if self._restoring_selection:
            return
        entry = self.selected_entry()
        busy = entry is not None and entry.path in self.jobs.busy_paths()
        self.details.show_entry(entry, busy=busy)
        self._update_actions()

    def _samples_refused(self, path: Path, why: str) -> None:
        """The selected dataset's samples are damaged: it is unreadable after all."""
        self.model.refuse(path, why)
        self._selection_changed()
        self._show_counts()

    def _in_use(self, entry: DatasetEntry) -> bool:
        """A process writes it (a run of ours or any other), another program holds it open
        for writing, or an export reads it:
        expanding, exporting again or deleting it waits until that ends."""
        return (entry.writer is not None or entry.in_use
                or entry.path in self.jobs.busy_paths() or entry.path in self.exports)

    def _update_actions(self) -> None:
        entry = self.selected_entry()
        busy = entry is not None and self._in_use(entry)
        readable = entry is not None and entry.header is not None
        self.action_expand_dataset.setEnabled(readable and not busy)
        self.action_new_from_dataset.setEnabled(readable)
        self.action_export_dataset.setEnabled(readable and not busy)
        self.action_delete_dataset.setEnabled(entry is not None and not busy)

    # -- actions -----------------------------------------------------------------

    def new_dataset(self) -> NewDatasetDialog:
        dialog = NewDatasetDialog(self.workspace, self)
        dialog.accepted.connect(lambda: self.start_create(dialog.request()))
        self._open_dialog(dialog)
        return dialog

    def new_from_dataset(self) -> NewDatasetDialog | None:
        """The New dialog filled with the selected dataset's parameters."""
        entry = self.selected_entry()
        if entry is None or entry.header is None:
            return None
        dialog = NewDatasetDialog.from_dataset(self.workspace, entry.header.config, self)
        dialog.accepted.connect(lambda: self.start_create(dialog.request()))
        self._open_dialog(dialog)
        return dialog

    def expand_dataset(self) -> ExpandDatasetDialog | None:
        entry = self.selected_entry()
        if entry is None or entry.header is None or self._in_use(entry):
            return None
        dialog = ExpandDatasetDialog(entry, self)
        dialog.accepted.connect(lambda: self.start_expand(dialog.request()))
        self._open_dialog(dialog)
        return dialog

    def _open_dialog(self, dialog: NewDatasetDialog | ExpandDatasetDialog) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = dialog
        dialog.open()  # window-modal without a nested event loop

    def start_create(self, request: NewDatasetRequest | None) -> Job | None:
        if request is None:
            return None
        job = self.jobs.start_create(request, self.workspace)
        self._select_when_listed = job.path
        return job

    def start_expand(self, request: ExpandDatasetRequest) -> Job | None:
        path = Path(request.path)
        if path in self.jobs.busy_paths():
            self.show_error("Dataset busy", f"A run is already writing '{path.stem}'.")
            return None
        if path in self.exports:
            self.show_error("Dataset busy", f"'{path.stem}' is being exported; expand it "
                                            "when the export has finished.")
            return None
        return self.jobs.start_expand(request)

    def export_dataset(self) -> ExportWorker | None:
        """Ask for format and file, then export in the background."""
        entry = self.selected_entry()
        if entry is None or entry.header is None or self._in_use(entry):
            return None
        request = choose_export(self, entry, self.ask, self.show_error)
        return self.start_export(request) if request is not None else None

    def start_export(self, request: ExportRequest) -> ExportWorker:
        """Export in the background, shown in the job panel as a run is: a row with
        progress, rate, ETA and Cancel, then the result until it is dismissed."""
        worker = ExportWorker(request)
        row = ExportRow(worker)
        row.dismissed.connect(self._dismiss_export)
        worker.returned.connect(lambda out: self._export_written(row, Path(out)))
        worker.errored.connect(lambda exc: self._export_failed(row, exc))
        worker.finished.connect(lambda: self._export_ended(row))
        self.exports[request.dataset] = worker
        self.export_rows.append(row)
        self.job_panel.placeholder.setVisible(False)
        self.job_panel.rows_layout.insertWidget(0, row)  # newest on top, as runs
        log.info("exporting %s as %s to %s", request.dataset, request.fmt, request.target)
        worker.start()
        self.statusBar().showMessage(f"Exporting '{request.dataset.stem}' to "
                                     f"{request.target}…", 5000)
        self._update_actions()
        return worker

    def _export_written(self, row: ExportRow, out: Path) -> None:
        row.finish(out)
        self.statusBar().showMessage(row.stats.text(), 10_000)

    def _export_failed(self, row: ExportRow, exc: Exception) -> None:
        request = row.worker.request
        if not isinstance(exc, HeimdallError):  # its traceback, for a bug report
            log.error("exporting %s failed", request.dataset, exc_info=exc)
        row.fail(exc)
        if row.state == "cancelled":  # asked for (Cancel, or closing): not an error
            self.statusBar().showMessage(f"Export of '{request.dataset.stem}' cancelled", 5000)
        elif not self._closing:
            self.show_error("Export failed", f"Exporting '{request.dataset.stem}' to "
                                             f"{request.target} failed.\n\n"
                                             f"{describe_error(exc)}")

    def _export_ended(self, row: ExportRow) -> None:
        if row.active:  # cancelled as it ended: the worker reports neither result
            written = row.worker.written
            if written is not None:
                row.finish(written)
            else:
                row.fail(ExportCancelled("the export was cancelled"))
        self.exports.pop(row.worker.request.dataset, None)
        self._update_actions()

    def _dismiss_export(self, row: ExportRow) -> None:
        self.export_rows.remove(row)
        row.setParent(None)
        row.deleteLater()

    def compare_datasets(self) -> CompareDialog:
        """Two datasets of the workspace side by side, the selected one first."""
        if self.compare_dialog is not None:
            self.compare_dialog.deleteLater()
        selected = self.selected_entry()
        self.compare_dialog = CompareDialog(self.model.entries(),
                                            selected.path if selected else None, self)
        self.compare_dialog.open()
        return self.compare_dialog

    def delete_dataset(self) -> None:
        entry = self.selected_entry()
        if entry is None or self._in_use(entry):
            return
        what = (f"{entry.header.num_samples:,} samples, {format_size(entry.header.size_bytes)}"
                if entry.header else "unreadable file")
        if not self.ask("Delete dataset",
                        f"Delete '{entry.name}' ({what}) permanently?\n\n{entry.path}"):
            return
        try:
            api.delete_dataset(entry.path)
        except (HeimdallError, OSError) as exc:
            self.show_error("Cannot delete dataset", str(exc))
            return
        self.statusBar().showMessage(f"Deleted {entry.path.name}", 5000)
        self.watcher.refresh()

    def reveal(self) -> None:
        """Open the dataset's folder in the file manager; say so, with the folder's path to
        copy, when there is none to open it (a minimal desktop, a remote session)."""
        entry = self.selected_entry()
        folder = entry.path.parent if entry else self.workspace
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_error("Cannot show the folder",
                            f"No file manager could open the folder:\n\n{folder}\n\n"
                            "The path can be selected and copied from this message.")

    def copy_path(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            QGuiApplication.clipboard().setText(str(entry.path))
            self.statusBar().showMessage(f"Copied {entry.path}", 5000)

    def show_details(self) -> None:
        """Bring the selected dataset's details forward (a double-click on its row)."""
        if self.selected_entry() is None:
            return
        sizes = self.splitter.sizes()
        if sizes[1] == 0:  # collapsed by the user: open it again
            sizes[1] = max(sizes) // 2
            self.splitter.setSizes(sizes)
        self.details.setFocus()

    def browser_menu(self) -> QMenu:
        """The dataset browser's context menu: what can be done to the selected dataset.
        "New from this dataset" is in it when the window has that action."""
        menu = QMenu(self.browser)
        menu.setObjectName("browser_menu")
        from_dataset = next((a for a in self.findChildren(QAction)
                             if a.objectName() in ("new_from_dataset",
                                                   "action_new_from_dataset")), None)
        for action in (self.action_expand_dataset, from_dataset, self.action_export_dataset,
                       self.action_reveal, self.action_copy_path, None,
                       self.action_delete_dataset):
            if action is None:
                menu.addSeparator()
            elif action is not from_dataset or from_dataset is not None:
                menu.addAction(action)
        return menu

    def _show_browser_menu(self, pos: QPoint) -> None:
        index = self.browser.indexAt(pos)
        if not index.isValid():
            return
        self.select_dataset(self.model.entry(index.row()).path)
        menu = self.browser_menu()
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(self.browser.viewport().mapToGlobal(pos))

    def choose_dataset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open dataset", str(self.workspace),
                                              "Datasets (*.h5);;All files (*)")
        if path:
            self.open_dataset(Path(path))

    def open_dataset(self, path: str | Path) -> None:
        """Show a dataset file. One outside the workspace is not copied (datasets can be
        large, and expanding a copy would leave the original behind): its folder becomes
        the workspace, and the file is selected once listed."""
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            self.show_error("Cannot open dataset", f"There is no file at {path}.")
            return
        if path.parent != self.workspace:
            self.set_workspace(path.parent)
            self.statusBar().showMessage(f"Opened the folder of {path.name} as the "
                                         "workspace", 10_000)
        if not self.select_dataset(path):
            self._select_when_listed = path
            self.watcher.refresh()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_datasets(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """A dropped .h5 file opens as Open dataset opens it (the first, of several)."""
        paths = _dropped_datasets(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_dataset(paths[0])

    def _fill_recent_menu(self) -> None:
        """The workspaces opened last; one whose folder is gone is shown greyed."""
        self.recent_menu.clear()
        for folder in settings.read_recent():
            action = self.recent_menu.addAction(str(folder))
            action.setData(str(folder))
            if folder.is_dir():
                action.triggered.connect(lambda _checked=False, f=folder: self.set_workspace(f))
            else:
                action.setEnabled(False)
                action.setToolTip(f"{folder} no longer exists")
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def choose_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace", str(self.workspace))
        if folder:
            self.set_workspace(Path(folder))

    def set_workspace(self, workspace: str | Path) -> None:
        self.workspace = Path(workspace).expanduser().resolve()
        self._ensure_workspace()
        self.model.set_entries([])
        self.details.show_entry(None)
        self._show_workspace()
        try:
            settings.write_workspace(self.workspace)
            settings.add_recent(self.workspace)
        except Exception:  # settings are a convenience, never a reason to fail
            log.warning("cannot save the workspace setting", exc_info=True)
        self.watcher.set_workspace(self.workspace)

    def _show_workspace(self) -> None:
        self.setWindowTitle(f"Heimdall Studio — {self.workspace}")
        self.workspace_label.setText(str(self.workspace))

    def refresh(self) -> None:
        self.watcher.refresh()
        self.details.reload()

    def about(self) -> AboutDialog:
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self)
        self.about_dialog.open()
        return self.about_dialog

    def choose_compute(self) -> ComputeDialog:
        """Where the next runs compute (runs already going stay where they are)."""
        dialog = ComputeDialog(read_cluster(), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            write_cluster(dialog.choice())
            where = dialog.choice() or "this computer"
            self._show_news(f"Runs now compute on {where}", 8000)
        return dialog

    def terrain(self) -> TerrainDialog:
        """The terrain library's dialog, modal; it reads the library afresh each time."""
        if self.terrain_dialog is None:
            self.terrain_dialog = TerrainDialog(self)
        else:
            self.terrain_dialog.refresh()
        self.terrain_dialog.exec()
        return self.terrain_dialog

    # -- jobs ----------------------------------------------------------------------

    def _busy_changed(self) -> None:
        """A run started or ended: mark the datasets being written, watch only the others."""
        busy = self.jobs.busy_paths()
        self.model.set_busy(busy)
        self.watcher.set_quiet_paths(set(busy))
        self._update_actions()

    def _job_started(self, job: Job) -> None:
        self._busy_changed()
        self.statusBar().showMessage(f"Started {job.kind} of '{job.name}'", 5000)

    def _job_progressed(self, job: Job) -> None:
        if job.last is not None:
            self.model.set_sample_count(job.path, job.last.total)
            self.details.set_sample_count(job.path, job.last.total)

    def _job_ended(self, job: Job) -> None:
        self._busy_changed()
        self.statusBar().showMessage(f"{job.kind.capitalize()} of '{job.name}': "
                                     f"{job.summary()}", 10_000)
        if not self._closing:
            self.watcher.refresh()
            if job.state == "failed":
                verb = "Creating" if job.kind == "create" else "Expanding"
                self.show_error("Run failed", f"{verb} dataset '{job.name}' failed.\n\n"
                                              f"{job.error_message}")

    # -- questions and errors (tests replace these) --------------------------------

    def ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, text: str) -> QMessageBox:
        """Report an error without blocking: the box is window-modal via open()."""
        log.error("%s: %s", title, text)
        self.last_error = text
        box = QMessageBox(QMessageBox.Icon.Warning, title, text,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copyable
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    # -- settings and closing ------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = settings.read_bytes(settings.GEOMETRY_KEY)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_SIZE)
        state = settings.read_bytes(settings.STATE_KEY)
        if state is not None:
            self.restoreState(state)
        splitters = settings.read_bytes(settings.SPLITTERS_KEY)
        if splitters is not None:
            self.splitter.restoreState(splitters)
        self.fit_to_screen()

    def fit_to_screen(self, available: QRect | None = None) -> None:
        """Keep the window within the screen it opens on (`available`: that screen's
        available geometry): a size saved on a larger screen, or the default size at a
        large scale factor, would otherwise open partly off screen."""
        if available is None:
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is None:
                return
            available = screen.availableGeometry()
        frame = self.frameGeometry()  # the window with its title bar and borders
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        width = min(self.width(), available.width() - extra_w)
        height = min(self.height(), available.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        outer_w, outer_h = self.width() + extra_w, self.height() + extra_h
        x = max(min(frame.x(), available.right() + 1 - outer_w), available.left())
        y = max(min(frame.y(), available.bottom() + 1 - outer_h), available.top())
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def _save_settings(self) -> None:
        try:
            settings.write_values({settings.GEOMETRY_KEY: self.saveGeometry(),
                                   settings.STATE_KEY: self.saveState(),
                                   settings.SPLITTERS_KEY: self.splitter.saveState(),
                                   settings.WORKSPACE_KEY: str(self.workspace)})
        except Exception:
            log.warning("cannot save settings", exc_info=True)

    def _running_exports(self) -> list[Path]:
        """Datasets whose export is still writing: one that has ended counts no more,
        even before its end has reached this thread."""
        return [path for path, worker in self.exports.items() if worker.running]

    def closeEvent(self, event: QCloseEvent) -> None:
        active = self.jobs.active_jobs()
        if active and not self._closing:
            names = ", ".join(f"'{job.name}'" for job in active)
            if not self.ask("Stop running jobs?",
                            f"Runs are writing {names}. Stop them and quit? Samples "
                            "committed so far are kept."):
                event.ignore()
                return
        elif self._running_exports() and not self._closing:
            names = ", ".join(f"'{path.stem}'" for path in self._running_exports())
            if not self.ask("Stop exports?", f"Exports of {names} are running. Stop them "
                            "and quit? Unfinished export files are not kept."):
                event.ignore()
                return
        self._closing = True
        self.jobs.cancel_all()
        for row in self.export_rows:  # an unfinished export leaves no file
            row.cancel()
        self.watcher.stop()
        self.jobs.shutdown()
        self._save_settings()
        # Runs stop after their current block; wait so that no thread outlives the window.
        QThreadPool.globalInstance().waitForDone()
        # What `app.create_main_window` froze is the collector's again: the window's
        # objects, once closed, are collected like any others.
        gc.unfreeze()
        event.accept()


def _dropped_datasets(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    """The local .h5 files a drag carries."""
    urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
    return [Path(url.toLocalFile()) for url in urls
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".h5")]
