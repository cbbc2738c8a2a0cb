"""Starting the desktop app: the QApplication, logging, the exception hook, the window.

The command line parses its arguments without Qt and calls `run_app`; nothing here runs
at import time, so importing the package never starts Qt.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from importlib import resources
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from .. import __version__
from ..core import api
from . import settings
from .main_window import MainWindow

log = logging.getLogger(__name__)


def create_main_window(workspace: str | Path) -> MainWindow:
    """The main window for a workspace folder (a QApplication must already exist)."""
    if QApplication.instance() is None:
        raise RuntimeError("create a QApplication before the main window")
    return MainWindow(workspace)


def choose_workspace(workspace: str | Path | None) -> Path:
    """Explicit folder, else $HEIMDALL_STUDIO_WORKSPACE, else the last one used, else the
    platform default."""
    if workspace:
        return Path(workspace).expanduser()
    if os.environ.get(api.WORKSPACE_ENV):
        return api.default_workspace()
    return settings.read_workspace() or api.default_workspace()


def configure_logging(debug: bool) -> None:
    """Once, at the entry point; a caller that configured logging already is respected."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:  # numba's compiler is very chatty at DEBUG/INFO
        logging.getLogger("numba").setLevel(logging.WARNING)


def report_exception(exc_type: type[BaseException], exc: BaseException,
                     tb: TracebackType | None) -> QMessageBox | None:
    """sys.excepthook: an uncaught exception in a slot is logged and shown, not swallowed."""
    if issubclass(exc_type, KeyboardInterrupt):
        QApplication.quit()
        return None
    log.critical("uncaught exception", exc_info=(exc_type, exc, tb))
    app = QApplication.instance()
    if app is None:
        sys.__excepthook__(exc_type, exc, tb)
        return None
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error",
                      f"Heimdall Studio hit an unexpected error:\n\n{exc_type.__name__}: {exc}\n\n"
                      "The details are in the log. The app keeps running, but the last "
                      "action may not have completed.",
                      QMessageBox.StandardButton.Ok, app.activeWindow())
    box.setObjectName("exception_dialog")
    box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # not exec(): an exception inside a modal loop must not nest another
    return box


def app_icon() -> QIcon | None:
    """The packaged app icon, if this installation ships it."""
    try:
        icon = resources.files("heimdall_studio").joinpath("assets/icons/heimdall-studio.svg")
        if icon.is_file():
            return QIcon(str(icon))
    except (OSError, ModuleNotFoundError):
        pass
    return None


def run_app(workspace: str | Path | None = None, debug: bool = False) -> int:
    """Create the QApplication and the main window, and run until the window closes."""
    configure_logging(debug)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("heimdall-studio")  # matches the .desktop entry
    icon = app_icon()
    if icon is not None:
        app.setWindowIcon(icon)
    previous_hook = sys.excepthook
    sys.excepthook = report_exception
    try:
        folder = choose_workspace(workspace)
        log.info("Heimdall Studio %s, workspace %s", __version__, folder)
        window = create_main_window(folder)
        window.show()
        # Let Ctrl+C in the terminal reach Python now and then while Qt runs.
        heartbeat = QTimer(interval=500)
        heartbeat.timeout.connect(lambda: None)
        heartbeat.start()
        return app.exec()
    finally:
        sys.excepthook = previous_hook
