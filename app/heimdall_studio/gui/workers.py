"""Background work on a QThreadPool, in the superqt style.

A worker is a `QRunnable` that owns a separate `QObject` holding its signals, because a
QRunnable is not a QObject and is deleted by the pool when it finishes. Signals carry plain
values (progress records, results, messages), never widgets or h5py objects; the GUI thread
receives them through queued connections.

Live workers are kept in a module-level set until their `finished` signal has been delivered
in the GUI thread, so neither the runnable nor its signal object is collected mid-run.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from ..core.errors import HeimdallError

log = logging.getLogger(__name__)

_live_workers: set[QRunnable] = set()

# Generation keeps every core busy (numba threads plus the writer). At equal priority the
# GUI thread gets a fraction of a core and painting stalls for tenths of a second, so pool
# threads run at a lower priority; throughput hardly changes, since the GUI needs little.
BACKGROUND_NICE = 10


def lower_thread_priority() -> None:
    """Make the calling (pool) thread yield the CPU to the GUI thread."""
    QThread.currentThread().setPriority(QThread.Priority.LowPriority)  # Windows, macOS
    if sys.platform.startswith("linux"):
        # Linux ignores Qt's priorities for normal threads, but nice is per thread, and
        # threads started from this one (the core's generator and numba's) inherit it.
        thread_id = threading.get_native_id()
        try:
            if os.getpriority(os.PRIO_PROCESS, thread_id) < BACKGROUND_NICE:
                os.setpriority(os.PRIO_PROCESS, thread_id, BACKGROUND_NICE)
        except OSError:
            log.debug("cannot lower the priority of thread %d", thread_id)


def live_worker_count() -> int:
    return len(_live_workers)


def pool() -> QThreadPool:
    """The pool all GUI background work runs on (waited for when the window closes)."""
    return QThreadPool.globalInstance()


def describe_error(exc: BaseException) -> str:
    """A message fit for a dialog: core errors already are; others get their type."""
    if isinstance(exc, HeimdallError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class WorkerSignals(QObject):
    progressed = Signal(object)  # a progress record (GeneratorWorker only)
    succeeded = Signal(object)  # the result: the last progress record, or the return value
    failed = Signal(str)  # a message fit to show a user
    finished = Signal()  # always last, after succeeded or failed


class _Worker(QRunnable):
    def __init__(self, name: str):
        super().__init__()
        self.setAutoDelete(False)  # the keep-alive set owns it, not the pool
        self.name = name
        self.signals = WorkerSignals()
        self._abort = threading.Event()
        self.signals.finished.connect(self._release)

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def abort(self) -> None:
        """Ask the work to stop at its next step; safe from any thread."""
        self._abort.set()

    def start(self) -> _Worker:
        _live_workers.add(self)
        pool().start(self)
        return self

    def _release(self) -> None:
        _live_workers.discard(self)

    def run(self) -> None:  # runs in a pool thread
        try:
            lower_thread_priority()
            result = self.work()
        except Exception as exc:  # every failure is reported, none kills the pool thread
            if isinstance(exc, HeimdallError):
                log.warning("%s failed: %s", self.name, exc)
            else:
                log.exception("%s failed", self.name)
            self.signals.failed.emit(describe_error(exc))
        else:
            self.signals.succeeded.emit(result)
        finally:
            self.signals.finished.emit()

    def work(self) -> Any:
        raise NotImplementedError


class FunctionWorker(_Worker):
    """Calls `function()` once; `succeeded` carries its return value."""

    def __init__(self, name: str, function: Callable[[], Any]):
        super().__init__(name)
        self._function = function

    def work(self) -> Any:
        return self._function()


class GeneratorWorker(_Worker):
    """Drives a generator of progress records, such as `api.create_run(...)`.

    `make_run` is called in the pool thread because the core opens and validates the dataset
    file eagerly, which may take a moment or raise. After every yield the abort flag is
    checked; aborting closes the generator, which ends the run after its last commit.
    `succeeded` carries the last progress record (also after a cancel).
    """

    def __init__(self, name: str, make_run: Callable[[], Iterator[Any]]):
        super().__init__(name)
        self._make_run = make_run
        self.cancelled = False

    def work(self) -> Any:
        run = self._make_run()
        last = None
        try:
            while True:
                if self.abort_requested:
                    self.cancelled = True
                    break
                try:
                    last = next(run)
                except StopIteration:
                    break
                self.signals.progressed.emit(last)
        finally:
            close = getattr(run, "close", None)  # generators end their run here
            if close is not None:
                close()
        return last

