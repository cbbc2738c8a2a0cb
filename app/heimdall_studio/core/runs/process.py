"""Create and expand runs in a Python process of their own, off the caller's GIL.

A run writes with h5py, which holds the GIL for the whole of every call: tens of
milliseconds when a block is flushed. In the process of a desktop app that is how long its
GUI thread waits. `RunProcess` is a child process that imports the engine and loads the
kernels as it starts, then does one `api.create_run` or `api.expand_run`:
`RunProcess.create` and `.expand` return the same generator of `Progress` records, so
callers need not know where the run happens. `SpareProcess` keeps one child started ahead
of time, so a run starts at once.

The two sides go in lock step: the child sends the Progress of each commit and commits the
next block only once the caller asks for the next record (its kernels compute meanwhile).
So closing the generator stops the run exactly as closing `api.create_run`'s does: the
block in flight is dropped, and every committed sample is one the caller saw.

Messages are pickles on the child's standard input and output; both ends are this program.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config.model import DatasetConfig
from ..dataset import writer
from ..errors import HeimdallError
from . import child, driver

log = logging.getLogger(__name__)

CHILD_NICE = 10  # the run yields the CPU to the app


class RunProcessError(HeimdallError):
    """The run's process failed or ended; the samples it committed are kept."""


def available() -> bool:
    """Whether runs can have processes of their own (not in a frozen app)."""
    return child.available()


class RunProcess:
    """One child process, ready for one run."""

    def __init__(self) -> None:
        self._child = child.Child(f"import {__name__} as run; run.serve()")
        self.process = self._child.process
        self._starting = threading.Lock()  # held by the thread that waits for the start
        self._used = False

    def wait_ready(self) -> None:
        """Block until the child has loaded the kernels; RunProcessError if it cannot.
        Any thread may wait (the app's warm-up and its first run, say)."""
        with self._starting:
            if self._child.ready:
                return
            try:
                self._child.wait_ready()
            except EOFError:
                raise RunProcessError(
                    f"the process for the run did not start (exit code "
                    f"{self.process.poll()}); see the log for why") from None

    def create(self, config: DatasetConfig, num_samples: int, workspace: str | Path | None,
               compression: str = "light") -> Iterator[Any]:
        """As `api.create_run`, in the child."""
        return self._run(("create", config.to_json(), num_samples,
                          None if workspace is None else str(workspace), compression))

    def expand(self, dataset: str | Path, num_samples: int,
               workspace: str | Path | None = None) -> Iterator[Any]:
        """As `api.expand_run`, in the child."""
        return self._run(("expand", str(dataset), num_samples,
                          None if workspace is None else str(workspace)))

    def _run(self, request: tuple) -> Iterator[Any]:
        if self._used:
            raise RuntimeError("a RunProcess does one run")
        self._used = True
        self.wait_ready()
        self._send(request)
        return self._relay()

    def _relay(self) -> Iterator[Any]:
        finished = False
        try:
            while True:
                kind, value = self._receive()
                if kind == "progress":
                    yield value
                    self._send("next")
                elif kind == "error":
                    finished = True
                    raise RunProcessError(value)
                else:  # done
                    finished = True
                    return
        finally:
            if not finished:  # closed early: the child commits nothing more and ends
                with contextlib.suppress(OSError, EOFError, RunProcessError):
                    self._send("stop")
                    while self._receive()[0] == "progress":
                        pass
            self.discard()

    def _send(self, message: Any) -> None:
        self._child.send(message)

    def _receive(self) -> tuple[str, Any]:
        try:
            return self._child.receive()
        except (EOFError, pickle.UnpicklingError, OSError):
            code = self.process.wait()
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise RunProcessError(
                f"the run's process ended unexpectedly ({how}); the samples it committed "
                "are kept, and expanding the dataset continues from them") from None

    def discard(self) -> None:
        """End the child and wait for it: at once if it has no run, else once the run has
        closed its file."""
        if not self._used:
            self.process.kill()  # a spare: nothing of it to keep
        self._child.close()


class SpareProcess:
    """One RunProcess started ahead of time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: RunProcess | None = None
        self._discarded = False

    def prepare(self) -> RunProcess | None:
        """Start the spare if there is none; it loads the kernels meanwhile. None once
        discarded, also when `discard` comes from another thread while this one waits."""
        with self._lock:
            if self._discarded:
                return None
            if self._spare is None:
                self._spare = RunProcess()
            return self._spare

    def take(self) -> RunProcess:
        """The spare, or a new process if there is none; `prepare` starts the next."""
        with self._lock:
            spare, self._spare = self._spare, None
        return spare if spare is not None else RunProcess()

    def discard(self) -> None:
        """End the spare, for good: `prepare` starts no other."""
        with self._lock:
            spare, self._spare = self._spare, None
            self._discarded = True
        if spare is not None:
            spare.discard()


# ---------------------------------------------------------------------------
# the child's side


def serve() -> None:
    """Load the kernels, say so, then do the one run the parent asks for."""
    parent = child.Parent()
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)
    logging.basicConfig(level=logging.WARNING, format="run process: %(message)s")
    from ..sampling.generator import load_kernels

    load_kernels()
    parent.say_ready()

    def receive() -> Any:
        try:
            return parent.receive()
        except EOFError:  # the parent is gone: stop
            return None

    request = receive()
    if request is None:
        return
    try:
        if request[0] == "create":
            _, config_json, num_samples, workspace, compression = request
            run = driver.create_run(DatasetConfig.from_json(config_json), num_samples,
                                 workspace, compression)
        else:
            _, dataset, num_samples, workspace = request
            run = driver.expand_run(dataset, num_samples, workspace)
        try:
            for progress in run:
                parent.send(("progress", progress))
                if receive() != "next":
                    break
        finally:
            run.close()
    except HeimdallError as exc:
        parent.send(("error", str(exc)))
    except Exception as exc:  # reported to the parent; the traceback goes to stderr
        log.exception("the run failed")
        parent.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        parent.send(("done", None))
    writer.end_process_if_abandoned(0)
