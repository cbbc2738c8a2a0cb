"""Generation jobs: what runs, what it has produced so far, and how to stop it.

A `Job` is the GUI-side record of one create or expand run: the latest `Progress` and the
histograms accumulated from the per-block counts. `JobManager` starts runs in pool workers
and turns worker signals into job signals. It only ever hands the worker plain values: a
validated config or a dataset path, and a sample count.

Each run happens in a process of its own (`core.process_run`), started ahead of time with
its kernels loaded: the pool worker only relays its progress. In this process, h5py would
hold the GIL while it writes, and the GUI thread would wait for it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core import api
from ..core.runs import process as process_run
from ..core.runs.driver import Progress
from .dialogs import ExpandDatasetRequest, NewDatasetRequest
from .workers import GeneratorWorker

log = logging.getLogger(__name__)

_job_ids = itertools.count(1)
KEEP_ENDED_JOBS = 20  # ended runs stay listed (and their plots viewable) up to this many


class Job:
    """One run. Updated only in the GUI thread, from worker signals."""

    def __init__(self, kind: str, path: Path, requested: int, worker: GeneratorWorker):
        self.id = next(_job_ids)
        self.kind = kind  # "create" or "expand"
        self.path = path
        self.requested = requested
        self.worker = worker
        self.state = "starting"  # running, cancelling, finished, cancelled, failed
        self.error: str | None = None
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
            return f"failed: {self.error}"
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
        self._spare = process_run.SpareProcess() if process_run.available() else None
        self._shut_down = False

    def prepare(self) -> None:
        """Get the next run ready: its process started with the kernels loaded (blocks).
        Does nothing once `shutdown` has been called, even while it waits."""
        spare = self._spare
        if spare is not None:
            try:
                process = spare.prepare()
                if process is not None:
                    process.wait_ready()
                return
            except (OSError, process_run.RunProcessError) as exc:
                if self._shut_down:  # shutdown ended the process it waited for
                    return
                log.warning("runs cannot have a process of their own: %s", exc)
        if not self._shut_down:  # runs happen in this process: load their kernels here
            from ..core.sampling.generator import load_kernels

            load_kernels()

    def shutdown(self) -> None:
        """No more runs: end the spare process (running jobs are cancelled apart)."""
        self._shut_down = True
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()

    def start_create(self, request: NewDatasetRequest, workspace: Path) -> Job:
        config, n = request.config, request.num_samples
        path = api.dataset_path(config.name, workspace)
        worker = GeneratorWorker(f"create {path.name}", lambda: self._make_run(
            lambda child: child.create(config, n, workspace),
            lambda: api.create_run(config, n, workspace)))
        return self._start(Job("create", path, n, worker))

    def start_expand(self, request: ExpandDatasetRequest) -> Job:
        path, n = Path(request.path), request.num_samples
        worker = GeneratorWorker(f"expand {path.name}", lambda: self._make_run(
            lambda child: child.expand(path, n), lambda: api.expand_run(path, n)))
        return self._start(Job("expand", path, n, worker))

    def _make_run(self, in_child: Callable[[process_run.RunProcess], Iterator[Progress]],
                  here: Callable[[], Iterator[Progress]]) -> Iterator[Progress]:
        """The run in a process of its own, or in this one if no process can be started.
        Called in the pool thread: the run opens and checks the file before it starts."""
        spare = self._spare
        if spare is not None:
            try:
                return in_child(spare.take())
            except (OSError, process_run.RunProcessError) as exc:
                log.warning("the run cannot have a process of its own (%s); running it in "
                            "the app's process", exc)
        return here()

    def _start(self, job: Job) -> Job:
        signals = job.worker.signals
        signals.progressed.connect(lambda progress: self._progressed(job, progress))
        signals.succeeded.connect(lambda last: self._succeeded(job, last))
        signals.failed.connect(lambda message: self._failed(job, message))
        signals.finished.connect(lambda: self._finished(job))
        self.jobs.append(job)
        log.info("starting %s of %s (%d samples)", job.kind, job.path, job.requested)
        job.worker.start()
        self.job_started.emit(job)
        return job

    def cancel(self, job: Job) -> None:
        if job.active:
            job.state = "cancelling"
            job.worker.abort()

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

    def _succeeded(self, job: Job, last: Progress | None) -> None:
        if last is not None:
            job.last = last
        finished = last is not None and last.finished
        job.state = "cancelled" if job.worker.cancelled and not finished else "finished"
        log.info("%s of %s %s", job.kind, job.path, job.summary())

    def _failed(self, job: Job, message: str) -> None:
        job.state = "failed"
        job.error = message

    def _finished(self, job: Job) -> None:
        if self._spare is not None and not self.active_jobs():
            try:
                self._spare.prepare()  # the next run's process, loading its kernels meanwhile
            except OSError as exc:  # the next run says so again, and runs here
                log.warning("cannot start a process for the next run: %s", exc)
        if job.active:  # neither succeeded nor failed was delivered: should not happen
            job.state = "failed"
            job.error = job.error or "the run ended without a result"
        ended = [j for j in self.jobs if not j.active]
        if len(ended) > KEEP_ENDED_JOBS:
            dropped = set(map(id, ended[:-KEEP_ENDED_JOBS]))
            self.jobs = [j for j in self.jobs if id(j) not in dropped]
        self.job_ended.emit(job)
