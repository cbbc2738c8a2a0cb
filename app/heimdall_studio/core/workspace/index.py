"""The listing index: what was read of each dataset file, while the file stays as it was.

A listing reuses what it read of a file while the file keeps its identity (`signature`:
device, inode, size, modification and change times). Every write sets the change time,
which no program can set back, so a changed file is always read again.

The headers of readable files also persist between runs, one JSON file per workspace in
the user cache folder, so the app starts without reading unchanged files again. That file
is only a cache: missing, damaged or written by another version, it is ignored and
rebuilt; it never vouches for a file whose signature changed, and its configs are
validated again as they are loaded. Why a file cannot be read is remembered in memory
only: the reason (too many open files, say) may not hold at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import typing
from pathlib import Path
from typing import Any

from ... import __version__
from ..config.folders import CACHE_DIR_ENV as CACHE_DIR_ENV
from ..config.folders import cache_dir
from ..dataset.layout import HistoryRow
from ..dataset.reader import DatasetHeader, config_from_json
from ..errors import HeimdallError

log = logging.getLogger(__name__)

INDEX_FORMAT = "heimdall-studio-listing"
INDEX_VERSION = 2  # 2: history rows by field name
STALE_INDEX_S = 90 * 24 * 3600

Signature = tuple[int, int, int, int, int]
# What a listing learnt of a file: its header, or why it cannot be read.
Known = DatasetHeader | str

# The fields kept as they are; the path, config and history are rebuilt from them.
_HEADER_FIELDS = {name: kind for name, kind in typing.get_type_hints(DatasetHeader).items()
                  if name not in ("path", "config", "history")}


def signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def index_file(workspace: Path) -> Path:
    """Where the listing index of `workspace` is kept."""
    key = hashlib.sha256(os.fsencode(workspace.absolute())).hexdigest()[:32]
    return cache_dir() / "listings" / f"{key}.json"


_indexes: dict[Path, WorkspaceIndex] = {}
_indexes_lock = threading.Lock()


def index_of(workspace: Path) -> WorkspaceIndex:
    """The index of `workspace`, loaded from its file by the first listing in a process."""
    with _indexes_lock:
        index = _indexes.get(workspace)
        if index is None:
            index = _indexes[workspace] = WorkspaceIndex(workspace)
        return index


class WorkspaceIndex:
    """What is known of the files of one workspace, by file name, and its index file.

    Listings of one workspace may run at the same time (the app's, and a script's in
    another thread): a lock guards the entries.
    """

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.file = index_file(workspace)
        self._lock = threading.Lock()
        self._known: dict[str, tuple[Signature, Known]] = {}
        self._saved: dict[str, Signature] = {}  # what the index file holds
        self._load()

    def lookup(self, name: str, st: os.stat_result) -> Known | None:
        """What was read of the file, if it has not changed since; else None."""
        with self._lock:
            known = self._known.get(name)
        return known[1] if known is not None and known[0] == signature(st) else None

    def remember(self, name: str, st: os.stat_result, known: Known) -> None:
        with self._lock:
            self._known[name] = (signature(st), known)

    def keep_only(self, names: set[str]) -> None:
        """Forget the files that are gone."""
        with self._lock:
            for name in set(self._known) - names:
                del self._known[name]

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
                data.get("version") != INDEX_VERSION or \
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
            self._known[name] = (sig, header)
            self._saved[name] = sig

    def save(self) -> None:
        """Write the index file if the readable files changed since it was written."""
        with self._lock:
            readable = {name: (sig, known) for name, (sig, known) in self._known.items()
                        if isinstance(known, DatasetHeader)}
            current = {name: sig for name, (sig, _) in readable.items()}
            if current == self._saved:
                return
            if not current:
                with contextlib.suppress(OSError):
                    self.file.unlink()
                self._saved = current
                return
            data = {"format": INDEX_FORMAT, "version": INDEX_VERSION,
                    "app_version": __version__, "workspace": str(self.workspace.absolute()),
                    "files": {name: {"signature": list(sig), **_header_to_json(header)}
                              for name, (sig, header) in readable.items()}}
            tmp = self.file.with_name(
                f"{self.file.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
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
    item = {name: getattr(header, name) for name in _HEADER_FIELDS}
    item["config_json"] = header.config_json or header.config.to_json()
    item["history"] = [row.to_dict() for row in header.history]
    return item


def _typed(value: Any, kind: type) -> Any:
    """`value` if JSON gave it as `kind` (the header's plain fields are text or whole
    numbers)."""
    if type(value) is not kind:
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return value


def _signature_from_json(values: Any) -> Signature:
    dev, ino, size, mtime_ns, ctime_ns = (_typed(v, int) for v in values)
    return (dev, ino, size, mtime_ns, ctime_ns)


def _header_from_json(path: Path, item: dict[str, Any]) -> DatasetHeader:
    """The header an index entry describes; TypeError if any value has the wrong type."""
    kept = {name: _typed(item[name], kind) for name, kind in _HEADER_FIELDS.items()}
    history = tuple(HistoryRow.from_dict(row) for row in item["history"])
    return DatasetHeader(path=path, config=config_from_json(kept["config_json"]),
                         history=history, **kept)


def _remove_stale_indexes(folder: Path) -> None:
    """Index files not written for months: workspaces deleted or long unchanged."""
    cutoff = time.time() - STALE_INDEX_S
    try:
        for entry in os.scandir(folder):
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
    except OSError as exc:
        log.debug("stale listing indexes in %s not removed: %s", folder, exc)
