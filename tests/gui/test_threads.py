"""Background work whose results reach only widgets that still exist."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThreadPool

from heimdall_studio.gui.threads import work_for


def _deliver() -> None:
    assert QThreadPool.globalInstance().waitForDone(10_000)
    QCoreApplication.sendPostedEvents()
    QCoreApplication.processEvents()


def test_results_reach_an_owner_that_exists(qtbot):
    owner = QObject()
    got: list[object] = []
    work_for(owner, lambda x: 2 * x, 21, returned=got.append,
             finished=lambda: got.append("finished"))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10_000)
    assert got == [42, "finished"]
    failed: list[Exception] = []
    work_for(owner, lambda: 1 / 0, errored=failed.append)
    qtbot.waitUntil(lambda: bool(failed), timeout=10_000)
    assert isinstance(failed[0], ZeroDivisionError)


def test_results_of_work_that_outlives_its_owner_are_dropped(qtbot):
    owner = QObject()
    release = threading.Event()
    got: list[object] = []

    def slow() -> int:
        release.wait(10)
        return 1

    def fails() -> int:
        release.wait(10)
        raise OSError("the disk went away")

    work_for(owner, slow, returned=got.append, finished=lambda: got.append("finished"))
    work_for(owner, fails, errored=got.append)
    shiboken6.delete(owner)  # the dialog closed while both were going on
    release.set()
    _deliver()
    assert got == []
