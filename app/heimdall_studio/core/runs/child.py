"""Python processes of this program, talking with it over their standard input and output.

Used for work that would otherwise hold this process's GIL for long: reading many headers
(`listing`) and whole runs (`process_run`). The child gets this process's interpreter and
`sys.path`, so it imports the same Heimdall Studio; its standard error is shared, so its
tracebacks reach the same terminal. Messages are pickles (both ends are this program),
and the child says it is ready with one byte before the first.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO

READY = b"+"


def available() -> bool:
    """False in a frozen app, which has no Python interpreter to start children with."""
    return not getattr(sys, "frozen", False)


class Child:
    """The parent's side: a child running `python -c code`, and messages to and from it.

    `receive` raises EOFError (or pickle.UnpicklingError) when the child has ended.
    """

    def __init__(self, code: str):
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to_child: BinaryIO = self.process.stdin
        self._from_child: BinaryIO = self.process.stdout
        self.ready = False

    def wait_ready(self, unless: Callable[[], bool] | None = None,
                   timeout: float | None = None) -> bool:
        """Block until the child is ready: True. False if `unless()` said first that it
        is no longer needed; EOFError if it ended, or is not ready after `timeout` s."""
        if unless is not None or timeout is not None:
            began = time.monotonic()
            while not select.select([self._from_child], [], [], 0.02)[0]:
                if unless is not None and unless():
                    return False
                if timeout is not None and time.monotonic() - began > timeout:
                    raise EOFError(f"it was not ready in {timeout:g} s")
        if self._from_child.read(1) != READY:
            raise EOFError("it ended before it was ready")
        self.ready = True
        return True

    def send(self, message: Any) -> None:
        pickle.dump(message, self._to_child, protocol=pickle.HIGHEST_PROTOCOL)
        self._to_child.flush()

    def receive(self) -> Any:
        return pickle.load(self._from_child)

    def close(self, timeout: float | None = None) -> None:
        """Close its input, which ends it, and wait for it: killed at once if it never
        got ready, or once `timeout` s have passed."""
        if not self.ready:
            self.process.kill()
        with contextlib.suppress(OSError):
            self._to_child.close()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
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
