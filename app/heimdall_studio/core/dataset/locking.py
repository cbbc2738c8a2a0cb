"""One writer per dataset, across processes: an advisory lock beside the dataset file.

The lock is an `flock` on `.<file>.lock` in the workspace. The operating system drops it
when the holder exits, however it exits, so a killed writer never leaves a stale lock.
The lock file holds the holder's pid and command, to say who is writing.

The lock file is opened without following a symbolic link and must be a regular file: a
link planted at the lock path cannot make a writer truncate or write its target.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import stat
import sys
import time
from pathlib import Path

from ..errors import DatasetBusyError, DatasetWriteError
from .fsops import NO_LINKS

log = logging.getLogger(__name__)

# A probe (`writer_pid`) holds a shared lock for microseconds; a writer that meets one
# tries again for this long before it calls the dataset busy.
ACQUIRE_RETRY_S = 0.2
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | NO_LINKS


def lock_path(dataset_path: Path) -> Path:
    return dataset_path.with_name(f".{dataset_path.name}.lock")


def _open_lock_file(dataset_path: Path, create: bool = True) -> int:
    """The lock file's descriptor; a link, a folder or a FIFO there is a clear error.

    O_NONBLOCK so that a FIFO planted at the path cannot block the open.
    """
    path = lock_path(dataset_path)
    flags = _OPEN_FLAGS if create else _OPEN_FLAGS & ~os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetWriteError(
                f"the lock file {path} is a symbolic link; links are not followed, so "
                "nothing outside the workspace is written. Remove the link") from None
        if exc.errno == errno.EISDIR:
            raise DatasetWriteError(f"the lock file {path} is a folder; remove it") from None
        if create:
            raise DatasetWriteError(
                f"cannot create the lock file {path}: {exc.strerror}") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DatasetWriteError(f"the lock file {path} is not a regular file; remove it")
    return fd


class DatasetLock:
    """Exclusive, non-blocking; use as a context manager."""

    def __init__(self, dataset_path: Path, purpose: str):
        self.dataset_path = Path(dataset_path)
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: bool = True) -> DatasetLock:
        """Take the lock or raise DatasetBusyError; `wait` outlasts a probe's instant."""
        fd = _open_lock_file(self.dataset_path)
        try:
            _flock_exclusive(fd, ACQUIRE_RETRY_S if wait else 0.0)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DatasetBusyError(
                f"dataset '{self.dataset_path.stem}' is being written by {holder}; "
                "wait for it to finish or stop it first") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_holder()
        return self

    def _write_holder(self) -> None:
        """Say who holds the lock. Only informative: on a full disk the lock still holds,
        and whatever is written next is refused with the reason."""
        info = json.dumps({
            "pid": os.getpid(), "purpose": self.purpose,
            "command": " ".join(os.path.basename(a) for a in sys.argv[:2]),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }).encode()
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, info, 0)
        except OSError as exc:
            log.info("cannot record the holder of %s: %s",
                        lock_path(self.dataset_path), exc.strerror)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # the next holder truncates it again
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> DatasetLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _flock_exclusive(fd: int, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.005)


def writer_pid(dataset_path: Path) -> int | None:
    """The pid of the process writing this dataset, 0 if its pid is unknown, None if none.

    Never creates the lock file and never blocks a writer: an empty lock file (released)
    answers at once; otherwise a shared lock is tried for an instant, which a writer's
    exclusive lock refuses.
    """
    try:
        fd = _open_lock_file(Path(dataset_path), create=False)
    except (OSError, DatasetWriteError):
        return None
    try:
        if os.fstat(fd).st_size == 0:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_pid(_holder_info(fd)) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # left by a writer that died: nobody holds it
    finally:
        os.close(fd)


def _holder_info(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (ValueError, OSError):
        return {}
    return info if isinstance(info, dict) else {}


def _holder_pid(info: dict) -> int | None:
    try:
        return int(info["pid"])
    except (KeyError, TypeError, ValueError):
        return None


def _read_holder(fd: int) -> str:
    info = _holder_info(fd)
    pid = _holder_pid(info)
    if pid is None:
        return "another process"
    where = "this process" if pid == os.getpid() else f"process {pid}"
    what = info.get("purpose") or "a run"
    since = info.get("since")
    return f"{where} ({what}{', since ' + since if since else ''})"
