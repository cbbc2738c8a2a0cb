"""A process of this program, started with a hidden subcommand, and messages to and from it.

Runs happen in such a process (`runs.process`), because a run holds its process's GIL for
long while it writes. The program starts itself again rather than a bare interpreter, so
one command line serves everywhere: `python -m heimdall_studio _run-process` from an
installed package or a source tree (with this process's `sys.path`, so it imports the same
Heimdall Studio), and `heimdall-studio _run-process` in a frozen app, whose executable is
the only interpreter it has. The subcommand is handled first thing in `__main__`; it is not
a command for users, and `--help` does not list it.

Its standard error is shared, so its tracebacks reach the same terminal. Messages are
pickles (both ends are this program), and the child says it is ready with one byte before
the first.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from typing import IO, Any

RUN_PROCESS_COMMAND = "_run-process"
READY = b"+"


def command(subcommand: str) -> list[str]:
    """The command line that starts this program with `subcommand`."""
    if getattr(sys, "frozen", False):  # PyInstaller: sys.executable is the app itself
        return [sys.executable, subcommand]
    return [sys.executable, "-m", "heimdall_studio", subcommand]


def environment() -> dict[str, str]:
    """The child's environment: ours, and where not frozen our `sys.path`, so that it runs
    the same Heimdall Studio (a source tree, a test run's path) as this process."""
    if getattr(sys, "frozen", False):  # the bundle brings its own path
        return dict(os.environ)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


class Child:
    """The parent's side: a child running `subcommand`, and messages to and from it.

    `receive` raises EOFError (or pickle.UnpicklingError) when the child has ended.
    """

    def __init__(self, subcommand: str):
        self.process = subprocess.Popen(command(subcommand), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment())
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to_child: IO[bytes] = self.process.stdin
        self._from_child: IO[bytes] = self.process.stdout
        self.ready = False

    def wait_ready(self) -> None:
        """Block until the child is ready; EOFError if it ended first."""
        if self._from_child.read(1) != READY:
            raise EOFError("it ended before it was ready")
        self.ready = True

    def send(self, message: Any) -> None:
        pickle.dump(message, self._to_child, protocol=pickle.HIGHEST_PROTOCOL)
        self._to_child.flush()

    def receive(self) -> Any:
        return pickle.load(self._from_child)

    def close(self) -> None:
        """Close its input, which ends it, and wait for it; killed at once if it never got
        ready, since then it has nothing to finish."""
        if not self.ready:
            self.process.kill()
        with contextlib.suppress(OSError):
            self._to_child.close()
        self.process.wait()
        self._from_child.close()


class Parent:
    """The child's side: messages to and from the parent. Whatever a library prints once
    this exists goes to standard error instead of into the messages."""

    def __init__(self) -> None:
        self._to_parent = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        self._from_parent = sys.stdin.buffer

    def say_ready(self) -> None:
        self._to_parent.write(READY)
        self._to_parent.flush()

    def send(self, message: Any) -> None:
        pickle.dump(message, self._to_parent, protocol=pickle.HIGHEST_PROTOCOL)
        self._to_parent.flush()

    def receive(self) -> Any:
        """The next message; EOFError once the parent has closed our input (or died)."""
        return pickle.load(self._from_parent)
