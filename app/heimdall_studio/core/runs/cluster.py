"""Where a run's blocks are computed: on this machine, or on a Dask cluster.

Where is a choice of the run, never of the dataset: it is not in the config, and it cannot
change a sample. Every block is a pure function of (config, generator version, elevation
grid, index range) (`sampling.generator.compute_block`), so a worker computes it exactly as
this process would; the run's own process stays the only writer and commits the blocks
strictly in order (`Cluster.blocks`), as a local run does. Committed samples, a kill and the
next expand therefore behave as they do locally (docs/scaling.md).

`ClusterSpec.parse` validates what a user gives (`tcp://HOST:PORT`, `tls://HOST:PORT` or
`local:N`); `connect` reaches the scheduler (or starts a `LocalCluster`) and checks, before
anything is written, that every worker runs the same Heimdall Studio, generator and numba
as this process. Dask (`pip install 'heimdall-studio[cluster]'`) is imported only here and
only when a cluster is asked for.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any

from ..config.model import DatasetConfig
from ..errors import ClusterAddressError, ClusterError

if TYPE_CHECKING:
    from ..config.fields import SampleBlock
    from ..terrain.grid import ElevationGrid

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'heimdall-studio[cluster]'"
MAX_LOCAL_WORKERS = 256
# How long reaching a scheduler, and its first worker, may take.
CONNECT_TIMEOUT_S = 10.0
# How long starting a local:N cluster may take, and ending it.
LOCAL_START_TIMEOUT_S = 60.0
LOCAL_CLOSE_TIMEOUT_S = 10.0
# A task aims at this much work on one worker thread: long enough that the scheduler's
# few milliseconds per task do not count, short enough for prompt progress and cancel.
TASK_SECONDS = 0.5
MAX_TASK_SAMPLES = 1 << 18
# Blocks computed or waiting to be written, at most: two per worker thread, and never
# more than this many bytes of samples (the run's memory, whatever the cluster's size).
IN_FLIGHT_PER_THREAD = 2
MAX_IN_FLIGHT_BYTES = 768 << 20
# How often a block the cluster lost is submitted again, and the errors that say so.
RESUBMITS = 3
LOST = ("KilledWorker", "FutureCancelledError", "CancelledError")

_LOCAL = re.compile(r"local:(\d{1,4})")
_REMOTE = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):(\d{1,5})")


@dataclass(frozen=True)
class ClusterSpec:
    """A place to compute: a scheduler's `address`, or `local_workers` processes here."""

    address: str | None = None
    local_workers: int | None = None

    @classmethod
    def parse(cls, text: object) -> ClusterSpec:
        """The spec `text` names; ClusterAddressError, saying what is accepted, if none."""
        value = text.strip() if isinstance(text, str) else text
        if isinstance(value, str):
            if match := _LOCAL.fullmatch(value):
                workers = int(match.group(1))
                if 1 <= workers <= MAX_LOCAL_WORKERS:
                    return cls(local_workers=workers)
            elif (match := _REMOTE.fullmatch(value)) and 1 <= int(match.group(3)) <= 65535:
                return cls(address=value)
        raise ClusterAddressError(
            f"{text!r} is not a cluster: give a Dask scheduler's address, tcp://HOST:PORT "
            f"or tls://HOST:PORT, or local:N for N worker processes on this machine "
            f"(1 to {MAX_LOCAL_WORKERS})")

    def __str__(self) -> str:
        return self.address if self.address else f"local:{self.local_workers}"


def parse_optional(text: str | None) -> ClusterSpec | None:
    """`ClusterSpec.parse`, with None and an empty text meaning this machine."""
    if text is None or not str(text).strip():
        return None
    return ClusterSpec.parse(text)


# ---------------------------------------------------------------------------
# what must match between the client and every worker


@functools.lru_cache(maxsize=1)
def identity() -> dict[str, str]:
    """What decides the samples this process draws: the app's version, the generator's,
    numba's and numpy's, and a digest of the code that draws them (the sampling and
    config packages), so that two checkouts of one version still tell apart."""
    import numpy

    from ... import __version__
    from ..config.versions import GENERATOR_VERSION

    digest = hashlib.sha256()
    core = resources.files("heimdall_studio.core")
    for package in ("sampling", "config"):
        for name in sorted(p.name for p in core.joinpath(package).iterdir()):
            if name.endswith(".py"):
                digest.update(name.encode())
                digest.update(core.joinpath(package).joinpath(name).read_bytes())
    return {"Heimdall Studio": __version__, "generator version": str(GENERATOR_VERSION),
            "numba": metadata.version("numba"), "numpy": numpy.__version__,
            "Python": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "sampling code": digest.hexdigest()[:16]}


def _differences(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    return [f"{key} {theirs.get(key, 'missing')} (here {value})"
            for key, value in mine.items() if theirs.get(key) != value]


def check_identity(expected: dict[str, str]) -> None:
    """ClusterError if this process would draw other samples than one of `expected`."""
    if differences := _differences(identity(), expected):
        raise ClusterError("a worker differs from the client: " + ", ".join(differences)
                           + "; install the same Heimdall Studio on every machine")


# ---------------------------------------------------------------------------
# the workers' side


_PREPARED: collections.OrderedDict[str, Any] = collections.OrderedDict()
_PREPARED_LOCK = threading.Lock()
_PREPARED_KEPT = 2  # runs whose inputs a worker keeps (a create, then its expand)


def compute_task(expected: dict[str, str], token: str, config_json: str, version: int,
                 terrain: ElevationGrid | None, start: int, stop: int) -> dict[str, Any]:
    """A worker's task: samples [start, stop) of the run `token`, as `packed`. The kernel's
    inputs are prepared by the worker's first task of a run (the terrain's link grids) and
    kept."""
    from ..sampling.generator import compute_block, prepare

    check_identity(expected)
    config = DatasetConfig.from_json(config_json)
    with _PREPARED_LOCK:  # one preparation per run, whichever thread asks first
        inputs = _PREPARED.get(token)
        if inputs is None:
            inputs = _PREPARED[token] = prepare(config, version, terrain)
            while len(_PREPARED) > _PREPARED_KEPT:
                _PREPARED.popitem(last=False)
        _PREPARED.move_to_end(token)
    return packed(compute_block(config, start, stop, inputs))


def packed(block: SampleBlock) -> dict[str, Any]:
    """A block as plain containers of arrays, which Dask sends without copying them
    through pickle (several times faster for IQ records than the dataclass)."""
    return {f.name: getattr(block, f.name) for f in dataclasses.fields(block)}


def unpacked(message: dict[str, Any]) -> SampleBlock:
    from ..config.fields import SampleBlock

    return SampleBlock(**message)


# ---------------------------------------------------------------------------
# the client's side


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError("computing on a cluster needs Dask's distributed scheduler, "
                           f"which is not installed: {INSTALL_HINT}") from None
    return distributed


class Cluster:
    """A connection to the workers that compute a run's blocks; a context manager.

    `connect` makes one; `blocks` yields a run's blocks in order; `close` ends the
    connection and, for `local:N`, the worker processes.
    """

    def __init__(self, spec: ClusterSpec, client: Any, local: Any = None):
        self.spec = spec
        self.client = client
        self._local = local

    @property
    def dashboard_link(self) -> str:
        """The scheduler's dashboard, or an empty text if it serves none."""
        with contextlib.suppress(Exception):
            return str(self.client.dashboard_link or "")
        return ""

    def threads(self) -> int:
        """The worker threads the scheduler has now."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1

    def describe(self) -> str:
        """Where the blocks are computed, as a run's progress says it."""
        workers = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        return f"{workers} worker{'s' if workers != 1 else ''} at {self.spec}"

    def blocks(self, config: DatasetConfig, version: int, terrain: ElevationGrid | None,
               start: int, stop: int) -> Iterator[SampleBlock]:
        """Samples [start, stop) in blocks, in order, computed by the workers.

        Blocks are planned here (whole chunks, sized from the workers' measured times),
        at most IN_FLIGHT_PER_THREAD per worker thread are submitted ahead, and each is
        yielded once it and all before it are done. A block the cluster loses (its worker
        died, its result went with it) is submitted again, up to RESUBMITS times: being
        a pure function of its range, it comes back the same. Closing the generator
        cancels the blocks in flight.
        """
        task = _RunTasks(self.client, config, version, terrain)
        plan = _TaskPlanner(config)
        pending: collections.deque[tuple[Any, int, int]] = collections.deque()
        index = start
        try:
            while index < stop or pending:
                limit = plan.in_flight(self.threads())
                while index < stop and len(pending) < limit:
                    last = plan.stop_after(index, stop)
                    pending.append((task.submit(index, last), index, last))
                    index = last
                future, first, last = pending.popleft()
                block = self._result(task, future, first, last)
                plan.learn(block)
                yield block
        finally:
            if pending:
                self.client.cancel([f for f, _, _ in pending])

    def _result(self, task: _RunTasks, future: Any, first: int, last: int) -> SampleBlock:
        """The block of `future`, submitted again while the cluster loses it."""
        attempts = 1
        while True:
            try:
                return unpacked(future.result())
            except Exception as exc:  # a task's own error comes back as itself
                if type(exc).__name__ not in LOST:
                    raise
                if attempts > RESUBMITS:
                    raise ClusterError(f"the cluster at {self.spec} lost samples "
                                       f"[{first:,}, {last:,}) {attempts} times: "
                                       f"{_reason(exc)}") from None
                log.warning("the cluster lost samples [%d, %d) (%s); submitting them "
                            "again", first, last, _reason(exc))
            future = task.submit(first, last, again=True)
            attempts += 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self._local is not None:
            with contextlib.suppress(Exception):
                self._local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RunTasks:
    """What every task of one run shares, and how one is submitted: the config as JSON,
    the identity the workers must have, and the elevation grid, sent to every worker
    once (and again if the cluster lost it)."""

    def __init__(self, client: Any, config: DatasetConfig, version: int,
                 terrain: ElevationGrid | None):
        self.client = client
        self.config_json = config.to_json()
        self.version = version
        self.terrain = terrain
        digest = "none" if terrain is None else terrain.sha256
        self.token = hashlib.sha256(f"{version}\0{self.config_json}\0{digest}".encode()
                                    ).hexdigest()
        self.expected = identity()
        self.grid = self._scatter()

    def _scatter(self) -> Any:
        if self.terrain is None:
            return None
        return self.client.scatter(self.terrain, broadcast=True, hash=False)

    def submit(self, first: int, last: int, again: bool = False) -> Any:
        if again:
            self.grid = self._scatter()
        return self.client.submit(compute_task, self.expected, self.token, self.config_json,
                                  self.version, self.grid, first, last, pure=False)


class _TaskPlanner:
    """Sizes the cluster's tasks: whole chunks of about TASK_SECONDS on one worker thread
    (feature datasets), or the local run's blocks of records (IQ datasets)."""

    def __init__(self, config: DatasetConfig):
        from ..config.fields import row_bytes
        from ..config.versions import GENERATOR_VERSION
        from ..sampling.generator import iq_block_samples, sample_fields

        self.chunk_size = config.chunk_size
        self.iq = config.dataset_type == "iq_raw"
        fields = sample_fields(GENERATOR_VERSION, config.dataset_type, config.iq_storage)
        self.row_bytes = row_bytes(fields, len(config.receivers), config.iq_length)
        if self.iq:

            self.samples = iq_block_samples(config)
        else:
            self.samples = 2 * self.chunk_size

    def stop_after(self, index: int, stop: int) -> int:
        if self.iq:
            return min(stop, index + self.samples)
        chunks = max(1, self.samples // self.chunk_size)
        return min(stop, (index // self.chunk_size + chunks) * self.chunk_size)

    def learn(self, block: SampleBlock) -> None:
        if self.iq or block.count == 0 or block.seconds <= 0:
            return
        wanted = block.count * TASK_SECONDS / block.seconds
        self.samples = int(min(MAX_TASK_SAMPLES, max(self.chunk_size, wanted),
                               4 * self.samples))

    def in_flight(self, threads: int) -> int:
        by_memory = MAX_IN_FLIGHT_BYTES // max(1, self.samples * self.row_bytes)
        return max(2, min(IN_FLIGHT_PER_THREAD * threads, by_memory))


def connect(spec: ClusterSpec) -> Cluster:
    """Reach the cluster `spec` names and check its workers; ClusterError, saying why,
    if it cannot be used. Nothing is written before this returns."""
    if not _installed():
        _distributed()  # says how to install it
    # a local cluster starts while this process imports Dask
    local = None if spec.local_workers is None else LocalClusterHost(spec.local_workers)
    try:
        distributed = _distributed()
        if local is not None:
            local.wait()
            # the workers are on this machine: their blocks come straight from them
            client = distributed.Client(local.address, timeout=CONNECT_TIMEOUT_S,
                                        direct_to_workers=True)
        else:
            client = distributed.Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except ClusterError:
        if local is not None:
            local.close()
        raise
    except Exception as exc:
        if local is not None:
            local.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {spec}: "
                           f"{_reason(exc)}") from None
    cluster = Cluster(spec, client, local)
    try:
        _check_workers(cluster)
    except BaseException:
        cluster.close()
        raise
    return cluster


def _installed() -> bool:
    """Whether Dask's distributed scheduler can be imported, without importing it."""
    if "distributed" in sys.modules:
        return sys.modules["distributed"] is not None
    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        return False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")


class LocalClusterHost:
    """A `LocalCluster` of `workers` processes, scheduler included, served by a process
    of its own.

    Not in this one: the run's writer holds the GIL while h5py writes a block, and a
    scheduler sharing that GIL would leave the workers waiting for their next task
    (docs/scaling.md). The host ends its cluster, and so its workers, when this process
    closes the pipe between them, or dies: a killed run leaves no worker behind.
    """

    def __init__(self, workers: int):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=_serve_local_cluster, args=(workers, theirs),
                                        name="heimdall-local-cluster")
        self._process.start()
        theirs.close()
        self.address = ""

    def wait(self) -> None:
        """Wait for the cluster to start; ClusterError, saying why, if it did not."""
        if self.address:
            return
        try:
            if not self._pipe.poll(LOCAL_START_TIMEOUT_S):
                raise ClusterError(f"the local cluster did not start within "
                                   f"{LOCAL_START_TIMEOUT_S:.0f} s")
            started, text = self._pipe.recv()
        except EOFError:
            started, text = False, "its process ended"
        except BaseException:
            self.close()
            raise
        if not started:
            self.close()
            raise ClusterError(f"the local cluster did not start: {text}")
        self.address = text

    def close(self) -> None:
        """End the cluster and its host, waiting a little for them."""
        self._pipe.close()
        self._process.join(LOCAL_CLOSE_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _serve_local_cluster(workers: int, pipe: Any) -> None:
    """The host process of `LocalClusterHost`: start the cluster, say its address, and
    keep it until the pipe closes."""
    import distributed

    # numba's threads shared out among the workers, so that together they use the cores
    # once
    threads = max(1, (os.cpu_count() or 1) // workers)
    try:
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address=":0", silence_logs=logging.ERROR,
            env={"NUMBA_NUM_THREADS": str(threads)})
    except Exception as exc:
        pipe.send((False, _reason(exc)))
        return
    try:
        pipe.send((True, cluster.scheduler_address))
        with contextlib.suppress(EOFError, OSError):
            pipe.recv()  # nothing is ever sent: this returns when the client goes
    finally:
        cluster.close()


def _check_workers(cluster: Cluster) -> None:
    """ClusterError unless the scheduler has workers and each draws what we would."""
    client = cluster.client
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except Exception:
        raise ClusterError(f"the Dask scheduler at {cluster.spec} has no workers: start "
                           f"some with `dask worker {cluster.spec}`") from None
    try:
        identities = client.run(identity)
    except Exception as exc:
        if isinstance(exc, ImportError) or "heimdall_studio" in str(exc):
            raise ClusterError(f"the workers of {cluster.spec} cannot run Heimdall Studio "
                               f"({_reason(exc)}): install it on every worker, "
                               f"{INSTALL_HINT}") from None
        raise ClusterError(f"cannot check the workers of {cluster.spec}: "
                           f"{_reason(exc)}") from None
    mine = identity()
    for address, theirs in sorted(identities.items()):
        if differences := _differences(mine, theirs):
            raise ClusterError(f"the worker {address} would draw other samples than this "
                               f"machine: {', '.join(differences)}; install the same "
                               f"Heimdall Studio on every machine")

