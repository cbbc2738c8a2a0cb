"""Files left by a killed writer, made openable by every HDF5 reader again, in place.

A writer appends in SWMR mode, which keeps the file consistent on disk at every instant
(see `writer`). What a killed writer does leave behind is in the superblock, the first 48
bytes of the file:

- its file-consistency flags (write access, SWMR write), which make every HDF5 program but
  an SWMR reader refuse the file ("file is already open for write");
- possibly an end-of-file address short of the file's real end: SWMR flushes the data and
  the metadata that points at it, and updates the superblock lazily. An address beyond
  the real end means the file was cut short (a write that failed on a full disk).

Clearing the flags and setting the end-of-file address to the real end (extending a file
cut short, sparsely) is what HDF5's own `h5clear -s --increment` does. It rewrites 48
bytes, whatever the size of the dataset, and copies nothing. It is done only when no
writer holds the dataset's lock and no other program holds the file (HDF5 locks files it
opens with `flock`). A program that writes the file in SWMR mode holds no such lock
once the file is open, so it cannot be told from a killed writer: only this app's
writers, which hold the dataset lock, are never raced.

Everything else a crash can leave (the last run's history row one block ahead of
`num_samples`, running histograms behind it) is read correctly by every reader here and
brought up to date by the next writer.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetBusyError, DatasetFormatError, DatasetInUseError, DatasetWriteError
from .fsops import NO_LINKS
from .locking import DatasetLock, writer_pid

log = logging.getLogger(__name__)

SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Superblock versions 2 and 3 (HDF5 1.8+): signature, version, sizes of offsets and
# lengths, consistency flags, four addresses (base, extension, end of file, root), and a
# Jenkins lookup3 checksum of everything before it.
FLAGS_AT = 11
ADDRESSES_AT = 12
EOF_ADDRESS_INDEX = 2
# HDF5 looks for the signature at 0 and at 512 * 2**k (files with a user block).
SEARCH_OFFSETS = (0, *tuple(512 << k for k in range(12)))
# Leftovers of an interrupted create (a named temporary, where the file system cannot
# make unnamed ones) or of the recovery by copy of earlier releases.
_LEFTOVER = re.compile(r"^\.(?P<dataset>.+\.h5)\.[^.]+\.(new|recover)$")


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, HDF5's metadata checksum (H5_checksum_lookup3)."""
    mask = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    def word(i: int) -> int:
        return int.from_bytes(data[i:i + 4], "little")

    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & mask
    i = 0
    while length - i > 12:
        a, b, c = (a + word(i)) & mask, (b + word(i + 4)) & mask, (c + word(i + 8)) & mask
        # mix(a, b, c)
        a = ((a - c) & mask) ^ rot(c, 4)
        c = (c + b) & mask
        b = ((b - a) & mask) ^ rot(a, 6)
        a = (a + c) & mask
        c = ((c - b) & mask) ^ rot(b, 8)
        b = (b + a) & mask
        a = ((a - c) & mask) ^ rot(c, 16)
        c = (c + b) & mask
        b = ((b - a) & mask) ^ rot(a, 19)
        a = (a + c) & mask
        c = ((c - b) & mask) ^ rot(b, 4)
        b = (b + a) & mask
        i += 12
    if length == i:
        return c
    data = data[i:] + bytes(12 - (length - i))
    i = 0
    a, b, c = (a + word(0)) & mask, (b + word(4)) & mask, (c + word(8)) & mask
    # final(a, b, c)
    c = ((c ^ b) - rot(b, 14)) & mask
    a = ((a ^ c) - rot(c, 11)) & mask
    b = ((b ^ a) - rot(a, 25)) & mask
    c = ((c ^ b) - rot(b, 16)) & mask
    a = ((a ^ c) - rot(c, 4)) & mask
    b = ((b ^ a) - rot(a, 14)) & mask
    c = ((c ^ b) - rot(b, 24)) & mask
    return c


@dataclass(frozen=True)
class Superblock:
    """The fields of a version 2 or 3 superblock that a crash leaves behind."""

    offset: int  # where it starts in the file (0 unless the file has a user block)
    raw: bytes
    size_of_offsets: int

    @property
    def version(self) -> int:
        return self.raw[8]

    @property
    def flags(self) -> int:
        return self.raw[FLAGS_AT]

    def _address_at(self, index: int) -> int:
        start = ADDRESSES_AT + index * self.size_of_offsets
        return int.from_bytes(self.raw[start:start + self.size_of_offsets], "little")

    @property
    def base_address(self) -> int:
        return self._address_at(0)

    @property
    def end_address(self) -> int:
        """End of file as the superblock records it, from the start of the file."""
        return self.base_address + self._address_at(EOF_ADDRESS_INDEX)

    def cleared(self, end_address: int) -> bytes:
        """This superblock with no consistency flags and the given end of file."""
        raw = bytearray(self.raw)
        raw[FLAGS_AT] = 0
        start = ADDRESSES_AT + EOF_ADDRESS_INDEX * self.size_of_offsets
        raw[start:start + self.size_of_offsets] = (
            end_address - self.base_address).to_bytes(self.size_of_offsets, "little")
        body = bytes(raw[:-4])
        return body + lookup3(body).to_bytes(4, "little")


def read_superblock(fd: int, file_size: int) -> Superblock | None:
    """The file's superblock if it is of version 2 or 3 with a valid checksum, else None
    (not HDF5, or an older superblock, which SWMR writers never use)."""
    for offset in SEARCH_OFFSETS:
        if offset + 12 > file_size:
            break
        head = os.pread(fd, 12, offset)
        if head[:8] != SIGNATURE:
            continue
        if head[8] not in (2, 3):
            return None
        size_of_offsets = head[9]
        if size_of_offsets not in (2, 4, 8):
            return None
        raw = os.pread(fd, ADDRESSES_AT + 4 * size_of_offsets + 4, offset)
        if len(raw) < ADDRESSES_AT + 4 * size_of_offsets + 4:
            return None
        if lookup3(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
            return None
        return Superblock(offset, raw, size_of_offsets)
    return None


@dataclass
class RepairReport:
    """What `repair` found and did to one file."""

    path: Path
    interrupted: bool = False
    actions: list[str] = field(default_factory=list)
    seconds: float = 0.0


def clear_interrupted_write(path: Path) -> RepairReport:
    """Make a file left by a killed writer openable by every HDF5 reader; hold its lock.

    Raises DatasetInUseError if another program holds the file open (an HDF5 lock), and
    DatasetFormatError if it is not an HDF5 file whose superblock this can read.
    """
    began = time.perf_counter()
    report = RepairReport(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | NO_LINKS)  # a FIFO cannot block
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetFormatError(f"{path.name} is a symbolic link; links are not "
                                     "followed") from None
        raise DatasetWriteError(f"cannot open {path.name} to repair it: "
                                f"{exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DatasetFormatError(f"{path.name} is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatasetInUseError(f"{path.name} is held open by another program; close "
                                    "it there first") from None
        try:
            superblock = read_superblock(fd, st.st_size)
            if superblock is None:
                raise DatasetFormatError(f"{path.name} is not an HDF5 file this app wrote "
                                         "(no version 2 or 3 superblock)")
            if superblock.flags == 0:
                report.seconds = time.perf_counter() - began
                return report
            report.interrupted = True
            end = max(superblock.end_address, st.st_size)
            # Extending a file cut short is sparse: it takes no disk space. Truncating to
            # the same size hands back the space the killed writer reserved past the end.
            os.ftruncate(fd, end)
            if superblock.end_address > st.st_size:
                report.actions.append(
                    f"extended the file from {st.st_size:,} to the {end:,} bytes its "
                    "superblock records (the last write was cut short)")
            elif superblock.end_address < st.st_size:
                report.actions.append(
                    f"moved the recorded end of file from {superblock.end_address:,} to "
                    f"the file's real end, {end:,} bytes")
            # No fsync: should the system crash before this reaches the disk, the file
            # is as it was, and the next touch repairs it again.
            os.pwrite(fd, superblock.cleared(end), superblock.offset)
            report.actions.insert(0, "cleared the marks of an interrupted write from the "
                                     "superblock")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    report.seconds = time.perf_counter() - began
    log.info("repaired %s in place: %s", path, "; ".join(report.actions))
    return report


def held_by_another_program(path: Path) -> bool:
    """Whether a program holds the file open for writing with an HDF5 file lock (HDF5
    takes an exclusive `flock` on files it opens for writing; this app's own writers use
    the dataset lock instead)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | NO_LINKS)  # a FIFO cannot block
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # drops the shared lock, if it was taken
    return False


def try_repair(path: Path) -> bool:
    """Repair a file left by a killed writer if nobody writes it now; never blocks.

    For readers: False when a writer holds the lock, another program holds the file, or
    the workspace is not writable (a read-only copy is read as it is, in SWMR mode).
    """
    if writer_pid(path) is not None:
        return False
    lock = DatasetLock(path, "repair")
    try:
        lock.acquire(wait=False)
    except (DatasetBusyError, DatasetWriteError):
        return False
    try:
        return clear_interrupted_write(path).interrupted
    except (DatasetInUseError, DatasetWriteError, DatasetFormatError, OSError) as exc:
        log.info("not repairing %s: %s", path, exc)
        return False
    finally:
        lock.release()


def leftovers(folder: Path, names: list[str]) -> list[Path]:
    """Temporary files of interrupted creates and recoveries among a folder's `names`."""
    return [folder / name for name in names if _LEFTOVER.match(name)]


def leftovers_of(dataset_path: Path) -> list[Path]:
    """The leftovers of one dataset's interrupted runs."""
    try:
        names = os.listdir(dataset_path.parent)
    except OSError:
        return []
    return [dataset_path.parent / name for name in names
            if (match := _LEFTOVER.match(name)) and match["dataset"] == dataset_path.name]


def remove_leftovers(paths: list[Path], held_by_us: bool = False) -> None:
    """Remove leftovers whose dataset no writer holds: a create in progress keeps its
    temporary file under its lock, one whose writer died has no holder. `held_by_us`:
    the caller holds the lock of every dataset concerned."""
    for path in paths:
        match = _LEFTOVER.match(path.name)
        if match is None:
            continue
        if not held_by_us and writer_pid(path.with_name(match["dataset"])) is not None:
            continue
        try:
            if stat.S_ISREG(path.lstat().st_mode) or path.is_symlink():
                path.unlink()  # a link itself, never what it points at
                log.info("removed %s, left by an interrupted run", path)
        except OSError:
            pass
