"""Python processes of this program, talking with it over their standard input and output.

Used for work that would otherwise hold this process's GIL for long: reading many headers
(`listing`) and whole runs (`process_run`). The child gets this process's interpreter and
`sys.path`, so it imports the same Heimdall Studio; its standard error is shared, so its
tracebacks reach the same terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import BinaryIO


def available() -> bool:
    """False in a frozen app, which has no Python interpreter to start children with."""
    return not getattr(sys, "frozen", False)


def start(code: str) -> subprocess.Popen:
    """Run `python -c code`, with pipes on its standard input and output."""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert process.stdin is not None and process.stdout is not None
    return process


def message_stream() -> BinaryIO:
    """In the child: its standard output, kept for messages to the parent. Whatever a
    library prints afterwards goes to standard error instead of into the messages."""
    messages = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return messages
