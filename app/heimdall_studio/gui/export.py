"""Exporting a dataset from the app: choosing format and file, and the export as a job.

The file dialog asks for both at once: its filters are the formats, Parquet among them
when pyarrow is installed (else a filter that says how to get it). It opens in the folder
of the last export, or the user's Documents folder: never beside the dataset, in the
workspace. The export itself is `core.tools.export.export_dataset`, run on a superqt
thread worker that reports each slab through its `progressed` signal and stops at the
next slab when cancelled. It writes to a hidden sibling that takes the final name only when
complete, so nothing half-written is ever left under that name.

An `ExportRow` shows the export like a run in the job panel: progress, rate, ETA and
Cancel; when it ends, the result (with "Open folder") stays until dismissed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import WorkerBase
from superqt.utils._qthreading import WorkerBaseSignals  # what SignalsClass extends

from ..core.api import DatasetEntry
from ..core.config.units import format_size
from ..core.tools.export import (
    PARQUET_HINT,
    ExportCancelled,
    export_dataset,
    export_formats,
    parquet_available,
)
from . import settings
from .job_panel import format_duration
from .jobs import describe_error

FORMAT_FILTERS = {"csv": "CSV table (*.csv)", "npz": "NumPy arrays (*.npz)",
                  "parquet": "Parquet table (*.parquet)"}  # EXPORT_FORMATS
# What the dialog offers in place of Parquet without pyarrow: choosing it says why not.
PARQUET_MISSING_FILTER = f"{PARQUET_HINT} (*.parquet)"
FORMAT_NAMES = {"csv": "CSV", "npz": "NPZ", "parquet": "Parquet"}
EXPORT_FOLDER_KEY = "export/folder"

__all__ = ["ExportCancelled", "ExportRequest", "ExportRow", "ExportWorker", "choose_export"]


@dataclass(frozen=True)
class ExportRequest:
    """Write every committed sample of `dataset` as `fmt` to `target`."""

    dataset: Path
    fmt: str
    target: Path


# -- where exports go ------------------------------------------------------------------


def documents_folder() -> Path:
    """The user's Documents folder, or their home folder where there is none."""
    documents = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents) if documents and Path(documents).is_dir() else Path.home()


def export_folder() -> Path:
    """Where the file dialog opens: the folder of the last export if it still exists,
    else the Documents folder."""
    try:
        value = settings.open_settings().value(EXPORT_FOLDER_KEY)
    except Exception:  # settings are a convenience, never a reason to fail
        value = None
    if isinstance(value, str) and value and Path(value).is_dir():
        return Path(value)
    return documents_folder()


def remember_export_folder(folder: Path) -> None:
    # settings are a convenience: without, the next export opens in the Documents folder
    with contextlib.suppress(Exception):
        settings.write_values({EXPORT_FOLDER_KEY: str(folder)})


def offered_formats(entry: DatasetEntry) -> dict[str, str]:
    """The dialog's filters by format: those the dataset exports to (an IQ dataset's:
    NPZ), Parquet saying what it needs when pyarrow is missing."""
    formats = export_formats(entry.header) if entry.header else tuple(FORMAT_FILTERS)
    return {f: PARQUET_MISSING_FILTER if f == "parquet" and not parquet_available()
            else FORMAT_FILTERS[f] for f in formats}


def choose_export(parent: QWidget | None, entry: DatasetEntry,
                  confirm: Callable[[str, str], bool],
                  refuse: Callable[[str, str], object] | None = None
                  ) -> ExportRequest | None:
    """Ask for the format and the file; None if the user cancels.

    A typed extension of an offered format wins over the selected filter. When the
    extension has to be added, the dialog has not asked about replacing that file, so
    `confirm` does. Parquet without pyarrow is refused through `refuse` (title, text).
    The folder chosen is remembered for the next export.
    """
    offered = offered_formats(entry)
    first = next(iter(offered))
    filters = list(offered.values())
    proposed = export_folder() / f"{entry.name}.{first}"
    filename, chosen = QFileDialog.getSaveFileName(
        parent, f"Export '{entry.name}'", str(proposed), ";;".join(filters), filters[0])
    if not filename:
        return None
    target = Path(filename)
    typed = target.suffix.lower().lstrip(".")
    if typed in offered:
        fmt = typed
    else:
        fmt = next((f for f, text in offered.items() if text == chosen), first)
        target = target.with_name(f"{target.name}.{fmt}")
    if fmt == "parquet" and not parquet_available():
        if refuse is not None:
            refuse("Parquet unavailable", PARQUET_HINT)
        return None
    if typed not in offered and target.exists() and not confirm(
            "Replace file?", f"{target} already exists. Replace it?"):
        return None
    remember_export_folder(target.parent)
    return ExportRequest(entry.path, fmt, target)


# -- the work --------------------------------------------------------------------------


def write_export(request: ExportRequest,
                 progress: Callable[[int, int], None] | None = None,
                 stop_requested: Callable[[], bool] | None = None) -> Path:
    """Export to a hidden sibling, then replace the target: a file the user agreed to
    replace survives a failed or cancelled export (the core refuses existing targets),
    and a cancelled one leaves nothing."""
    target = request.target
    part = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        export_dataset(request.dataset, request.fmt, part, progress,
                       stop_requested=stop_requested)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


class ExportSignals(WorkerBaseSignals):
    progressed = Signal(object)  # (done, total) sample counts


class ExportWorker(WorkerBase[Path]):
    """superqt's worker for one export (not started): `progressed` carries (done, total)
    sample counts, `returned` the file written, `errored` the exception. `quit()` stops it
    at the next slab, with ExportCancelled. `running` says whether its work is still
    going on, at once (its signals reach the GUI thread a moment later); `written` is the
    file once it has its name, even if a cancel came too late to stop it."""

    def __init__(self, request: ExportRequest):
        super().__init__(SignalsClass=ExportSignals)
        self.request = request
        self.written: Path | None = None
        self._ended = threading.Event()

    @property
    def running(self) -> bool:
        return not self._ended.is_set()

    def work(self) -> Path:
        try:
            self.written = write_export(self.request, self._progress,
                                        lambda: self.abort_requested)
            return self.written
        finally:
            self._ended.set()

    def _progress(self, done: int, total: int) -> None:  # in the pool thread
        self.signals.progressed.emit((done, total))


# -- the job's row ---------------------------------------------------------------------


class ExportRow(QFrame):
    """One export in the job panel: what, how far, how fast, and Cancel; then how it
    ended, with "Open folder" for the file, until the user dismisses it."""

    dismissed = Signal(object)  # this row

    def __init__(self, worker: ExportWorker, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker = worker
        request = worker.request
        self.setObjectName("export_row")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.state = "running"  # finished, cancelled, failed
        self.done, self.total = 0, 0
        self.began = time.monotonic()
        self.title = QLabel(f"Export of '{request.dataset.stem}' as "
                            f"{FORMAT_NAMES[request.fmt]}", objectName="export_title")
        self.title.setToolTip(str(request.target))
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar(objectName="export_progress")
        self.progress.setRange(0, 1000)  # per mille, as a run's
        self.stats = QLabel("opening the dataset…", objectName="export_stats", wordWrap=True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton("Cancel", objectName="cancel_export")
        self.cancel_button.setToolTip("Stop the export; no file is left")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open folder", objectName="open_export_folder")
        self.open_button.clicked.connect(self.open_folder)
        self.dismiss_button = QPushButton("Dismiss", objectName="dismiss_export")
        self.dismiss_button.clicked.connect(lambda: self.dismissed.emit(self))
        self.open_button.hide()
        self.dismiss_button.hide()
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        for button in (self.cancel_button, self.open_button, self.dismiss_button):
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.stats)
        worker.progressed.connect(self.set_progress)

    @property
    def active(self) -> bool:
        return self.state in ("running", "cancelling")

    def cancel(self) -> None:
        if self.active:
            self.state = "cancelling"
            self.worker.quit()
            self.cancel_button.setEnabled(False)
            self.stats.setText("cancelling…")

    def set_progress(self, counts: tuple[int, int]) -> None:
        self.done, self.total = counts
        if not self.active:
            return
        self.progress.setValue(1000 * self.done // self.total if self.total else 0)
        if self.state == "cancelling":
            return
        elapsed = time.monotonic() - self.began
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        eta = (self.total - self.done) / rate if rate else None
        self.stats.setText(f"{self.done:,} of {self.total:,} samples · {rate:,.0f} samples/s"
                           f" · ETA {format_duration(eta)}")

    def finish(self, target: Path) -> None:
        """The file has its name: say what was written, where, and how large."""
        self.state = "finished"
        self.progress.setValue(1000)
        try:
            size = f" ({format_size(target.stat().st_size)})"
        except OSError:  # removed meanwhile: the sentence stands without the size
            size = ""
        count = self.total or self.done
        self.stats.setText(f"Exported {count:,} samples to {target}{size}")
        self._ended(open_folder=True)

    def fail(self, exc: Exception) -> None:
        if isinstance(exc, ExportCancelled) or self.state == "cancelling":
            self.state = "cancelled"
            self.stats.setText(f"Export cancelled: nothing was written to "
                               f"{self.worker.request.target}")
        else:
            self.state = "failed"
            self.stats.setText(f"Export failed: {describe_error(exc)}")
            self.stats.setStyleSheet("color: #b3261e;")
        self._ended(open_folder=False)

    def _ended(self, open_folder: bool) -> None:
        self.cancel_button.hide()
        self.open_button.setVisible(open_folder)
        self.dismiss_button.show()

    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.worker.request.target.parent)))
