"""Create and expand runs in a process of their own, off the caller's GIL.

A run writes with h5py, which holds the GIL for the whole of every call, for as long as a
block takes to flush. In the process of a desktop app that is how long its GUI thread
waits. `RunProcess` is a child process of this program (`child`) that loads the kernels
as it starts, lowers its priority so that the app keeps the CPU it needs, then does one
`create_run` or `expand_run`: `RunProcess.create` and `.expand` return the same generator
of `Progress` records, and raise the same errors, so callers need not know where the run
happens. `ReadyProcess` keeps the next run's process started ahead of time, its kernels
loaded, so that a run starts at once.

The two sides go in lock step: the child sends the Progress of each commit and commits the
next block only once the caller asks for the next record (its kernels compute meanwhile).
So closing the generator stops the run exactly as closing `create_run`'s does: the block
in flight is dropped, and every committed sample is one the caller saw.

An error in the child reaches the caller as the same class: its name, message and plain
attributes cross, and the parent raises the error of `core.errors` by that name. Any other
error (a bug, one the core does not name) is a RunProcessError saying what it was; its
traceback is on the child's standard error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, cast

from .. import errors
from ..config.model import DatasetConfig
from ..dataset import writer
from ..dataset.layout import DEFAULT_COMPRESSION
from ..errors import HeimdallError
from . import child, driver
from .driver import Progress

log = logging.getLogger(__name__)

NICE = 10  # how far the run process lowers its priority: the app's GUI comes first


class RunProcessError(HeimdallError):
    """The run's process failed or ended; the samples it committed are kept."""


def error_report(error: Exception) -> tuple[str, str, dict[str, Any]]:
    """What crosses from the child of an error: class name, message, and the attributes
    that pickle (a ConfigError's field, say)."""
    attributes = {}
    for key, value in getattr(error, "__dict__", {}).items():
        with contextlib.suppress(Exception):
            pickle.dumps(value)
            attributes[key] = value
    return type(error).__name__, str(error), attributes


def error_from(name: str, message: str, attributes: dict[str, Any]) -> HeimdallError:
    """The error the child reported: the core's error of that name, else a RunProcessError
    that names it. Built without calling the class, as its arguments may not be those of
    Exception (ConfigError's are not): the message and attributes are set as they were."""
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, HeimdallError)):
        return RunProcessError(f"{name}: {message}" if message else name)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    vars(error).update(attributes)
    return error


class RunProcess:
    """One child process, ready for one run."""

    def __init__(self) -> None:
        try:
            self._child = child.Child(child.RUN_PROCESS_COMMAND)
        except OSError as exc:
            raise RunProcessError(f"cannot start a process for the run: "
                                  f"{exc.strerror or exc}") from None
        self.process = self._child.process
        self._starting = threading.Lock()  # held by the thread that waits for the start
        self._used = False

    @property
    def ended(self) -> bool:
        return self.process.poll() is not None

    def wait_ready(self) -> None:
        """Block until the child has loaded the kernels; RunProcessError if it cannot.
        Any thread may wait (the app's start and its first run, say)."""
        with self._starting:
            if self._child.ready:
                return
            try:
                self._child.wait_ready()
            except EOFError:
                raise RunProcessError(
                    f"the process for the run did not start (exit code "
                    f"{self.process.wait()}); see the log for why") from None

    def create(self, config: DatasetConfig, num_samples: int, workspace: str | Path | None,
               compression: str = DEFAULT_COMPRESSION,
               cluster: str | None = None) -> Iterator[Progress]:
        """As `driver.create_run`, in the child; `cluster` as `ClusterSpec.parse` takes it."""
        return self._run(("create", config.to_json(), num_samples,
                          None if workspace is None else str(workspace), compression,
                          cluster))

    def expand(self, dataset: str | Path, num_samples: int,
               workspace: str | Path | None = None,
               cluster: str | None = None) -> Iterator[Progress]:
        """As `driver.expand_run`, in the child."""
        return self._run(("expand", str(dataset), num_samples,
                          None if workspace is None else str(workspace), cluster))

    def _run(self, request: tuple) -> Iterator[Progress]:
        if self._used:
            raise RuntimeError("a RunProcess does one run")
        self._used = True
        return self._relay(request)

    def _relay(self, request: tuple) -> Iterator[Progress]:
        """The run, from the first `next` on: waiting for the child to be ready happens in
        the thread that drives the run, as do the errors of its start."""
        finished = False
        try:
            self.wait_ready()
            self._send(request)
            while True:
                kind, value = self._receive()
                if kind == "progress":
                    yield value
                    self._send("next")
                elif kind == "error":
                    finished = True
                    raise error_from(*value)
                else:  # done
                    finished = True
                    return
        finally:
            if not finished and self._child.ready:  # closed early: it commits no more
                with contextlib.suppress(OSError, EOFError, RunProcessError):
                    self._send("stop")
                    while self._receive()[0] == "progress":
                        pass
            self._child.close()

    def _send(self, message: Any) -> None:
        self._child.send(message)

    def _receive(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = self._child.receive()
        except (EOFError, pickle.UnpicklingError, OSError):
            code = self.process.wait()
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise RunProcessError(
                f"the run's process ended unexpectedly ({how}); the samples it committed "
                "are kept, and expanding the dataset continues from them") from None
        return message

    def discard(self) -> None:
        """End a child that has no run (it has nothing to keep) and wait for it."""
        if not self._used:
            self.process.kill()
            self._child.close()


class ReadyProcess:
    """The next run's process, started ahead of time so that it is ready when a run
    starts: `prepare` starts it, `take` hands it to the run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: RunProcess | None = None
        self._discarded = False

    def prepare(self) -> RunProcess | None:
        """Start the ready process if there is none; it loads the kernels meanwhile. None
        once discarded, also when `discard` comes from another thread while this one
        waits."""
        with self._lock:
            if self._discarded:
                return None
            if self._process is None:
                self._process = RunProcess()
            return self._process

    def take(self) -> RunProcess:
        """The ready process, or a new one if there is none or it has ended (killed while
        it waited); `prepare` starts the next."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.ended:
            process.discard()
            process = None
        return process if process is not None else RunProcess()

    def discard(self) -> None:
        """End the ready process, for good: `prepare` starts no other."""
        with self._lock:
            process, self._process = self._process, None
            self._discarded = True
        if process is not None:
            process.discard()


# ---------------------------------------------------------------------------
# the child's side


def serve() -> int:
    """The run process (`heimdall-studio _run-process`): lower its priority, load the
    kernels, say so, then do the one run the parent asks for. Returns the exit code."""
    parent = child.Parent()
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(NICE)
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
        return 0
    try:
        run: Iterator[Progress]
        if request[0] == "create":
            _, config_json, num_samples, workspace, compression, cluster = request
            run = driver.create_run(DatasetConfig.from_json(config_json), num_samples,
                                    workspace, compression, cluster)
        else:
            _, dataset, num_samples, workspace, cluster = request
            run = driver.expand_run(dataset, num_samples, workspace, cluster)
        try:
            for progress in run:
                parent.send(("progress", progress))
                if receive() != "next":
                    break
        finally:
            cast(Generator[Progress, None, None], run).close()  # commits nothing more
    except Exception as exc:  # reported to the parent, which raises it again
        if not isinstance(exc, HeimdallError):
            log.exception("the run failed")  # a bug: its traceback goes to stderr
        parent.send(("error", error_report(exc)))
    else:
        parent.send(("done", None))
    writer.end_process_if_abandoned(0)
    return 0
