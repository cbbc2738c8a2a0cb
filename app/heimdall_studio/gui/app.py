"""Starting the desktop app: the QApplication, logging, the exception hook, the window.

The command line parses its arguments without Qt and calls `run_app`; nothing here runs
at import time, so importing the package never starts Qt. The window's module (and
pyqtgraph) is imported when the first window is made.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

from .. import __version__
from ..core import api
from ..logs import configure_logging
from . import settings
from .identity import apply_identity

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

# How long a thread holding the GIL keeps it once another asks (Python's default: 5 ms).
GUI_SWITCH_INTERVAL_S = 0.0005


def create_main_window(workspace: str | Path) -> MainWindow:
    """The main window for a workspace folder (a QApplication must already exist)."""
    if QApplication.instance() is None:
        raise RuntimeError("create a QApplication before the main window")
    from .main_window import MainWindow  # pyqtgraph and the window: see open_main_window

    # The window's threads (listing, the sample table's reads, the run's messages) run
    # Python too. Asked for the GIL, a thread holding it lets go after the switch
    # interval, and the GUI thread asks again after each Qt call it makes: at Python's 5 ms
    # default, a paint of a few dozen calls could wait for 50 ms and more.
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    window = MainWindow(workspace)
    # The objects of start-up (Qt's wrappers, pyqtgraph, h5py, the config tables) live as
    # long as the app. Frozen, the collector's full passes no longer walk them: one such
    # pass over the ~200,000 of them stopped the GUI thread for 50-80 ms.
    gc.collect()
    gc.freeze()
    return window


def open_main_window(workspace: Path) -> MainWindow:
    """The main window shown, as the app opens it."""
    window = create_main_window(workspace)
    window.show()
    return window


def choose_workspace(workspace: str | Path | None) -> tuple[Path, str | None]:
    """Explicit folder, else $HEIMDALL_STUDIO_WORKSPACE, else the last one used if it is
    still there, else the platform default; with a notice for the user when the last one
    used is gone (a removed folder, an unplugged disk), rather than making it again,
    empty, as the window makes a workspace that does not exist."""
    if workspace:
        return Path(workspace).expanduser(), None
    if os.environ.get(api.WORKSPACE_ENV):
        return api.default_workspace(), None
    saved = settings.read_workspace()
    if saved is None:
        return api.default_workspace(), None
    try:
        if saved.is_dir():
            return saved, None
    except OSError:  # unreachable (permissions, a dead mount): as good as gone
        pass
    default = api.default_workspace()
    log.warning("the workspace last used, %s, is gone; opening %s", saved, default)
    return default, (f"The workspace last used, {saved}, is not there any more: "
                     f"showing the default workspace, {default}")


def report_exception(exc_type: type[BaseException], exc: BaseException,
                     tb: TracebackType | None,
                     log_file: Path | None = None) -> QMessageBox | None:
    """sys.excepthook: an uncaught exception in a slot is logged and shown, not swallowed.

    The dialog names the log file, so a user can find the details to attach to a report.
    """
    if issubclass(exc_type, KeyboardInterrupt):
        QApplication.quit()
        return None
    log.critical("uncaught exception", exc_info=(exc_type, exc, tb))
    app = QApplication.instance()
    if app is None:
        sys.__excepthook__(exc_type, exc, tb)
        return None
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    where = (f"The details are in the log file:\n{log_file}" if log_file is not None else
             "No log file could be written; the details are below.")
    box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error",
                      f"Heimdall Studio hit an unexpected error:\n\n{exc_type.__name__}: {exc}"
                      f"\n\n{where}\n\nThe app keeps running, but the last action may not "
                      "have completed.",
                      QMessageBox.StandardButton.Ok, _dialog_parent(app))
    box.setObjectName("exception_dialog")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy the path
    box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # not exec(): an exception inside a modal loop must not nest another
    return box


def _dialog_parent(app: QApplication) -> QWidget | None:
    """The window a dialog belongs to: the active one, else the visible main window (the
    app may not be in front). A box without one would stay open, and keep the app
    running, after the main window closed."""
    active = app.activeWindow()
    if active is not None:
        return active
    return next((w for w in app.topLevelWidgets()
                 if isinstance(w, QMainWindow) and w.isVisible()), None)


def run_app(workspace: str | Path | None = None, debug: bool = False) -> int:
    """Create the QApplication and the main window, and run until the window closes."""
    # Idempotent: the command line configured it already, but run_app is also an entry
    # point of its own, and the exception dialog needs the file's path.
    log_file = configure_logging(debug)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_identity(app)
    previous_hook = sys.excepthook
    sys.excepthook = functools.partial(report_exception, log_file=log_file)
    try:
        folder, notice = choose_workspace(workspace)
        log.info("Heimdall Studio %s, workspace %s, log %s", __version__, folder, log_file)
        window = open_main_window(folder)
        if notice:
            window.show_notice(notice)
        # Let Ctrl+C in the terminal reach Python now and then while Qt runs.
        heartbeat = QTimer(interval=500)
        heartbeat.timeout.connect(lambda: None)
        heartbeat.start()
        return app.exec()
    finally:
        sys.excepthook = previous_hook
