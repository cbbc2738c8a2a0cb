"""The main window: browser, details and job panel, and the actions that tie them together.

Dialogs hand back value objects; this window turns them into runs through the JobManager.
Questions and error reports go through `ask` and `show_error`, so tests can answer them
without a modal loop.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QThreadPool, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
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
from .details import DetailsPanel
from .dialogs import (
    ExpandDatasetDialog,
    ExpandDatasetRequest,
    NewDatasetDialog,
    NewDatasetRequest,
)
from .export import ExportRequest, ExportWorker, choose_export
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
        self.browser.doubleClicked.connect(lambda _index: self.expand_dataset())
        self.jobs.job_started.connect(self._job_started)
        self.jobs.job_progressed.connect(self._job_progressed)
        self.jobs.job_ended.connect(self._job_ended)

        self._restore_settings()
        self._show_workspace()
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
        self.action_expand_dataset = self._action(
            "action_expand_dataset", "&Expand dataset…", "Ctrl+E", sp.SP_ArrowUp,
            self.expand_dataset, "Add samples to the selected dataset, drawn exactly as before")
        self.action_delete_dataset = self._action(
            "action_delete_dataset", "&Delete dataset…", QKeySequence.StandardKey.Delete,
            sp.SP_TrashIcon, self.delete_dataset, "Delete the selected dataset file")
        self.action_export_dataset = self._action(
            "action_export_dataset", "E&xport dataset…", "Ctrl+Shift+E",
            sp.SP_DialogSaveButton, self.export_dataset,
            "Write the selected dataset as a CSV table or NumPy arrays")
        self.action_reveal = self._action(
            "action_reveal", "&Show in folder", "Ctrl+Shift+R", sp.SP_DirOpenIcon,
            self.reveal, "Open the folder holding the selected dataset")
        self.action_open_workspace = self._action(
            "action_open_workspace", "&Open workspace…", "Ctrl+O", sp.SP_DirIcon,
            self.choose_workspace, "Browse the datasets of another folder")
        self.action_refresh = self._action(
            "action_refresh", "&Refresh", "F5", sp.SP_BrowserReload, self.refresh,
            "List the workspace and read the selected dataset again")
        self.action_terrain = self._action(
            "action_terrain", "&Terrain…", None, None, self.terrain,
            "Elevation tiles of the terrain library and what they cover")
        self.action_quit = self._action("action_quit", "&Quit", "Ctrl+Q", None, self.close,
                                        "Quit Heimdall Studio")
        self.action_about = self._action("action_about", "&About", None, None, self.about,
                                         "About Heimdall Studio")

    def _create_menus_and_toolbar(self) -> None:
        menu = self.menuBar().addMenu("&Dataset")
        for action in (self.action_new_dataset, self.action_expand_dataset,
                       self.action_export_dataset, self.action_delete_dataset,
                       self.action_reveal):
            menu.addAction(action)
        workspace = self.menuBar().addMenu("&Workspace")
        for action in (self.action_open_workspace, self.action_refresh):
            workspace.addAction(action)
        workspace.addSeparator()
        workspace.addAction(self.action_terrain)
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
        """Rows of a listing going on: a large workspace shows them as its files are read."""
        self.model.add_entries(entries)
        self._show_counts()

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
        self.action_export_dataset.setEnabled(readable and not busy)
        self.action_delete_dataset.setEnabled(entry is not None and not busy)

    # -- actions -----------------------------------------------------------------

    def new_dataset(self) -> NewDatasetDialog:
        dialog = NewDatasetDialog(self.workspace, self)
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
        request = choose_export(self, entry, self.ask)
        return self.start_export(request) if request is not None else None

    def start_export(self, request: ExportRequest) -> ExportWorker:
        worker = ExportWorker(request)
        name = request.dataset.stem
        worker.progressed.connect(lambda counts: self.statusBar().showMessage(
            f"Exporting '{name}': {counts[0]:,} of {counts[1]:,} samples"))
        worker.returned.connect(lambda out: self.statusBar().showMessage(
            f"Exported '{name}' to {out} ({format_size(Path(out).stat().st_size)})", 10_000))
        worker.errored.connect(lambda exc: self._export_failed(worker, request, exc))
        worker.finished.connect(lambda: self._export_ended(request))
        self.exports[request.dataset] = worker
        log.info("exporting %s as %s to %s", request.dataset, request.fmt, request.target)
        worker.start()
        self.statusBar().showMessage(f"Exporting '{name}' to {request.target}…")
        self._update_actions()
        return worker

    def _export_failed(self, worker: ExportWorker, request: ExportRequest,
                       exc: Exception) -> None:
        if not isinstance(exc, HeimdallError):  # its traceback, for a bug report
            log.error("exporting %s failed", request.dataset, exc_info=exc)
        if worker.abort_requested:  # we stopped it (closing); not an error to report
            self.statusBar().showMessage(f"Export of '{request.dataset.stem}' cancelled", 5000)
        elif not self._closing:
            self.show_error("Export failed", f"Exporting '{request.dataset.stem}' to "
                                             f"{request.target} failed.\n\n"
                                             f"{describe_error(exc)}")

    def _export_ended(self, request: ExportRequest) -> None:
        self.exports.pop(request.dataset, None)
        self._update_actions()

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
        entry = self.selected_entry()
        folder = entry.path.parent if entry else self.workspace
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

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

    def _save_settings(self) -> None:
        try:
            settings.write_values({settings.GEOMETRY_KEY: self.saveGeometry(),
                                   settings.STATE_KEY: self.saveState(),
                                   settings.SPLITTERS_KEY: self.splitter.saveState(),
                                   settings.WORKSPACE_KEY: str(self.workspace)})
        except Exception:
            log.warning("cannot save settings", exc_info=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        active = self.jobs.active_jobs()
        if active and not self._closing:
            names = ", ".join(f"'{job.name}'" for job in active)
            if not self.ask("Stop running jobs?",
                            f"Runs are writing {names}. Stop them and quit? Samples "
                            "committed so far are kept."):
                event.ignore()
                return
        elif self.exports and not self._closing:
            names = ", ".join(f"'{path.stem}'" for path in self.exports)
            if not self.ask("Stop exports?", f"Exports of {names} are running. Stop them "
                            "and quit? Unfinished export files are not kept."):
                event.ignore()
                return
        self._closing = True
        self.jobs.cancel_all()
        for worker in self.exports.values():  # an unfinished export leaves no file
            worker.quit()
        self.watcher.stop()
        self.jobs.shutdown()
        self._save_settings()
        # Runs stop after their current block; wait so that no thread outlives the window.
        QThreadPool.globalInstance().waitForDone()
        event.accept()
