"""Datasets that other processes write or hold: shown as such, never as damaged.

Each test starts a real separate process: one that holds a dataset's lock and has its file
open for writing (as an expansion does when it starts), the command line expanding a
dataset, or a program that holds the file open with h5py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QToolBar

from heimdall_studio.core import api
from heimdall_studio.gui.details import DetailsPanel
from heimdall_studio.gui.main_window import MainWindow

# Holds the dataset's lock with the file open for writing and not yet readable by others,
# as an expansion has it while it starts; until killed.
WRITER_STARTING = """
import sys, time
from pathlib import Path
import h5py
from heimdall_studio.core.dataset.locking import DatasetLock
path = Path(sys.argv[1])
DatasetLock(path, "expand").acquire()
with h5py.File(path, "r+"):
    print("ready", flush=True)
    time.sleep(120)
"""

# Another program: the file open for writing, and no dataset lock.
OTHER_PROGRAM = """
import sys, time
import h5py
with h5py.File(sys.argv[1], "r+"):
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def start_process():
    """Starts a Python process; every one still running is killed after the test."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def _status(window: MainWindow, path: Path) -> str:
    return window.model.index(window.model.row_of(path), 10).data()


def _file_actions(window: MainWindow):
    return (window.action_expand_dataset, window.action_export_dataset,
            window.action_delete_dataset)


def _enabled(window: MainWindow) -> list[bool]:
    """The expand, export and delete actions, their toolbar buttons and menu items."""
    toolbar = window.findChild(QToolBar, "main_toolbar")
    menu = window.menuBar().actions()[0].menu().actions()
    states = []
    for action in _file_actions(window):
        assert action in menu
        states += [action.isEnabled(), toolbar.widgetForAction(action).isEnabled()]
    return states


def test_a_dataset_another_process_writes_is_writing_until_that_process_is_killed(
        qtbot, open_window, workspace, make_dataset, select, start_process,
        answer_questions_yes):
    path = make_dataset(workspace, "held", 500, seed=1)
    free = make_dataset(workspace, "free", 500, seed=2)
    window = open_window(workspace)
    with qtbot.waitSignal(window.details.summary_loaded, timeout=10_000):
        select(window, path)
    assert _status(window, path) == "ok" and all(_enabled(window))

    writer = start_process("-c", WRITER_STARTING, str(path))
    assert writer.stdout.readline().strip() == "ready"
    # The watcher sees the file change; the listing names the writer.
    qtbot.waitUntil(lambda: _status(window, path) == f"writing (pid {writer.pid})",
                    timeout=15_000)
    row = window.model.row_of(path)
    assert window.model.index(row, 2).data() == "500"  # what was read before, meanwhile
    tooltip = window.model.index(row, 10).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith(f"Process {writer.pid} is writing this dataset")
    assert window.workspace_label.text().startswith("2 datasets in")
    assert window.selected_entry().path == path
    assert not any(_enabled(window))
    assert window.expand_dataset() is None and window.dialog is None
    window.browser.doubleClicked.emit(window.model.index(row, 0))
    assert window.dialog is None
    assert window.export_dataset() is None and not window.exports
    window.delete_dataset()
    assert path.exists() and not answer_questions_yes

    details = window.details
    assert "cannot be read" not in details.title.text()
    # the pane follows the listing that named the writer (a summary read in flight first)
    qtbot.waitUntil(lambda: f"Process {writer.pid} is writing this dataset"
                    in details.note.text(), timeout=15_000)
    details.reload()  # the samples cannot be read while the file is open for writing
    qtbot.waitUntil(lambda: "cannot be read at this moment" in details.note.text(),
                    timeout=15_000)
    assert _status(window, path) == f"writing (pid {writer.pid})"  # busy, not damaged

    select(window, free)  # the others are not held up; and nothing reads `held` now
    assert all(_enabled(window))
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0,
                    timeout=15_000)

    writer.kill()  # the file stays as it was: only the lock tells that its writer is gone
    writer.wait()
    qtbot.waitUntil(lambda: _status(window, path) == "ok", timeout=15_000)
    select(window, path)
    assert all(_enabled(window))
    qtbot.waitUntil(lambda: "Distributions and map over all 500 samples" in details.note.text(),
                    timeout=15_000)


def test_an_expansion_from_the_command_line_is_writing_with_its_pid_until_it_stops(
        qtbot, open_window, workspace, make_dataset, select, start_process):
    path = make_dataset(workspace, "grown", 1000, seed=3)
    window = open_window(workspace)
    with qtbot.waitSignal(window.details.summary_loaded, timeout=10_000):
        select(window, path)
    loads = []
    window.details.summary_loaded.connect(loads.append)

    cli = start_process("-m", "heimdall_studio", "expand", "grown", "--samples",
                        "10000000", "--workspace", str(workspace))
    qtbot.waitUntil(lambda: _status(window, path) == f"writing (pid {cli.pid})",
                    timeout=60_000)
    assert not any(_enabled(window))
    row = window.model.row_of(path)
    qtbot.waitUntil(lambda: window.model.entry(row).header.num_samples > 1000,
                    timeout=30_000)  # the browser follows its commits
    assert _status(window, path) == f"writing (pid {cli.pid})"
    assert not loads  # the details read the samples once, not at every commit
    assert f"Process {cli.pid} is writing" in window.details.note.text()

    cli.send_signal(signal.SIGINT)  # Ctrl-C: it stops after the current block
    assert cli.wait(timeout=60) == 130
    qtbot.waitUntil(lambda: _status(window, path) == "ok", timeout=15_000)
    assert all(_enabled(window))
    total = api.dataset_header(path).num_samples
    qtbot.waitUntil(lambda: window.model.entry(window.model.row_of(path)).header.num_samples
                    == total, timeout=15_000)
    qtbot.waitUntil(lambda: bool(loads) and loads[-1].num_samples == total, timeout=15_000)


def test_samples_of_a_file_another_program_holds_are_in_use_not_damaged(
        qtbot, workspace, make_dataset, start_process):
    path = make_dataset(workspace, "shared", 400, seed=4)
    [entry] = api.list_datasets(workspace)
    details = DetailsPanel()
    qtbot.addWidget(details)
    refused = []
    details.samples_refused.connect(lambda *args: refused.append(args))
    with qtbot.waitSignal(details.summary_loaded, timeout=10_000):
        details.show_entry(entry)

    program = start_process("-c", OTHER_PROGRAM, str(path))
    assert program.stdout.readline().strip() == "ready"
    details.reload()
    qtbot.waitUntil(lambda: not details.loading, timeout=15_000)
    assert "held open for writing by another program" in details.note.text()
    assert "Refresh reads it again" in details.note.text()
    assert not refused  # not damaged

    program.kill()
    program.wait()
    with qtbot.waitSignal(details.summary_loaded, timeout=15_000):
        details.reload()
    assert not refused
    assert "Distributions and map over all 400 samples" in details.note.text()


def test_a_dataset_another_program_holds_is_in_use_until_that_program_is_killed(
        qtbot, open_window, workspace, make_dataset, select, start_process):
    path = make_dataset(workspace, "shared", 400, seed=5)
    window = open_window(workspace)
    with qtbot.waitSignal(window.details.summary_loaded, timeout=10_000):
        select(window, path)
    program = start_process("-c", OTHER_PROGRAM, str(path))
    assert program.stdout.readline().strip() == "ready"
    window.watcher.refresh()  # as when the program's writes reach the file
    qtbot.waitUntil(lambda: _status(window, path) == "in use", timeout=15_000)
    row = window.model.row_of(path)
    assert "another program" in window.model.index(row, 10).data(Qt.ItemDataRole.ToolTipRole)
    select(window, path)
    assert not any(_enabled(window))  # not unreadable, and not to be deleted under it
    assert "unreadable" not in window.statusBar().currentMessage()

    program.kill()  # killed with the file open: nothing changes in the file
    program.wait()
    qtbot.waitUntil(lambda: _status(window, path) == "ok", timeout=15_000)
    select(window, path)
    assert all(_enabled(window))
