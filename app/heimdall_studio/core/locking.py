"""One writer per dataset, across processes: an advisory lock beside the dataset file.

The lock is an `flock` on `.<file>.lock` in the workspace. The operating system drops it
when the holder exits, however it exits, so a killed writer never leaves a stale lock.
The lock file holds the holder's pid and command, to say who is writing.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

from .errors import DatasetBusyError


def lock_path(dataset_path: Path) -> Path:
    return dataset_path.with_name(f".{dataset_path.name}.lock")


class DatasetLock:
    """Exclusive, non-blocking; use as a context manager."""

    def __init__(self, dataset_path: Path, purpose: str):
        self.dataset_path = Path(dataset_path)
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> DatasetLock:
        path = lock_path(self.dataset_path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DatasetBusyError(
                f"dataset '{self.dataset_path.stem}' is being written by {holder}; "
                "wait for it to finish or stop it first") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "pid": os.getpid(), "purpose": self.purpose,
            "command": " ".join(os.path.basename(a) for a in sys.argv[:2]),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)  # closing drops the flock
                self._fd = None

    def __enter__(self) -> DatasetLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError, OSError):
        return "another process"
    where = "this process" if pid == os.getpid() else f"process {pid}"
    what = info.get("purpose") or "a run"
    since = info.get("since")
    return f"{where} ({what}{', since ' + since if since else ''})"
