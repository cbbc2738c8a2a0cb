"""Background work on superqt's thread workers, with the one addition the app needs."""

from __future__ import annotations

from typing import Any

from superqt.utils import GeneratorWorker


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
