"""App identity (icon, names, About with versions) and the crash dialog naming the log."""

from __future__ import annotations

import logging
import platform
import sys
from pathlib import Path

import h5py
import numba
import numpy
import pyqtgraph
import PySide6
import shiboken6
from PySide6.QtCore import QSize, QTimer, qVersion
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox, QPushButton

import heimdall_studio
from heimdall_studio import __version__, logs
from heimdall_studio.gui import app as gui_app
from heimdall_studio.gui.identity import ICON_SIZES, AboutDialog, app_icon, icon_folder


def test_icon_comes_from_the_package_in_every_size(qtbot):
    package = Path(heimdall_studio.__file__).parent
    assert icon_folder() == package / "assets" / "icons"
    icon = app_icon()
    assert not icon.isNull()
    assert [s.width() for s in icon.availableSizes()] == list(ICON_SIZES)
    assert icon.pixmap(QSize(48, 48)).size() == QSize(48, 48)
    # The scalable source ships too, and this Qt can draw it.
    svg = QIcon(str(icon_folder() / "heimdall-studio.svg"))
    assert not svg.pixmap(QSize(100, 100)).isNull()


def test_main_window_has_the_icon(open_window, workspace):
    window = open_window(workspace)
    assert not window.windowIcon().isNull()
    assert {s.width() for s in window.windowIcon().availableSizes()} >= {16, 32, 256}


def test_about_shows_the_versions_of_every_component(qtbot, open_window, workspace):
    window = open_window(workspace)
    window.action_about.trigger()
    dialog = window.findChild(QDialog, "about_dialog")
    assert isinstance(dialog, AboutDialog) and dialog.isVisible()
    menus = {m.text().replace("&", ""): m.menu().actions() for m in window.menuBar().actions()}
    assert window.action_about in menus["Help"]
    versions = dialog.versions()
    assert versions["Heimdall Studio"] == __version__
    assert versions["Qt"] == qVersion()
    assert versions["PySide6"] == PySide6.__version__
    assert versions["numba"] == numba.__version__
    assert versions["numpy"] == numpy.__version__
    assert versions["h5py"] == h5py.__version__
    assert versions["HDF5"] == h5py.version.hdf5_version
    assert versions["pyqtgraph"] == pyqtgraph.__version__
    assert versions["Python"].startswith(platform.python_version())
    assert str(logs.log_dir()) in dialog.findChild(QLabel, "log_location").text()

    copy = dialog.findChild(QPushButton, "copy_versions")
    copy.click()
    copied = QGuiApplication.clipboard().text()
    assert f"HDF5: {h5py.version.hdf5_version}" in copied
    assert f"Heimdall Studio: {__version__}" in copied
    dialog.close()
    # Asking again shows the same dialog, not a second one.
    window.action_about.trigger()
    assert window.findChildren(AboutDialog) == [dialog]
    dialog.close()


def test_exception_dialog_names_the_log_file(qtbot, tmp_path):
    log_file = tmp_path / "logs" / "heimdall-studio.log"
    try:
        raise ValueError("broken slot")
    except ValueError:
        box = gui_app.report_exception(*sys.exc_info(), log_file=log_file)
    qtbot.addWidget(box)  # closing it (and so deleting it) is left to qtbot
    assert box.isVisible() and box.objectName() == "exception_dialog"
    assert str(log_file) in box.text() and "broken slot" in box.text()


def test_exception_dialog_says_when_there_is_no_log_file(qtbot):
    try:
        raise ValueError("no log")
    except ValueError:
        box = gui_app.report_exception(*sys.exc_info(), log_file=None)
    qtbot.addWidget(box)
    assert "No log file" in box.text() and "ValueError" in box.detailedText()


def test_run_app_sets_identity_and_its_hook_shows_the_log_path(qtbot, workspace,
                                                                monkeypatch,
                                                                restore_logging):
    """The whole start-up: the hook run_app installs reports an uncaught exception in a
    dialog naming the file configure_logging writes, and the traceback is in that file."""
    shown: list[str] = []
    boxes: list[QMessageBox] = []
    real_create = gui_app.create_main_window

    def crash_then_close() -> None:
        try:
            raise RuntimeError("slot went wrong")
        except RuntimeError:
            box = sys.excepthook(*sys.exc_info())
            boxes.append(box)
            shown.append(box.text())
        for window in QApplication.topLevelWidgets():
            if window.objectName() == "main_window":
                window.close()

    def create(folder):
        window = real_create(folder)
        qtbot.addWidget(window)
        QTimer.singleShot(100, crash_then_close)
        return window

    monkeypatch.setattr(gui_app, "create_main_window", create)
    assert gui_app.run_app(str(workspace)) == 0

    log_file = logs.log_dir() / "heimdall-studio.log"
    assert shown and str(log_file) in shown[0] and "slot went wrong" in shown[0]
    # The box belonged to the main window and went with it (so qtbot has nothing to close).
    assert not shiboken6.isValid(boxes[0])
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "RuntimeError: slot went wrong" in log_file.read_text(encoding="utf-8")
    app = QApplication.instance()
    assert app.organizationName() == "Heimdall Studio"
    assert app.applicationName() == "Heimdall Studio"
    assert app.applicationVersion() == __version__
    assert QGuiApplication.desktopFileName() == "heimdall-studio"
    assert not app.windowIcon().isNull()



def test_configuring_logging_again_closes_the_old_log_file(restore_logging):
    """The CLI configures logging, then run_app does again: one open log file remains."""
    def log_files() -> list[logging.FileHandler]:
        return [h for h in logging.getLogger().handlers
                if isinstance(h, logging.FileHandler) and getattr(h, "_heimdall", False)]

    logs.configure_logging()
    first = log_files()
    logs.configure_logging()
    now = log_files()
    assert len(first) == len(now) == 1 and now[0] is not first[0]
    assert first[0].stream is None  # closed
