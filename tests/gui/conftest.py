"""Fixtures of the GUI tests: offscreen Qt, private settings, an idle pool after each test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import logging
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QThreadPool
from PySide6.QtWidgets import QApplication
from superqt.utils import WorkerBase

from heimdall_studio.core import api
from heimdall_studio.gui import create_main_window, settings
from heimdall_studio.gui.main_window import MainWindow


@pytest.fixture(autouse=True)
def private_settings(tmp_path: Path, monkeypatch) -> Path:
    """QSettings of this test only, also in the processes it starts: never the user's real
    configuration."""
    folder = tmp_path / "settings"
    monkeypatch.setenv(settings.SETTINGS_DIR_ENV, str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.SystemScope,
                      str(folder / "system"))
    return folder


def live_workers() -> int:
    """superqt's workers started and not yet done: it keeps each in this set until the
    worker's end has been delivered in the GUI thread."""
    return len(WorkerBase._worker_set)


@pytest.fixture(autouse=True)
def idle_pool_after(qapp):
    """Set up before qtbot, so it runs after qtbot has closed the test's windows."""
    yield
    pool = QThreadPool.globalInstance()
    # Deliver the workers' last queued signals, so none lands in the next test; a worker
    # started from within the event loop reaches the pool only through it, a moment later.
    deadline = time.monotonic() + 30
    while live_workers() and time.monotonic() < deadline:
        QApplication.processEvents()
        pool.waitForDone(20)
    assert pool.waitForDone(30_000), "background work still running after the test"
    assert pool.activeThreadCount() == 0
    assert live_workers() == 0


@pytest.fixture(autouse=True)
def answer_questions_yes(monkeypatch) -> list[tuple[str, str]]:
    """No modal question box in tests: `ask` says yes and records what was asked."""
    asked: list[tuple[str, str]] = []

    def ask(self, title: str, text: str) -> bool:
        asked.append((title, text))
        return True

    monkeypatch.setattr(MainWindow, "ask", ask)
    return asked


@pytest.fixture
def restore_logging():
    """For tests that start the app: run_app configures the root logger (a console and a
    file handler); put back what was there, so later tests log as before."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


@pytest.fixture
def open_window(qtbot):
    """Opens a main window on a workspace and waits for its first listing."""

    def open_(workspace: Path) -> MainWindow:
        window = create_main_window(workspace)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.listings > 0, timeout=10_000)
        return window

    return open_


@pytest.fixture
def make_dataset():
    """Makes a dataset through the core API, outside the GUI."""

    def make(workspace: Path, name: str, num_samples: int, **params) -> Path:
        api.create_dataset(name, num_samples, workspace, **params)
        return workspace / f"{name}.h5"

    return make


@pytest.fixture
def select(qtbot):
    """Selects a dataset in a window's browser once the listing shows it."""

    def select_(window: MainWindow, path: Path) -> None:
        qtbot.waitUntil(lambda: window.model.row_of(path) >= 0, timeout=10_000)
        assert window.select_dataset(path)
        assert window.selected_entry().path == path

    return select_
