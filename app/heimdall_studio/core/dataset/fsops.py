"""File system calls the standard library lacks: disk space reserved for a commit before
HDF5 writes a byte of it, and an unnamed file linked into place.

Disk space:

A write that fails inside HDF5 (a full disk, say) leaves the library in a state it may
not close cleanly. So a writer reserves the blocks a commit will need beyond the file's
end first, with `fallocate(FALLOC_FL_KEEP_SIZE)`: the reservation either succeeds, and
no other program can take those blocks, or it fails with ENOSPC before anything is
written. The file's size does not change; the blocks past its end that a run did not use
are handed back when the writer closes (`release_beyond_end`).

Where the system or the file system cannot reserve (not Linux, or FAT, say), the free
space is checked instead, which another program filling the disk can outrun.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FALLOC_FL_KEEP_SIZE = 0x01
# For every open of a file the app writes or probes: never through a symbolic link, and
# not inherited by the processes it starts.
NO_LINKS = os.O_NOFOLLOW | os.O_CLOEXEC
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000


def _libc_function(name: str, argtypes: tuple, restype: type = ctypes.c_int):
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function


_fallocate = _libc_function("fallocate",
                            (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64))
_linkat = _libc_function("linkat", (ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.c_char_p, ctypes.c_int))


def reserve(fd: int, length: int, folder: str | os.PathLike) -> None:
    """Reserve `length` bytes past the end of the open file `fd`.

    Raises OSError(ENOSPC) when they cannot be had. Without reservations, raises the
    same when the folder's file system has less free space than that.
    """
    if length <= 0:
        return
    if _fallocate is not None:
        end = os.fstat(fd).st_size
        if _fallocate(fd, FALLOC_FL_KEEP_SIZE, end, length) == 0:
            return
        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:
            raise OSError(code, os.strerror(code))
    if shutil.disk_usage(folder).free < length:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def release_beyond_end(path: str | os.PathLike) -> None:
    """Hand back blocks reserved past the end of the file and left unused.

    Truncating a file to its own size frees what lies past its end. The file is opened
    without following a link; nothing happens if it is gone or not a regular file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | NO_LINKS)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            os.ftruncate(fd, st.st_size)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_new_file(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create the file `path` with what `write` writes to it, whole or not at all.

    The file is written unnamed (Linux's O_TMPFILE) and linked into place when complete,
    so a kill leaves nothing; where that is not possible, it is written under a hidden,
    unpredictable name created exclusively, then linked and the name removed. Either
    way nothing follows a link planted at either name, and FileExistsError says `path`
    exists: nothing is ever replaced.
    """
    fd = _open_unnamed(path.parent)
    if fd is not None:
        try:
            with os.fdopen(fd, "wb", closefd=False) as out:
                write(out)
            os.fsync(fd)
            if _link_unnamed(fd, path):
                return
            # Linking is not allowed here: hand what was written to a named file.
            os.lseek(fd, 0, os.SEEK_SET)
            with os.fdopen(os.dup(fd), "rb") as written:
                _write_named(path, lambda out: shutil.copyfileobj(written, out, 1 << 20))
            return
        finally:
            os.close(fd)
    _write_named(path, write)


def _write_named(path: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_LINKS, 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            write(out)
        os.fsync(fd)
        os.link(tmp, path, follow_symlinks=False)
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)


def _open_unnamed(folder: Path) -> int | None:
    """A new file in `folder` with no name yet, open for reading and writing; None where
    the system or file system cannot make one."""
    if not hasattr(os, "O_TMPFILE"):
        return None
    try:
        return os.open(folder, os.O_RDWR | os.O_TMPFILE | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None
        raise


def _link_unnamed(fd: int, path: Path) -> bool:
    """Give the unnamed file `fd` the name `path`; False if the system does not allow it.
    FileExistsError if `path` exists (a link planted there included)."""
    if _linkat is not None:  # by descriptor: needs Linux 6.10+ or CAP_DAC_READ_SEARCH
        if _linkat(fd, b"", AT_FDCWD, os.fsencode(path), AT_EMPTY_PATH) == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(path))
    try:  # through /proc, as any user may
        os.link(f"/proc/self/fd/{fd}", path, follow_symlinks=True)
        return True
    except FileExistsError:
        raise
    except OSError:
        return False
