"""The coverage preview in a process of its own (`heimdall-studio _preview-process`).

The New dataset dialog asks for a preview of its config at every change
(`sampling.coverage`). The work needs the generator's kernels, which the app's own
process never loads (numba), so it happens in a child of this program, as runs do
(`child`). `PreviewProcess.submit` sends a config at any time; `updates` is the
generator of what comes back: `PreviewPreparing` while the terrain is prepared,
then a `PreviewReady` with the preview, or a `PreviewFailed` saying why.

Requests go out as soon as they are made, and the child keeps only the newest: a
reader thread takes each message off the pipe as it comes, and the next preview is of
the last config received. A preparation (the terrain's link grids, which can take
tens of seconds for a new network) is abandoned when a newer request needs other
grids, and kept when the newer one needs the same.

This module loads nothing heavy on import: the app imports it, and `__main__` imports it
to recognise the subcommand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import child

if TYPE_CHECKING:
    import numpy as np

    from ..config.model import DatasetConfig

log = logging.getLogger(__name__)

PREVIEW_PROCESS_COMMAND = "_preview-process"
NICE = 10  # as the run process: the app's GUI comes first
PREPARING_RECORD_S = 0.25  # a PreviewPreparing at most this often, the first after it


@dataclass(frozen=True)
class PreviewPreparing:
    """Request `request`'s terrain is being prepared: `share` of it is done."""

    request: int
    share: float


@dataclass(frozen=True)
class Coverage:
    """A config's preview (`sampling.coverage.CoveragePreview.message`): the predicted
    acceptance with its standard error and the samples the preview drew per second,
    the maps over the training box (row 0 south), the receivers, the boxes, the
    warnings and the relief under it all."""

    acceptance: float
    acceptance_error: float
    kept: int
    candidates: int
    samples_per_s: float
    unfillable: str | None  # the generator's message when a run would stop
    bounds: tuple[float, float, float, float]  # south, north, west, east of the maps
    detections: np.ndarray  # expected number of detecting receivers per cell
    gdop: np.ndarray  # GDOP of the likely detecting receivers per cell (inf: < 3)
    receiver_names: tuple[str, ...]
    receiver_lat: np.ndarray
    receiver_lon: np.ndarray
    receiver_box: tuple[float, float, float, float]  # lat0, lat1, lon0, lon1
    training_box: tuple[float, float, float, float]
    warnings: tuple[str, ...]
    relief: np.ndarray | None
    relief_bounds: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class PreviewReady:
    request: int
    coverage: Coverage


@dataclass(frozen=True)
class PreviewFailed:
    """The config cannot be previewed (or the process failed): `message` says why."""

    request: int
    message: str


PreviewUpdate = PreviewPreparing | PreviewReady | PreviewFailed


class PreviewProcess:
    """The parent's side: one child process, many requests."""

    def __init__(self) -> None:
        self._child = child.Child(PREVIEW_PROCESS_COMMAND)
        self._lock = threading.Lock()
        self._requests = 0
        self._closed = False

    def submit(self, config: DatasetConfig) -> int:
        """Ask for a preview of `config`; returns the request's number (they grow).
        Requests after `close`, or once the child has ended, are dropped."""
        with self._lock:
            self._requests += 1
            if not self._closed:
                with contextlib.suppress(OSError, ValueError):
                    self._child.send((self._requests, config.to_json()))
            return self._requests

    def updates(self) -> Iterator[PreviewUpdate]:
        """What the child sends, until it ends (`close`); run it in a thread of its own."""
        try:
            self._child.wait_ready()
            while True:
                yield self._child.receive()
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            if not self._closed:  # it ended on its own: a crash
                yield PreviewFailed(self._requests, "the coverage preview stopped "
                                    "working; see the log for why")
        finally:
            self._reap()

    def close(self) -> None:
        """End the child: closing its input ends it, and `updates` with it."""
        with self._lock:
            self._closed = True
            with contextlib.suppress(OSError, ValueError):
                self._child.process.stdin.close()  # type: ignore[union-attr]
            if not self._child.ready:
                self._child.process.kill()

    def _reap(self) -> None:
        self.close()
        self._child.process.wait()
        with contextlib.suppress(OSError, ValueError):
            self._child.process.stdout.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------
# the child's side


class _Inbox:
    """The newest request from the parent, read off the pipe by a thread of its own."""

    def __init__(self, parent: child.Parent):
        self._parent = parent
        self._ready = threading.Condition()
        self._newest: tuple[int, str] | None = None
        self.closed = False
        threading.Thread(target=self._read, name="preview-inbox", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self._parent.receive()
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                message = None
            with self._ready:
                if message is None:
                    self.closed = True
                else:
                    self._newest = message
                self._ready.notify_all()
            if message is None:
                return

    def take(self) -> tuple[int, str] | None:
        """The newest request, waiting for one; None once the parent has closed."""
        with self._ready:
            while self._newest is None and not self.closed:
                self._ready.wait()
            if self.closed:
                return None
            request, self._newest = self._newest, None
            return request

    def peek(self) -> tuple[int, str] | None:
        with self._ready:
            return self._newest


def serve() -> int:
    """The preview process: lower its priority, load the kernels, say so, then preview
    the newest request until the parent closes our input. Returns the exit code."""
    parent = child.Parent()
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(NICE)
    logging.basicConfig(level=logging.WARNING, format="preview process: %(message)s")
    from ..config.model import DatasetConfig
    from ..errors import HeimdallError
    from ..sampling import coverage, generator

    generator.load_kernels()
    coverage.load_kernels()
    parent.say_ready()
    inbox = _Inbox(parent)
    previewer = coverage.Previewer()
    while (request := inbox.take()) is not None:
        number, config_json = request
        try:
            config = DatasetConfig.from_json(config_json)
            update = _preview(parent, inbox, previewer, number, config)
        except HeimdallError as exc:
            update = PreviewFailed(number, str(exc))
        except Exception:  # a bug: its traceback goes to stderr, the dialog gets a sentence
            log.exception("the preview failed")
            update = PreviewFailed(number, "the preview failed on an unexpected error; "
                                   "see the log for why")
        if update is not None and not inbox.closed:
            _send(parent, update)
    return 0


def _send(parent: child.Parent, update: PreviewUpdate) -> None:
    """Send `update`; nothing when the parent is gone (the inbox closes then)."""
    with contextlib.suppress(OSError):
        parent.send(update)


def _preview(parent: child.Parent, inbox: _Inbox, previewer: Any, number: int,
             config: DatasetConfig) -> PreviewUpdate | None:
    """Request `number`'s preview; None when the parent closed, or a newer request that
    needs other link grids came, during the preparation (the preview is closed there,
    and the previewer keeps nothing of it)."""
    from ..sampling.coverage import terrain_key

    steps = previewer.preview(config)
    key = None
    checked: tuple[int, bool] | None = None  # the newest request seen, and its verdict
    heard = time.perf_counter()
    try:
        while True:
            try:
                share = next(steps)
            except StopIteration as done:
                return PreviewReady(number, Coverage(**done.value.message()))
            newer = inbox.peek()
            if inbox.closed:
                return None
            if newer is not None and (checked is None or checked[0] != newer[0]):
                key = key or terrain_key(config)
                checked = newer[0], _needs_other_grids(newer[1], key)
            if checked is not None and checked[1]:
                return None  # this preparation is of no use to the newer request
            if time.perf_counter() - heard >= PREPARING_RECORD_S:
                heard = time.perf_counter()
                _send(parent, PreviewPreparing(number, min(share, 0.999)))
    finally:
        steps.close()


def _needs_other_grids(config_json: str, key: str) -> bool:
    """Whether a request's config needs other link grids than those of `key`
    (`sampling.coverage.terrain_key`). One that cannot be read does: its own preview,
    next, says why."""
    from ..config.model import DatasetConfig
    from ..sampling.coverage import terrain_key

    try:
        return terrain_key(DatasetConfig.from_json(config_json)) != key
    except Exception:
        return True
