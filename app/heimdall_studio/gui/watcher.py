"""What keeps the dataset browser current: listings of the workspace, in the background.

`WorkspaceWatcher` decides when to list again: a QFileSystemWatcher on the folder (files
appearing or vanishing) and on each dataset file (commits changing it), funnelled through a
single-shot timer: the first change of a burst starts it and later ones ride along, so a
run committing four times a second gives two listings a second, and a burst of file
operations gives one.
Listing reads each file's header, so it runs in a worker thread, which hands the entries
over in batches as it goes (`listing_batches`): a large workspace never seen before shows
rows while the rest is read. Only entries cross threads.

A file being written changes at every commit, so the watcher sees a write go on; its end
may change nothing (a killed writer leaves the file as it was), so while files are being
written the watcher also asks their locks, once a second, whether the writer is still
there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal
from superqt.utils import GeneratorWorker, create_worker

from ..core.api import DatasetEntry
from ..core.dataset.locking import writer_pid
from ..core.dataset.recovery import held_by_another_program
from ..core.errors import HeimdallError
from ..core.workspace.listing import iter_workspace
from .jobs import describe_error
from .threads import ClosingWorker

log = logging.getLogger(__name__)


FIRST_BATCH_S = 0.05  # a listing going on hands over what it has read this soon,
LAST_BATCH_S = 0.4  # then half as often each time, down to this


def listing_batches(workspace: Path
                    ) -> Generator[list[DatasetEntry], None, list[DatasetEntry]]:
    """The workspace's entries in batches, as the core lists them (in a worker thread),
    then the whole listing, by name, as the return value.

    While the listing goes on, the first batch comes FIRST_BATCH_S after the first entry,
    each later one after twice the wait of the one before (up to LAST_BATCH_S): the first
    rows fill the view at once, the others mostly move its scroll bar, and every batch
    repaints the view, whose calls into Python take the GIL from the thread reading the
    files. A listing done sooner (files known unchanged) hands over nothing before the end.
    """
    entries: list[DatasetEntry] = []
    handed = 0
    wait = FIRST_BATCH_S
    due = None
    for entry in iter_workspace(workspace):
        entries.append(entry)
        now = time.monotonic()
        if due is None:
            due = now + wait  # from the first entry: loading the index comes before it
        elif now >= due:
            yield entries[handed:]
            handed = len(entries)
            wait = min(2 * wait, LAST_BATCH_S)
            due = now + wait
    return sorted(entries, key=lambda entry: entry.path.name)


class WorkspaceWatcher(QObject):
    """Lists the workspace in the background whenever it may have changed.

    `more_listed` carries entries of a listing going on, `listed` all of the latest
    listing. A listing requested while one runs is remembered and started afterwards, so
    the last change is never missed.
    """

    listed = Signal(object)  # list[DatasetEntry], by name
    more_listed = Signal(object)  # list[DatasetEntry]
    failed = Signal(str)

    DELAY_MS = 500
    WRITER_PROBE_MS = 1000

    def __init__(self, workspace: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = Path(workspace)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._changed)
        self._watcher.fileChanged.connect(self._changed)
        self._delay = QTimer(self, singleShot=True, interval=self.DELAY_MS)
        self._delay.timeout.connect(self.refresh)
        self._writers: dict[Path, int] = {}  # file -> its writer, as last listed
        self._held: set[Path] = set()
        self._writer_probe = QTimer(self, interval=self.WRITER_PROBE_MS)
        self._writer_probe.timeout.connect(self._probe_writers)
        self._running: GeneratorWorker | None = None
        self._pending = False
        self._stopped = False
        self.quiet_paths: frozenset[Path] = frozenset()  # see set_quiet_paths
        self._watch_folder()

    def set_workspace(self, workspace: Path) -> None:
        self.workspace = Path(workspace)
        if self._running is not None:
            self._running.quit()  # at its next batch; then this workspace is listed
        self._set_writers({})
        paths = self._watcher.directories() + self._watcher.files()
        if paths:
            self._watcher.removePaths(paths)
        self._watch_folder()
        self.refresh()

    def stop(self) -> None:
        """No more listings (the window is closing)."""
        self._stopped = True
        self._delay.stop()
        self._writer_probe.stop()
        if self._running is not None:
            self._running.quit()

    def _watch_folder(self) -> None:
        if self.workspace.is_dir():
            self._watcher.addPath(str(self.workspace))

    def set_quiet_paths(self, paths: set[Path]) -> None:
        """Stop watching `paths` (until a listing after they leave the set): files our own
        runs are writing. Their progress says how they grow, while the file system would
        report every single write, over a thousand a second, each a call into Python in
        the GUI thread that competes with the run for the GIL."""
        self.quiet_paths = frozenset(paths)
        watched = {str(p) for p in paths} & set(self._watcher.files())
        if watched:
            self._watcher.removePaths(sorted(watched))

    def _changed(self, _path: str) -> None:
        # Not restarted by later changes: a restarting (debounce) timer would never fire
        # while a run commits more often than its interval.
        if not self._delay.isActive():
            self._delay.start()

    def refresh(self) -> None:
        if self._stopped:
            return
        if self._running is not None:
            self._pending = True
            return
        workspace = self.workspace
        self._running = create_worker(
            listing_batches, workspace, _worker_class=ClosingWorker,
            _connect={"yielded": lambda entries: self._more(workspace, entries),
                      "returned": lambda entries: self._done(workspace, entries),
                      "errored": self._failed, "finished": self._finished})

    def _more(self, workspace: Path, entries: list[DatasetEntry]) -> None:
        if not self._stopped and workspace == self.workspace:
            self.more_listed.emit(entries)

    def _done(self, workspace: Path, entries: list[DatasetEntry]) -> None:
        if self._stopped or workspace != self.workspace:
            return  # a listing of the previous workspace
        self._watch_files(entries)
        self._set_writers({e.path: e.writer for e in entries if e.writer is not None},
                          {e.path for e in entries if e.in_use})
        self.listed.emit(entries)

    def _failed(self, exc: Exception) -> None:
        message = describe_error(exc)
        log.error("listing the workspace failed: %s", message,
                  exc_info=None if isinstance(exc, HeimdallError) else exc)
        if not self._stopped:
            self.failed.emit(message)

    def _finished(self) -> None:
        self._running = None
        if self._pending:
            self._pending = False
            self.refresh()

    def _set_writers(self, writers: dict[Path, int], held: set[Path] = frozenset()) -> None:
        self._writers = writers
        self._held = held  # files other programs hold open for writing
        if not writers and not held:
            self._writer_probe.stop()
        elif not self._writer_probe.isActive():
            self._writer_probe.start()

    def _probe_writers(self) -> None:
        """List again when a file's writer has ended (or another has taken over), or a
        program that held a file let it go (it may have been killed, changing nothing).
        A few microseconds per file, and never in a writer's way (`locking.writer_pid`,
        `recovery.held_by_another_program`)."""
        if (any(writer_pid(path) != pid for path, pid in self._writers.items())
                or not all(held_by_another_program(path) for path in self._held)):
            self._set_writers({})  # the listing says who writes what now
            self.refresh()

    def _watch_files(self, entries: list[DatasetEntry]) -> None:
        wanted = {str(e.path) for e in entries if e.path not in self.quiet_paths}
        watched = set(self._watcher.files())
        if watched - wanted:
            self._watcher.removePaths(sorted(watched - wanted))
        if wanted - watched:
            self._watcher.addPaths(sorted(wanted - watched))
        if not self._watcher.directories():
            self._watch_folder()  # the folder may have been created since
