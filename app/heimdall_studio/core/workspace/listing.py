"""Listing a workspace: every dataset file with its header, or why it cannot be read.

A listing reads each file's header: format, config, sample count, history, and that every
sample dataset is there. The datasets themselves (shapes, types, length) are checked by
whatever reads samples: details, export, expansion, `info`, `verify`. Opening them here too
would more than double the time per file, for files that are only being shown. So a file
whose header is fine but whose samples are not is listed as a dataset, and refused when
its samples are read.

What a listing read is reused while a file keeps its identity (`index`), also by the next
run of the app, so only new and changed files are read. A file changed less than
SETTLE_NS before it was read is not remembered at all: file system clocks are coarse (FAT
keeps even seconds), and a second write within the same tick would leave every time as it
was.

One thread reads, file after file: h5py holds the GIL, so more threads would only take
turns, and a workspace is read through only the first time it is listed. `iter_workspace`
yields each entry as soon as it is known, so a window shows rows meanwhile.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..dataset.layout import is_dataset_file_name
from ..dataset.locking import writer_pid
from ..dataset.reader import DatasetHeader, read_header
from ..dataset.recovery import leftovers, remove_leftovers
from ..errors import DatasetInUseError, HeimdallError, PathError
from .index import Known, index_of
from .paths import kind_of

__all__ = ["SETTLE_NS", "DatasetEntry", "iter_workspace", "list_workspace",
           "read_entry", "with_writer"]

SETTLE_NS = 2_000_000_000


@dataclass(frozen=True)
class DatasetEntry:
    """One file of a workspace listing: a readable dataset, or why it is not."""

    path: Path
    header: DatasetHeader | None
    error: str | None = None
    # The pid of a process writing the file as it was listed (0: unknown), whatever
    # program started it; never remembered between listings.
    writer: int | None = dataclasses.field(default=None, compare=False)
    # Held open for writing by another program (an HDF5 file lock): not damaged.
    in_use: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def status(self) -> str:
        if self.writer is not None:
            return f"writing (pid {self.writer})" if self.writer else "writing"
        if self.in_use:
            return "in use"
        return "ok" if self.header is not None else "unreadable"


def list_workspace(workspace: Path) -> list[DatasetEntry]:
    """Every `*.h5` file of the workspace, by name; unreadable ones say why and never raise
    (a workspace that is not a folder does: PathError)."""
    return sorted(iter_workspace(workspace), key=lambda entry: entry.path.name)


def iter_workspace(workspace: Path) -> Iterator[DatasetEntry]:
    """Every `*.h5` file of the workspace, as its entry is known: the files unchanged since
    they were read first, then the others, each as it is read.

    What was read is remembered when the listing ends, or is closed early; temporary files
    that interrupted runs of any release left go once every file is listed. A workspace
    that does not exist is empty; one that is something other than a folder raises
    PathError.
    """
    if os.path.lexists(workspace) and not workspace.is_dir():
        raise PathError(f"the workspace {workspace} is {kind_of(workspace)}, not a folder")
    index = index_of(workspace)
    before = time.time_ns()
    names = _folder_names(workspace)
    paths = [workspace / name for name in names if is_dataset_file_name(name)]
    unseen: list[tuple[Path, os.stat_result]] = []
    try:
        for path in paths:
            try:
                st = path.lstat()  # a link has its own identity (and is refused)
            except OSError as exc:
                yield DatasetEntry(path, None, f"{path.name} cannot be read: {exc}")
                continue
            known = index.lookup(path.name, st)
            if known is None:
                unseen.append((path, st))
            else:
                yield with_writer(_entry(path, known))
        for path, st in unseen:
            entry = with_writer(read_entry(path))
            # A file being written is never remembered: the writer may end any moment.
            busy = entry.writer is not None or entry.in_use
            if not busy and max(st.st_mtime_ns, st.st_ctime_ns) < before - SETTLE_NS:
                index.remember(path.name, st, entry.header or entry.error or "")
            yield entry
    finally:
        index.keep_only({path.name for path in paths})
        index.save()
    remove_leftovers(leftovers(workspace, names))


def _folder_names(workspace: Path) -> list[str]:
    """The names in the workspace folder, sorted; none if it is missing or no folder."""
    try:
        return sorted(os.listdir(workspace))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _entry(path: Path, known: Known) -> DatasetEntry:
    if isinstance(known, DatasetHeader):
        return DatasetEntry(path, known)
    return DatasetEntry(path, None, known)


def read_entry(path: Path) -> DatasetEntry:
    """The file's entry, read from the file (its header only, see above)."""
    try:
        return DatasetEntry(path, read_header(path, check_samples=False))
    except DatasetInUseError as exc:
        return DatasetEntry(path, None, str(exc), in_use=True)
    except HeimdallError as exc:
        return DatasetEntry(path, None, str(exc))


def with_writer(entry: DatasetEntry) -> DatasetEntry:
    """The entry with the process writing its file now, if any (`locking.writer_pid`)."""
    pid = writer_pid(entry.path)
    return entry if pid == entry.writer else dataclasses.replace(entry, writer=pid)
