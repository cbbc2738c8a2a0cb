"""Listing a workspace: every dataset file with its header, or why it cannot be read.

A listing reads each file's header: format, config, sample count, history, and that every
sample dataset is there. The datasets themselves (shapes, types, length) are checked by
whatever reads samples: details, export, expansion, `info`, `verify`. Opening them here too
would double the time per file, for files that are only being shown. A file whose header
is fine but whose samples are not is listed as a dataset and refused when it is opened.

Reading a header takes about half a millisecond per file. So a listing reuses what it read
before while the file keeps its identity (`signature`: device, inode, size, modification
and change times). Every write sets the change time, which no program can set back, so a
changed file is always read again. A file changed less than SETTLE_NS before it was read
is not remembered at all: file system clocks are coarse (FAT keeps even seconds), and a
second write within the same tick would leave every time as it was.

The headers of readable files also persist between runs, one JSON file per workspace in the
user cache folder, so the app starts without reading unchanged files again. That index is
only a cache: missing, damaged or written by another version, it is ignored and rebuilt; it
never vouches for a file whose signature changed, and its configs are validated again as
they are loaded.

Many files never read before (a workspace opened for the first time) are shared between
this process and worker processes, so the first listing of a thousand datasets also takes
under a second (about 0.5-0.9 s on two cores).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from ... import __version__
from ..dataset.layout import HistoryRow, is_dataset_file_name
from ..dataset.locking import writer_pid
from ..dataset.reader import DatasetHeader, config_from_json, read_header
from ..dataset.recovery import leftovers, remove_leftovers
from ..errors import DatasetInUseError, HeimdallError
from ..runs import child

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "HEIMDALL_STUDIO_CACHE_DIR"
INDEX_FORMAT = "heimdall-studio-listing"
SETTLE_NS = 2_000_000_000
STALE_INDEX_S = 90 * 24 * 3600
# Fewer unseen files than this are all read in this process: a worker would not be ready
# in time to help (see read_entries). Measured on two cores: 400 files took 0.27 s here
# alone and 0.30 s with a worker; 700 files 0.58 s and 0.40 s.
PARALLEL_FROM_FILES = 500
BATCH_FILES = 16
WORKER_START_S = 30  # a worker not ready by then is dropped; this process reads on

Signature = tuple[int, int, int, int, int]


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


def signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def cache_dir() -> Path:
    """$HEIMDALL_STUDIO_CACHE_DIR, else the platform's user cache folder."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_cache_path("heimdall-studio", appauthor=False)


def list_workspace(workspace: Path) -> list[DatasetEntry]:
    """Every `*.h5` file of the workspace; unreadable ones say why and never raise."""
    index = _index_of(workspace)
    before = time.time_ns()
    entries: dict[Path, DatasetEntry] = {}
    unseen: list[tuple[Path, os.stat_result]] = []
    names = _folder_names(workspace)
    paths = [workspace / name for name in names if is_dataset_file_name(name)]
    for path in paths:
        try:
            st = path.lstat()  # a link has its own identity (and is refused)
        except OSError as exc:
            entries[path] = DatasetEntry(path, None, f"{path.name} cannot be read: {exc}")
            continue
        entry = index.lookup(path.name, st)
        if entry is None:
            unseen.append((path, st))
        else:
            entries[path] = with_writer(entry)
    for (path, st), entry in zip(unseen, read_entries([path for path, _ in unseen])):
        entry = with_writer(entry)
        # A file being written is never remembered: the writer may end any moment.
        busy = entry.writer is not None or entry.in_use
        if not busy and max(st.st_mtime_ns, st.st_ctime_ns) < before - SETTLE_NS:
            index.remember(path.name, st, entry)
        entries[path] = entry
    index.keep_only({path.name for path in paths})
    index.save()
    # Temporary files that interrupted runs of any release left go with this listing.
    remove_leftovers(leftovers(workspace, names))
    return [entries[path] for path in paths]


def _folder_names(workspace: Path) -> list[str]:
    """The names in the workspace folder, sorted; none if it is missing or no folder."""
    try:
        return sorted(os.listdir(workspace))
    except (FileNotFoundError, NotADirectoryError):
        return []


def with_writer(entry: DatasetEntry) -> DatasetEntry:
    """The entry with the process writing its file now, if any (`locking.writer_pid`)."""
    pid = writer_pid(entry.path)
    return entry if pid == entry.writer else dataclasses.replace(entry, writer=pid)


def read_entries(paths: list[Path]) -> list[DatasetEntry]:
    """The entries of `paths`, in order; many files are shared with worker processes.

    Reading a header takes about half a millisecond, nearly all of it inside h5py, which
    holds the GIL, so threads would only take turns. A worker process needs 0.2-0.4 s to
    start (Python, numpy, h5py), during which this process reads already (unless a spare
    worker is ready: `start_spare_worker`): it takes batches from the end of the list and
    the workers from the start, until they meet. A worker that fails leaves its batch to
    this process, so the listing is the same either way.
    """
    workers = _worker_count(len(paths))
    if workers == 0:
        _discard_spare()
        return _read_batch(paths)
    batches = [paths[i:i + BATCH_FILES] for i in range(0, len(paths), BATCH_FILES)]
    return [entry for batch in _read_batches(batches, workers) for entry in batch]


def read_entry(path: Path) -> DatasetEntry:
    try:
        return DatasetEntry(path, read_header(path, check_samples=False))
    except DatasetInUseError as exc:
        return DatasetEntry(path, None, str(exc), in_use=True)
    except HeimdallError as exc:
        return DatasetEntry(path, None, str(exc))


def _read_batch(paths: list[Path]) -> list[DatasetEntry]:
    return [read_entry(path) for path in paths]


def _worker_count(files: int) -> int:
    if files < PARALLEL_FROM_FILES or not child.available():
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return max(0, min(cpus - 1, files // PARALLEL_FROM_FILES))


class _Batches:
    """Batch numbers handed out from both ends: workers take the front, we the back."""

    def __init__(self, count: int):
        self._lock = threading.Lock()
        self._front, self._back = 0, count

    def close(self) -> None:
        """Hand out nothing more."""
        with self._lock:
            self._back = self._front

    def empty(self) -> bool:
        with self._lock:
            return self._front >= self._back

    def take_front(self) -> int | None:
        with self._lock:
            if self._front >= self._back:
                return None
            self._front += 1
            return self._front - 1

    def take_back(self) -> int | None:
        with self._lock:
            if self._front >= self._back:
                return None
            self._back -= 1
            return self._back


def _read_batches(batches: list[list[Path]], workers: int,
                  read_here: bool = True) -> list[list[DatasetEntry]]:
    """Each batch's entries, read by `workers` processes and (unless not `read_here`) by
    this one; whatever a worker failed to return is read here at the end."""
    done: list[list[DatasetEntry] | None] = [None] * len(batches)
    queue = _Batches(len(batches))

    def drive_worker() -> None:
        try:
            with _take_spare() or _Worker() as worker:
                if worker.started(unless=queue.empty):
                    while (i := queue.take_front()) is not None:
                        done[i] = worker.read(batches[i])
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("a listing worker failed (%s); its files are read here", exc)

    threads = [threading.Thread(target=drive_worker, name=f"heimdall-listing-{n}",
                                daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    try:
        while read_here and (i := queue.take_back()) is not None:
            done[i] = _read_batch(batches[i])
        for thread in threads:  # the workers empty the queue
            thread.join()
    finally:  # interrupted (Ctrl+C): the workers stop after their current batch
        queue.close()
        for thread in threads:
            thread.join()
    return [entries if entries is not None else _read_batch(batches[i])
            for i, entries in enumerate(done)]


class _Worker:
    """A child process reading headers: batches of paths in, lists of entries out."""

    def __init__(self) -> None:
        self.child = child.Child(f"import {__name__} as listing; listing.serve_worker()")

    def started(self, unless: Callable[[], bool]) -> bool:
        """Wait until the worker is ready, or until `unless()` says it is not needed."""
        return self.child.wait_ready(unless=unless, timeout=WORKER_START_S)

    def read(self, paths: list[Path]) -> list[DatasetEntry]:
        self.child.send(paths)
        entries = self.child.receive()
        if not isinstance(entries, list) or len(entries) != len(paths):
            raise pickle.UnpicklingError("an answer of the wrong length")
        return entries

    def __enter__(self) -> _Worker:
        return self

    def close(self) -> None:
        self.child.close(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self.close()


_spare: _Worker | None = None
_spare_lock = threading.Lock()


def start_spare_worker(workspace: Path) -> None:
    """Start a worker now if the first listing of `workspace` will want one, for it to take.

    The app calls this before building its window: the worker starts (0.2-0.4 s) while
    the window is being built, on a core the window does not use, so a workspace never seen
    before is shared with it from the first file. Whether the listing will want a worker is
    guessed without reading any file: enough dataset files for workers, and no listing
    index written since the folder last changed (files added, removed or renamed). A wrong
    guess costs little: an unwanted worker slows the window's start slightly (two cores
    share the imports), and the first listing ends it.
    """
    global _spare
    if not child.available() or not _many_unseen_files(workspace):
        return
    with _spare_lock:
        if _spare is None:
            _spare = _Worker()
            atexit.register(_discard_spare)


def _many_unseen_files(workspace: Path) -> bool:
    try:
        with os.scandir(workspace) as entries:
            count = sum(1 for e in entries if is_dataset_file_name(e.name))
        if count < PARALLEL_FROM_FILES:
            return False
        return index_file(workspace).stat().st_mtime_ns < workspace.stat().st_mtime_ns
    except FileNotFoundError:  # no index yet (or no folder: then no files either)
        return True
    except OSError:
        return False


def _take_spare() -> _Worker | None:
    global _spare
    with _spare_lock:
        worker, _spare = _spare, None
    return worker


def _discard_spare() -> None:
    worker = _take_spare()
    if worker is not None:
        worker.close()


def serve_worker() -> None:
    """The worker's side of `_Worker`: read batches until standard input closes."""
    parent = child.Parent()
    parent.say_ready()
    while True:
        try:
            paths = parent.receive()
        except EOFError:
            os._exit(0)  # nothing to clean up: skipping the interpreter's exit saves ~0.1 s
        parent.send(_read_batch(paths))


def index_file(workspace: Path) -> Path:
    """Where the listing index of `workspace` is kept."""
    key = hashlib.sha256(os.fsencode(workspace.absolute())).hexdigest()[:32]
    return cache_dir() / "listings" / f"{key}.json"


_indexes: dict[Path, _WorkspaceIndex] = {}
_indexes_lock = threading.Lock()


def _index_of(workspace: Path) -> _WorkspaceIndex:
    with _indexes_lock:
        index = _indexes.get(workspace)
        if index is None:
            index = _indexes[workspace] = _WorkspaceIndex(workspace)
        return index


class _WorkspaceIndex:
    """The remembered entries of one workspace, by file name, and their index file.

    Unreadable entries are remembered in memory only: the reason a file cannot be read
    now (too many open files, say) may not hold at the next start.
    """

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.file = index_file(workspace)
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Signature, DatasetEntry]] = {}
        self._saved: dict[str, Signature] = {}  # what the index file holds
        self._load()

    def lookup(self, name: str, st: os.stat_result) -> DatasetEntry | None:
        with self._lock:
            known = self._entries.get(name)
        return known[1] if known is not None and known[0] == signature(st) else None

    def remember(self, name: str, st: os.stat_result, entry: DatasetEntry) -> None:
        with self._lock:
            self._entries[name] = (signature(st), entry)

    def keep_only(self, names: set[str]) -> None:
        with self._lock:
            for name in set(self._entries) - names:
                del self._entries[name]

    # -- the index file --------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.debug("listing index %s ignored: %s", self.file, exc)
            return
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or \
                data.get("app_version") != __version__ or \
                data.get("workspace") != str(self.workspace.absolute()) or \
                not isinstance(data.get("files"), dict):
            return
        with contextlib.suppress(OSError):
            os.utime(self.file)  # in use: not stale
        for name, item in data["files"].items():
            try:
                sig = _signature_from_json(item["signature"])
                header = _header_from_json(self.workspace / name, item)
            except (HeimdallError, KeyError, TypeError, ValueError):
                continue  # read again from the file
            self._entries[name] = (sig, DatasetEntry(header.path, header))
            self._saved[name] = sig

    def save(self) -> None:
        """Write the index file if the readable entries changed since it was written."""
        with self._lock:
            readable = {name: (sig, entry.header) for name, (sig, entry) in
                        self._entries.items() if entry.header is not None}
            current = {name: sig for name, (sig, _) in readable.items()}
            if current == self._saved:
                return
            if not current:
                with contextlib.suppress(OSError):
                    self.file.unlink()
                self._saved = current
                return
            data = {"format": INDEX_FORMAT, "app_version": __version__,
                    "workspace": str(self.workspace.absolute()),
                    "files": {name: {"signature": list(sig), **_header_to_json(header)}
                              for name, (sig, header) in readable.items()}}
            tmp = self.file.with_name(f"{self.file.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
                os.replace(tmp, self.file)
            except OSError as exc:  # a cache: the listing itself is complete without it
                log.debug("listing index %s not written: %s", self.file, exc)
                with contextlib.suppress(OSError):
                    tmp.unlink()
                return
            self._saved = current
        _remove_stale_indexes(self.file.parent)


def _header_to_json(header: DatasetHeader) -> dict[str, Any]:
    return {"config_json": header.config_json or header.config.to_json(),
            "num_samples": header.num_samples,
            "created_utc": header.created_utc, "app_version": header.app_version,
            "size_bytes": header.size_bytes, "generator_version": header.generator_version,
            "history": [[r.kind, r.started_utc, r.first_index, r.count, r.candidates,
                         r.rejected_too_few_receivers, r.rejected_gdop, r.duration_s,
                         r.app_version, r.checksum] for r in header.history]}


def _typed(value: Any, kind: type) -> Any:
    """`value` if JSON gave it as `kind` (a whole number will do for a float)."""
    if type(value) is not kind and not (kind is float and type(value) is int):
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return float(value) if kind is float else value


def _signature_from_json(values: Any) -> Signature:
    dev, ino, size, mtime_ns, ctime_ns = (_typed(v, int) for v in values)
    return (dev, ino, size, mtime_ns, ctime_ns)


def _header_from_json(path: Path, item: dict[str, Any]) -> DatasetHeader:
    """The header an index entry describes; TypeError if any value has the wrong type."""
    history = []
    for row in item["history"]:
        kinds = (str, str, int, int, int, int, int, float, str)
        if len(row) != len(kinds) + 1:
            raise TypeError("history row of another layout")
        checksum = None if row[-1] is None else _typed(row[-1], int)
        history.append(HistoryRow(*(_typed(v, k) for v, k in zip(row, kinds)), checksum))
    config_json = _typed(item["config_json"], str)
    return DatasetHeader(path=path, config=config_from_json(config_json),
                         num_samples=_typed(item["num_samples"], int),
                         created_utc=_typed(item["created_utc"], str),
                         app_version=_typed(item["app_version"], str), history=tuple(history),
                         size_bytes=_typed(item["size_bytes"], int),
                         generator_version=_typed(item["generator_version"], int),
                         config_json=config_json)


def _remove_stale_indexes(folder: Path) -> None:
    """Index files not written for months: workspaces deleted or long unchanged."""
    cutoff = time.time() - STALE_INDEX_S
    try:
        for entry in os.scandir(folder):
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
    except OSError as exc:
        log.debug("stale listing indexes in %s not removed: %s", folder, exc)
