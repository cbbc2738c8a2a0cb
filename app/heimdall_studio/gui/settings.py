"""Persistent settings (workspace, recent workspaces, window geometry), read defensively.

A settings file can hold anything: written by an older version, edited by hand, truncated.
Every read checks the type and falls back to a default, so a bad value never stops the app
from starting. The store is always INI in the user scope, so tests can redirect it with
`QSettings.setPath(IniFormat, UserScope, folder)`, or, for this process and the ones it
starts (benchmarks, tests of the app's start-up), with $HEIMDALL_STUDIO_SETTINGS_DIR.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger(__name__)

ORGANIZATION = "Heimdall Studio"
APPLICATION = "Heimdall Studio"

WORKSPACE_KEY = "workspace"
GEOMETRY_KEY = "window/geometry"
STATE_KEY = "window/state"
SPLITTERS_KEY = "window/splitters"
RECENT_KEY = "recent_workspaces"
MAX_RECENT = 8
SETTINGS_DIR_ENV = "HEIMDALL_STUDIO_SETTINGS_DIR"


def open_settings() -> QSettings:
    folder = os.environ.get(SETTINGS_DIR_ENV)
    if folder:
        return QSettings(os.path.join(folder, f"{APPLICATION}.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     ORGANIZATION, APPLICATION)


def read_workspace() -> Path | None:
    try:
        value = open_settings().value(WORKSPACE_KEY)
    except Exception:  # a settings backend error must not block start-up
        log.warning("cannot read the saved workspace", exc_info=True)
        return None
    if isinstance(value, str) and value.strip():
        try:
            return Path(value).expanduser()
        except RuntimeError:  # ~user of a user this system does not know
            log.warning("ignoring a saved workspace of an unknown user: %r", value)
            return None
    if value is not None:
        log.warning("ignoring a saved workspace that is not a path: %r", value)
    return None


def write_workspace(workspace: Path) -> None:
    settings = open_settings()
    settings.setValue(WORKSPACE_KEY, str(workspace))
    settings.sync()


def read_bytes(key: str) -> QByteArray | None:
    try:
        value = open_settings().value(key)
    except Exception:
        log.warning("cannot read setting %s", key, exc_info=True)
        return None
    if isinstance(value, QByteArray) and not value.isEmpty():
        return value
    if isinstance(value, (bytes, bytearray)) and value:
        return QByteArray(bytes(value))
    return None


def write_values(values: dict[str, object]) -> None:
    settings = open_settings()
    for key, value in values.items():
        settings.setValue(key, value)
    settings.sync()


def read_recent() -> list[Path]:
    """The workspaces opened last, newest first (at most MAX_RECENT); values that are not
    paths are skipped."""
    try:
        value = open_settings().value(RECENT_KEY)
    except Exception:
        log.warning("cannot read the recent workspaces", exc_info=True)
        return []
    if isinstance(value, str):  # an INI list of one reads back as its single value
        value = [value]
    if not isinstance(value, list):
        return []
    return [Path(v) for v in value if isinstance(v, str) and v.strip()][:MAX_RECENT]


def add_recent(workspace: Path) -> list[Path]:
    """Put `workspace` first in the recent workspaces and return them."""
    recent = [workspace, *(p for p in read_recent() if p != workspace)][:MAX_RECENT]
    settings = open_settings()
    settings.setValue(RECENT_KEY, [str(p) for p in recent])
    settings.sync()
    return recent
