"""Generation jobs: what runs, what it has produced so far, and how to stop it.

A `Job` is the GUI-side record of one create or expand run: the latest `Progress` and the
histograms accumulated from the per-block counts. `JobManager` starts runs on superqt's
thread workers and turns their signals into job signals. It only ever hands a run plain
values: a validated config or a dataset path, and a sample count.

Each run happens in a process of its own (`core.runs.process`): in this one, h5py would
hold the GIL while it writes, and the GUI thread would wait for it. The pool thread only
relays the run's progress. The next run's process is started ahead of time with its
kernels loaded (the ready process, `prepare`), so that a run starts at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from ..core import api
from ..core.errors import HeimdallError
from ..core.runs.driver import Progress
from ..core.runs.process import ReadyProcess, RunProcess, RunProcessError
from .compute import read_cluster
from .dialogs import ExpandDatasetRequest, NewDatasetRequest
from .threads import ClosingWorker

log = logging.getLogger(__name__)

KEEP_ENDED_JOBS = 20  # ended runs stay listed (and their plots viewable) up to this many


def describe_error(exc: BaseException) -> str:
    """A message fit for a dialog: the core's errors already are; others get their type."""
    if isinstance(exc, HeimdallError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"


class Job:
    """One run. Updated only in the GUI thread, from worker signals."""

    def __init__(self, kind: str, path: Path, requested: int, worker: ClosingWorker | None):
        self.kind = kind  # "create" or "expand"
        self.path = path
        self.requested = requested
        self.worker = worker
        self.state = "starting"  # running, cancelling, finished, cancelled, failed
        self.error: Exception | None = None  # as the run raised it (its class kept)
        self.last: Progress | None = None
        self.version = 0  # bumped by every progress record; redraws compare it
        self.snr_edges: np.ndarray | None = None
        self.snr_counts: np.ndarray | None = None
        self.gdop_edges: np.ndarray | None = None
        self.gdop_counts: np.ndarray | None = None
        self.acceptance_done: list[int] = []
        self.acceptance_percent: list[float] = []

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def active(self) -> bool:
        return self.state in ("starting", "running", "cancelling")

    @property
    def done(self) -> int:
        return self.last.done if self.last else 0

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else describe_error(self.error)

    def add_progress(self, progress: Progress) -> None:
        if self.snr_counts is None or len(self.snr_counts) != len(progress.snr_counts):
            self.snr_edges = progress.snr_edges
            self.snr_counts = np.zeros_like(progress.snr_counts)
            self.gdop_edges = progress.gdop_edges
            self.gdop_counts = np.zeros_like(progress.gdop_counts)
        # Each record holds the counts of its own block only: the distribution so far is
        # their sum.
        self.snr_counts = self.snr_counts + progress.snr_counts
        self.gdop_counts = self.gdop_counts + progress.gdop_counts
        if progress.candidates:
            self.acceptance_done.append(progress.done)
            self.acceptance_percent.append(100.0 * progress.acceptance)
        self.last = progress
        if self.state == "starting":
            self.state = "running"
        self.version += 1

    def summary(self) -> str:
        """One line saying how the job ended (or stands)."""
        if self.state == "failed":
            return f"failed: {self.error_message}"
        done = f"{self.done:,}"
        if self.state == "cancelled":
            return f"cancelled; {done} samples committed and kept"
        if self.state == "finished":
            seconds = self.last.elapsed_s if self.last else 0.0
            return f"finished: {done} samples in {seconds:.1f} s"
        if self.state == "cancelling":
            return "cancelling after the current block…"
        return self.state


class JobManager(QObject):
    """Starts runs in the thread pool and reports on them."""

    job_started = Signal(object)  # Job
    job_progressed = Signal(object)  # Job
    job_ended = Signal(object)  # Job, in a final state

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs: list[Job] = []
        self._ready = ReadyProcess()
        self._shut_down = False

    def prepare(self) -> None:
        """Start the ready process and wait until it has loaded its kernels (blocks: call
        it in a worker). RunProcessError if it cannot start; nothing once `shutdown` has
        been called, even while it waits."""
        process = self._ready.prepare()
        if process is None:
            return
        try:
            process.wait_ready()
        except RunProcessError:
            if not self._shut_down:  # else shutdown ended the process it waited for
                raise

    def shutdown(self) -> None:
        """No more runs: end the ready process (running jobs are cancelled apart)."""
        self._shut_down = True
        self._ready.discard()

    def start_create(self, request: NewDatasetRequest, workspace: Path) -> Job:
        """Create in the run process, its blocks computed where the Compute setting says."""
        config, n, cluster = request.config, request.num_samples, read_cluster()
        path = api.dataset_path(config.name, workspace)
        return self._start("create", path, n, lambda process: process.create(
            config, n, workspace, cluster=cluster or None))

    def start_expand(self, request: ExpandDatasetRequest) -> Job:
        path, n, cluster = Path(request.path), request.num_samples, read_cluster()
        return self._start("expand", path, n,
                           lambda process: process.expand(path, n, cluster=cluster or None))

    def _run(self, start: Callable[[RunProcess], Iterator[Progress]]) -> Iterator[Progress]:
        """The run in the ready process (or a new one), relayed record by record. A
        generator, so that all of it happens in the pool thread: taking the process,
        waiting for it, and the opening and checking of the file."""
        yield from start(self._ready.take())

    def _start(self, kind: str, path: Path, requested: int,
               start: Callable[[RunProcess], Iterator[Progress]]) -> Job:
        worker = create_worker(self._run, start, _worker_class=ClosingWorker,
                               _start_thread=False, _ignore_errors=True)
        job = Job(kind, path, requested, worker)
        worker.yielded.connect(lambda progress: self._progressed(job, progress))
        worker.errored.connect(lambda exc: self._failed(job, exc))
        worker.finished.connect(lambda: self._finished(job))
        self.jobs.append(job)
        log.info("starting %s of %s (%d samples)", job.kind, job.path, job.requested)
        worker.start()
        self.job_started.emit(job)
        return job

    def cancel(self, job: Job) -> None:
        """Stop the run after its current block; what it committed is kept."""
        if job.active and job.worker is not None:
            job.state = "cancelling"
            job.worker.quit()

    def cancel_all(self) -> None:
        for job in self.active_jobs():
            self.cancel(job)

    def active_jobs(self) -> list[Job]:
        return [job for job in self.jobs if job.active]

    def busy_paths(self) -> dict[Path, str]:
        """Datasets our runs are writing, with what they do to them."""
        return {job.path: job.kind for job in self.active_jobs()}

    # -- worker signals (GUI thread) -------------------------------------------

    def _progressed(self, job: Job, progress: Progress) -> None:
        job.add_progress(progress)
        self.job_progressed.emit(job)

    def _failed(self, job: Job, exc: Exception) -> None:
        if isinstance(exc, HeimdallError):
            log.warning("%s of %s failed: %s", job.kind, job.path, exc)
        else:  # a bug: its traceback goes to the log
            log.error("%s of %s failed", job.kind, job.path, exc_info=exc)
        job.state = "failed"
        job.error = exc

    def _finished(self, job: Job) -> None:
        if job.state != "failed":
            complete = job.last is not None and job.last.finished
            cancelled = job.worker is not None and job.worker.abort_requested
            job.state = "cancelled" if cancelled and not complete else "finished"
            log.info("%s of %s %s", job.kind, job.path, job.summary())
        if not self.active_jobs():
            try:
                self._ready.prepare()  # the next run's process, loading its kernels meanwhile
            except RunProcessError as exc:  # the next run says so again
                log.warning("cannot start a process for the next run: %s", exc)
        ended = [j for j in self.jobs if not j.active]
        if len(ended) > KEEP_ENDED_JOBS:
            dropped = set(map(id, ended[:-KEEP_ENDED_JOBS]))
            self.jobs = [j for j in self.jobs if id(j) not in dropped]
        self.job_ended.emit(job)
