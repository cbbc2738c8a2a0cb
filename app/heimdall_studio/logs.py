"""Logging, configured once at the entry point: stderr plus a rotating log file."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

LOG_DIR_ENV = "HEIMDALL_STUDIO_LOG_DIR"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"


def log_dir() -> Path:
    env = os.environ.get(LOG_DIR_ENV)
    return Path(env) if env else platformdirs.user_log_path("heimdall-studio", appauthor=False)


def configure_logging(debug: bool = False) -> Path | None:
    """Log warnings (everything with `debug`) to stderr and INFO and up to a file.

    Returns the log file, or None when it cannot be written: logging never stops the app.
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_heimdall", False):
            root.removeHandler(handler)
            # Called again by run_app after the CLI: an old file handler left open would
            # keep the log open twice (and block rotation on Windows).
            handler.close()
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if debug else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console._heimdall = True  # type: ignore[attr-defined]
    root.addHandler(console)
    path = log_dir() / "heimdall-studio.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1 << 20, backupCount=5, encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, exc)
        return None
    file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    file_handler._heimdall = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    for noisy in ("numba", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
