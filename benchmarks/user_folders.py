"""Benchmarks run in folders of their own: never the user's settings, workspace, caches or logs.

The app finds each of those folders through an environment variable of its own or of XDG,
which the processes a benchmark starts (the app's start-up, its runs) inherit. They are
set before Qt starts, as Qt reads its folders once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from heimdall_studio.core.workspace.index import CACHE_DIR_ENV
from heimdall_studio.core.workspace.paths import WORKSPACE_ENV
from heimdall_studio.gui.settings import SETTINGS_DIR_ENV
from heimdall_studio.logs import LOG_DIR_ENV

FOLDERS = {
    SETTINGS_DIR_ENV: "settings",
    WORKSPACE_ENV: "workspace",
    CACHE_DIR_ENV: "cache",
    LOG_DIR_ENV: "logs",
    # whatever else goes by the user's folders: Qt's own files, the platform defaults
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "XDG_CACHE_HOME": "cache-xdg",
    "XDG_STATE_HOME": "state",
}


@contextlib.contextmanager
def private_user_folders(parent: Path | None = None) -> Iterator[Path]:
    """Every user folder of the app inside a temporary folder (in `parent`), for this
    process and those it starts, until the block ends; then removed, and the environment
    restored."""
    saved = {name: os.environ.get(name) for name in FOLDERS}
    with tempfile.TemporaryDirectory(prefix="heimdall-bench-", dir=parent) as tmp:
        folder = Path(tmp)
        os.environ.update({name: str(folder / sub) for name, sub in FOLDERS.items()})
        try:
            yield folder
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
