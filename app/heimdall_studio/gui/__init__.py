"""The desktop app (PySide6 + pyqtgraph) on top of the Qt-free core.

`create_main_window(workspace)` builds the window (a QApplication must exist);
`run_app(workspace, debug)` is the whole app, as started by `heimdall-studio`.
"""

from .app import create_main_window, run_app

__all__ = ["create_main_window", "run_app"]
