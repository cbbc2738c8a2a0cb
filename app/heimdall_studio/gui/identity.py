"""Who the app is: its icon, its names, and the About dialog with component versions.

The icon comes from the installed package (`heimdall_studio/assets/icons`), never from
the source tree's `resources/`, so a wheel or a frozen bundle shows it too.
"""

from __future__ import annotations

import importlib.metadata
import platform
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.api import hdf5_version
from ..logs import log_dir
from . import settings

ICON_NAME = "heimdall-studio"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DESKTOP_FILE_NAME = "heimdall-studio"  # resources/heimdall-studio.desktop


def icon_folder() -> Path:
    """The installed icon folder. Packages are installed as plain files (wheel, editable
    or PyInstaller bundle), so the resource is a real directory Qt can read from."""
    return Path(str(resources.files("heimdall_studio").joinpath("assets", "icons")))


def app_icon() -> QIcon:
    """The app icon: the rendered PNG sizes, sharp at small sizes and listed by
    `availableSizes()` (which window managers read). The SVG source is the fallback where
    the PNGs are missing; Qt's SVG engine reports no sizes, so it does not lead."""
    folder = icon_folder()
    icon = QIcon()
    for size in ICON_SIZES:
        png = folder / f"{ICON_NAME}-{size}.png"
        if png.is_file():
            icon.addFile(str(png), QSize(size, size))
    svg = folder / f"{ICON_NAME}.svg"
    if icon.isNull() and svg.is_file():
        icon.addFile(str(svg))
    return icon


def apply_identity(app: QApplication) -> None:
    """Names (they also place QSettings), version, desktop entry and icon."""
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationVersion(__version__)
    # Wayland compositors match windows to the .desktop entry (and its icon) by this name.
    QGuiApplication.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(app_icon())


def _version_of(package: str) -> str:
    """A package's version from its metadata, without importing it: numba and h5py are the
    core's to load (numba is slow to import), and the frozen app ships their
    metadata for this (packaging/heimdall-studio.spec)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def component_versions() -> list[tuple[str, str]]:
    """The versions a bug report needs: the app and everything it computes or draws with."""
    import numpy
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    return [
        ("Heimdall Studio", __version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("numba", _version_of("numba")),
        ("llvmlite", _version_of("llvmlite")),
        ("numpy", numpy.__version__),
        ("h5py", _version_of("h5py")),
        ("HDF5", hdf5_version()),
        ("pyqtgraph", pyqtgraph.__version__),
        ("Platform", platform.platform()),
    ]


def versions_text() -> str:
    return "\n".join(f"{name}: {version}" for name, version in component_versions())


class AboutDialog(QDialog):
    """Help > About: what the app is, its version and those of its components (copyable
    for bug reports), and where the log is written."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle("About Heimdall Studio")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(f"<h2>Heimdall Studio {__version__}</h2>"
                       "<p>Synthetic datasets for RF transmitter localization: create, "
                       "expand and browse them.</p>", wordWrap=True)
        versions = component_versions()
        self.versions_table = QTableWidget(len(versions), 2, objectName="versions_table")
        self.versions_table.setHorizontalHeaderLabels(["Component", "Version"])
        self.versions_table.verticalHeader().hide()
        self.versions_table.horizontalHeader().setStretchLastSection(True)
        self.versions_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (name, version) in enumerate(versions):
            self.versions_table.setItem(row, 0, QTableWidgetItem(name))
            self.versions_table.setItem(row, 1, QTableWidgetItem(version))
        self.versions_table.resizeColumnToContents(0)
        self.versions_table.resizeRowsToContents()
        # Tall enough for every row: a version list that scrolls hides half of a report.
        self.versions_table.setSizeAdjustPolicy(
            QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        logs = QLabel(f"Log files: {log_dir()}", objectName="log_location", wordWrap=True)
        logs.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy versions", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setObjectName("copy_versions")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(versions_text()))
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(icon, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(title)
        layout.addWidget(self.versions_table)
        layout.addWidget(logs)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    def versions(self) -> dict[str, str]:
        table = self.versions_table
        return {table.item(r, 0).text(): table.item(r, 1).text()
                for r in range(table.rowCount())}
