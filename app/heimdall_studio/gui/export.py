"""Exporting a dataset from the app: choosing format and file, and the work that writes it.

The file dialog asks for both at once: its filters are the formats. The export itself is
`core.tools.export.export_dataset`, run on a superqt thread worker; it streams slab by slab and
reports progress through the worker's `progressed` signal.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QWidget
from superqt.utils import WorkerBase
from superqt.utils._qthreading import WorkerBaseSignals  # what SignalsClass extends

from ..core.api import DatasetEntry
from ..core.errors import HeimdallError
from ..core.tools.export import export_dataset, export_formats

FORMAT_FILTERS = {"csv": "CSV table (*.csv)", "npz": "NumPy arrays (*.npz)"}  # EXPORT_FORMATS


@dataclass(frozen=True)
class ExportRequest:
    """Write every committed sample of `dataset` as `fmt` to `target`."""

    dataset: Path
    fmt: str
    target: Path


class ExportCancelled(HeimdallError):
    """Raised from the progress callback to stop an export (the window is closing)."""


def choose_export(parent: QWidget, entry: DatasetEntry,
                  confirm: Callable[[str, str], bool]) -> ExportRequest | None:
    """Ask for the format and the file; None if the user cancels.

    Only the formats the dataset exports to are offered (an IQ dataset's: NPZ). A typed
    extension of one of them wins over the selected filter. When the extension
    has to be added, the dialog has not asked about replacing that file, so `confirm` does.
    """
    offered = {f: FORMAT_FILTERS[f] for f in
               (export_formats(entry.header) if entry.header else FORMAT_FILTERS)}
    first = next(iter(offered))
    filters = list(offered.values())
    filename, chosen = QFileDialog.getSaveFileName(
        parent, f"Export '{entry.name}'", str(entry.path.with_suffix(f".{first}")),
        ";;".join(filters), filters[0])
    if not filename:
        return None
    target = Path(filename)
    typed = target.suffix.lower().lstrip(".")
    if typed in offered:
        return ExportRequest(entry.path, typed, target)
    fmt = next((f for f, text in offered.items() if text == chosen), first)
    target = target.with_name(f"{target.name}.{fmt}")
    if target.exists() and not confirm("Replace file?",
                                       f"{target} already exists. Replace it?"):
        return None
    return ExportRequest(entry.path, fmt, target)


def write_export(request: ExportRequest,
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Export to a hidden sibling, then replace the target: a file the user agreed to
    replace survives a failed or cancelled export (the core refuses existing targets)."""
    target = request.target
    part = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        export_dataset(request.dataset, request.fmt, part, progress)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


class ExportSignals(WorkerBaseSignals):
    progressed = Signal(object)  # (done, total) sample counts


class ExportWorker(WorkerBase[Path]):
    """superqt's worker for one export (not started): `progressed` carries (done, total)
    sample counts, `returned` the file written, `errored` the exception. `quit()` stops it
    at the next slab, with ExportCancelled. A worker of its own, because superqt's
    function worker has no signal for progress, and an export's is a callback."""

    def __init__(self, request: ExportRequest):
        super().__init__(SignalsClass=ExportSignals)
        self.request = request

    def work(self) -> Path:
        return write_export(self.request, self._progress)

    def _progress(self, done: int, total: int) -> None:  # in the pool thread
        if self.abort_requested:
            raise ExportCancelled(f"export of '{self.request.dataset.stem}' cancelled")
        self.signals.progressed.emit((done, total))
