"""Where the app's runs compute their blocks: this computer, a local cluster of worker
processes, or a Dask scheduler given by address (`core.runs.cluster`).

It is a setting of the app, remembered, never a parameter of a dataset: the samples are the
same wherever they are computed. The stored text is validated as any input is when it is
read, so a hand-edited settings file can never hand the runs an address that is not one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import ClusterAddressError
from ..core.runs.cluster import INSTALL_HINT, MAX_LOCAL_WORKERS, ClusterSpec, parse_optional
from .settings import open_settings, write_values

log = logging.getLogger(__name__)

CLUSTER_KEY = "compute/cluster"


def read_cluster() -> str:
    """The saved place to compute, as `ClusterSpec.parse` takes it; an empty text for this
    computer, also when the saved value is not a cluster (it is logged and ignored)."""
    try:
        value = open_settings().value(CLUSTER_KEY)
    except Exception:  # a settings backend error must not stop a run
        log.warning("cannot read the compute setting", exc_info=True)
        return ""
    if value is None or value == "":
        return ""
    try:
        spec = parse_optional(value if isinstance(value, str) else repr(value))
    except ClusterAddressError:
        log.warning("ignoring a saved compute setting that is not a cluster: %r", value)
        return ""
    return "" if spec is None else str(spec)


def write_cluster(text: str) -> None:
    write_values({CLUSTER_KEY: text})


def dask_installed() -> bool:
    return importlib.util.find_spec("distributed") is not None


class ComputeDialog(QDialog):
    """Choose where runs compute; `choice()` is the text to save (empty: here)."""

    def __init__(self, current: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("compute_dialog")
        self.setWindowTitle("Compute")
        self.here = QRadioButton("This computer", objectName="compute_here")
        self.local = QRadioButton("Worker processes on this computer:",
                                  objectName="compute_local")
        self.workers = QSpinBox(objectName="compute_local_workers")
        self.workers.setRange(1, MAX_LOCAL_WORKERS)
        self.workers.setValue(os.cpu_count() or 2)
        self.workers.setSuffix(" workers")
        self.remote = QRadioButton("A Dask scheduler at:", objectName="compute_scheduler")
        self.address = QLineEdit(objectName="compute_address")
        self.address.setPlaceholderText("tcp://scheduler.lab:8786")
        self.group = QButtonGroup(self)
        for button in (self.here, self.local, self.remote):
            self.group.addButton(button)
        self.message = QLabel(objectName="compute_message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = QLabel("Where runs compute their samples, never what they are: a dataset "
                      "made on a cluster is the same, bit for bit, as one made here, and "
                      "expands anywhere. The scheduler's dashboard is linked while a run "
                      "goes.")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        grid = QGridLayout()
        grid.addWidget(self.here, 0, 0, 1, 2)
        grid.addWidget(self.local, 1, 0)
        grid.addWidget(self.workers, 1, 1)
        grid.addWidget(self.remote, 2, 0)
        grid.addWidget(self.address, 2, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._show(current)
        self.group.buttonToggled.connect(self._check)
        self.workers.valueChanged.connect(self._check)
        self.address.textChanged.connect(self._check)
        self._check()

    def _show(self, current: str) -> None:
        spec = None
        with contextlib.suppress(ClusterAddressError):  # shown as this computer
            spec = parse_optional(current)
        if spec is None:
            self.here.setChecked(True)
        elif spec.local_workers is not None:
            self.local.setChecked(True)
            self.workers.setValue(spec.local_workers)
        else:
            self.remote.setChecked(True)
            self.address.setText(spec.address or "")

    def choice(self) -> str:
        """The text the choice saves: empty for this computer."""
        if self.local.isChecked():
            return f"local:{self.workers.value()}"
        if self.remote.isChecked():
            return self.address.text().strip()
        return ""

    def _check(self, *_args: object) -> None:
        """Say what is wrong with the choice, and allow OK only when nothing is."""
        self.workers.setEnabled(self.local.isChecked())
        self.address.setEnabled(self.remote.isChecked())
        problem = ""
        if not self.here.isChecked():
            if not dask_installed():
                problem = f"Computing on a cluster needs Dask: {INSTALL_HINT}"
            elif self.remote.isChecked() and not self.address.text().strip():
                problem = "Give the scheduler's address, as tcp://HOST:PORT or tls://HOST:PORT."
            else:
                try:
                    ClusterSpec.parse(self.choice())
                except ClusterAddressError as exc:
                    problem = str(exc)
        self.message.setText(problem)
        self.message.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
