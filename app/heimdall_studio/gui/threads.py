"""Background work on superqt's thread workers, with the additions the app needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from shiboken6 import isValid
from superqt.utils import GeneratorWorker, create_worker


class ClosingWorker(GeneratorWorker):
    """superqt's generator worker that closes its generator when it stops.

    superqt only stops asking a quit generator for values, and the generator would end
    whenever it is collected, in whichever thread: a cancelled run would end after its
    last commit at some later moment, a cancelled listing save its index from the GUI
    thread. This one closes it in its own thread, at once. And a RuntimeError from the
    generator is reported as its error: superqt takes one for a worker deleted under it,
    and drops it without `finished`.
    """

    def work(self) -> Any:
        try:
            result = super().work()
        finally:
            self._gen.close()
        if isinstance(result, RuntimeError):
            raise result
        return result


def work_for(owner: QObject, function: Callable[..., Any], *args: Any,
             **callbacks: Callable[..., Any]) -> None:
    """`function(*args)` in a worker thread, its results to `callbacks` ("returned",
    "errored", "finished") in the GUI thread, unless `owner` has been deleted by then:
    a dialog closed, or the widget gone, while the work went on. (A bound method of a
    QObject is dropped by Qt with its object; a lambda is not, and would touch widgets
    that no longer exist.)"""

    def guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
        def call(*values: Any) -> Any:
            return callback(*values) if isValid(owner) else None
        return call

    create_worker(function, *args,
                  _connect={signal: guarded(callback) for signal, callback in callbacks.items()})
