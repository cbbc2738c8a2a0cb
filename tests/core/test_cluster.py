"""Runs computed on a Dask cluster: the same samples, bit for bit, as local runs, and the
faults of a cluster (a worker killed, the client killed, a scheduler out of reach, workers
that differ or lack the app) each handled before or without losing a sample.

A scheduler and two workers of one thread each run as separate processes, as on two lab
machines; `local:2` starts a LocalCluster from the run itself."""

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

distributed = pytest.importorskip("distributed")

from heimdall_studio.core import api  # noqa: E402
from heimdall_studio.core.dataset.reader import read_header, read_samples  # noqa: E402
from heimdall_studio.core.errors import (  # noqa: E402
    ClusterAddressError,
    ClusterError,
    DatasetFormatError,
)
from heimdall_studio.core.runs import child, cluster  # noqa: E402
from heimdall_studio.core.runs.cluster import ClusterSpec  # noqa: E402
from heimdall_studio.core.tools.verify import verify_dataset  # noqa: E402

FEATURES = {"seed": 5, "chunk_size": 512}
IQ = {"dataset_type": "iq_raw", "seed": 7, "chunk_size": 64, "iq_duration_s": 0.02}


def same_samples(a: Path, b: Path) -> None:
    """Every sample field of two dataset files is equal, NaNs included."""
    ha, xa = read_samples(a)
    hb, xb = read_samples(b)
    assert ha.num_samples == hb.num_samples
    assert dataclasses.replace(ha.config, name="x") == dataclasses.replace(hb.config, name="x")
    assert sorted(xa) == sorted(xb)
    for name in xa:
        assert np.array_equal(xa[name], xb[name], equal_nan=xa[name].dtype.kind in "fc"), name


class Scheduler:
    """A `dask scheduler` process and `dask worker` processes on this machine."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.processes: list[subprocess.Popen] = []
        self._dask("scheduler", "--scheduler-file", str(self.file), "--port", "0",
                   "--dashboard-address", ":0")
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)  # written whole
        self.address = json.loads(self.file.read_text())["address"]

    def _dask(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
            env={**child.environment(), "NUMBA_NUM_THREADS": "1", **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def add_workers(self, count: int, *, site: Path | None = None) -> None:
        """`count` workers of one thread; `site`, a folder whose sitecustomize.py every
        worker runs first (to make it differ from this process)."""
        env = None
        if site is not None:
            env = {"PYTHONPATH": os.pathsep.join([str(site), *child.environment()
                                                  ["PYTHONPATH"].split(os.pathsep)])}
        self._dask("worker", self.address, "--nthreads", "1", "--nworkers", str(count),
                   "--no-dashboard", env=env)
        with distributed.Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=60)

    def worker_pids(self) -> dict[str, int]:
        with distributed.Client(self.address, timeout=30) as client:
            return client.run(os.getpid)

    def close(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def scheduler(module_folder):
    """A scheduler given by address, with two workers of one thread each."""
    running = Scheduler(module_folder)
    try:
        running.add_workers(2)
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def local_runs(module_folder):
    """Local runs the cluster's must equal: features 30,000 + 10,000, IQ 120 + 40."""
    folder = module_folder / "local"
    api.create_dataset("features", 30_000, folder, **FEATURES)
    api.expand_dataset("features", 10_000, folder)
    api.create_dataset("iq", 120, folder, **IQ)
    api.expand_dataset("iq", 40, folder)
    return folder


# ---------------------------------------------------------------------------
# what a cluster is


@pytest.mark.parametrize("text", ["tcp://10.0.0.5:8786", "tls://sched.lab.example:8786",
                                  "tcp://[::1]:8786", " local:4 ", "local:1"])
def test_addresses_and_local_clusters_are_understood(text):
    assert str(ClusterSpec.parse(text)) == text.strip()


@pytest.mark.parametrize("text", ["", "local", "local:0", "local:300", "10.0.0.5:8786",
                                  "http://10.0.0.5:8786", "tcp://10.0.0.5", "tcp://h:0",
                                  "tcp://h:99999", "tcp://user@h:8786", "tcp://h:8786/x",
                                  "tcp://h:8786; rm -rf ~", None, 8786])
def test_anything_else_is_refused_with_what_is_accepted(text):
    with pytest.raises(ClusterAddressError, match="tcp://HOST:PORT or tls://HOST:PORT"):
        ClusterSpec.parse(text)


def test_a_bad_address_on_the_command_line_is_bad_input(cli_run, workspace):
    code, _, err = cli_run("create", "x", "--samples", "10", "--cluster", "sched:8786")
    assert code == 2 and "is not a cluster" in err
    assert list(workspace.iterdir()) == []


def test_without_dask_the_message_says_how_to_install_it(cli_run, workspace, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if missing
    code, _, err = cli_run("create", "x", "--samples", "10", "--cluster", "local:2")
    assert code == 1 and "pip install 'heimdall-studio[cluster]'" in err
    assert list(workspace.iterdir()) == []


def test_an_unreachable_scheduler_is_said_before_anything_is_written(cli_run, workspace,
                                                                     monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = cli_run("create", "x", "--samples", "10", "--cluster",
                           f"tcp://127.0.0.1:{port}")
    assert code == 1 and f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert list(workspace.iterdir()) == []


@pytest.mark.parametrize("params", [FEATURES, {"dataset_type": "iq_raw"}])
def test_blocks_in_flight_stay_within_memory_whatever_the_cluster_size(params):
    config = api.make_config("sized", **params)
    plan = cluster._TaskPlanner(config)
    block_bytes = plan.samples * plan.row_bytes
    assert plan.in_flight(2) == 4  # two per worker thread on a small cluster
    for threads in (64, 1024, 100_000):
        flight = plan.in_flight(threads)
        assert flight >= 2 and flight * block_bytes <= max(2 * block_bytes,
                                                            cluster.MAX_IN_FLIGHT_BYTES)
    if config.dataset_type == "iq_raw":
        assert plan.in_flight(1024) * block_bytes <= cluster.MAX_IN_FLIGHT_BYTES < 1 << 30


# ---------------------------------------------------------------------------
# the same samples


@pytest.mark.parametrize("name, params, first, more",
                         [("features", FEATURES, 30_000, 10_000), ("iq", IQ, 120, 40)])
def test_a_scheduler_by_address_creates_and_expands_the_local_samples(
        scheduler, local_runs, workspace, name, params, first, more):
    created = api.create_dataset(name, first, workspace, cluster=scheduler.address,
                                 **params)
    assert created.compute == f"2 workers at {scheduler.address}"
    assert created.done == first and created.candidates > first
    api.expand_dataset(name, more, workspace, cluster=scheduler.address)
    same_samples(workspace / f"{name}.h5", local_runs / f"{name}.h5")
    assert verify_dataset(workspace / f"{name}.h5").ok


def test_a_local_cluster_creates_and_expands_the_local_samples(local_runs, workspace):
    records = list(api.create_run(api.make_config("features", **FEATURES), 30_000,
                                  workspace, cluster="local:2"))
    assert records[-1].compute == "2 workers at local:2"
    assert records[-1].dashboard.startswith("http://127.0.0.1:")
    assert [r.done for r in records] == sorted(r.done for r in records)
    # made on a cluster, expanded here: the same as made here
    api.expand_dataset("features", 10_000, workspace)
    same_samples(workspace / "features.h5", local_runs / "features.h5")


def test_a_worker_killed_during_a_run_changes_no_sample(scheduler, workspace):
    config = api.make_config("survivor", seed=9, chunk_size=256)
    run = api.create_run(config, 60_000, workspace, cluster=scheduler.address)
    seen = [next(run) for _ in range(2)]
    victim = sorted(scheduler.worker_pids().values())[0]
    os.kill(victim, signal.SIGKILL)  # its nanny starts another; its tasks run again
    seen += list(run)
    assert seen[-1].done == 60_000
    api.create_dataset("here", 60_000, workspace, seed=9, chunk_size=256)
    same_samples(workspace / "survivor.h5", workspace / "here.h5")
    with distributed.Client(scheduler.address) as client:  # two workers again
        client.wait_for_workers(2, timeout=60)


def test_closing_a_cluster_run_keeps_exactly_what_it_reported(scheduler, workspace):
    run = api.create_run(api.make_config("stopped", seed=3, chunk_size=256), 5_000_000,
                         workspace, cluster=scheduler.address)
    seen = [next(run) for _ in range(3)]
    run.close()
    header = read_header(workspace / "stopped.h5")
    assert 0 < seen[-1].done == header.num_samples < 5_000_000
    api.create_dataset("here", header.num_samples, workspace, seed=3, chunk_size=256)
    same_samples(workspace / "stopped.h5", workspace / "here.h5")


def test_a_client_killed_mid_run_leaves_what_a_local_kill_leaves(scheduler, workspace):
    path = workspace / "killed.h5"
    writer = subprocess.Popen(
        [sys.executable, "-m", "heimdall_studio", "create", "killed", "--samples",
         "2000000", "--seed", "4", "--cluster", scheduler.address, "--workspace",
         str(workspace)], env=child.environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _committed(path) < 20_000:
        assert writer.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    kept = _committed(path)
    assert 20_000 <= kept < 2_000_000
    # the next expand continues on the cluster, as it would here
    api.expand_dataset("killed", 30_000, workspace, cluster=scheduler.address)
    api.create_dataset("here", kept + 30_000, workspace, seed=4)
    same_samples(path, workspace / "here.h5")
    assert verify_dataset(path).ok


def test_a_killed_run_leaves_no_local_worker_behind(workspace):
    path = workspace / "orphans.h5"
    writer = subprocess.Popen(
        [sys.executable, "-m", "heimdall_studio", "create", "orphans", "--samples",
         "5000000", "--cluster", "local:2", "--workspace", str(workspace)],
        env=child.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _committed(path) == 0:
        assert writer.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    # the cluster's host, its scheduler and the two workers (and their nannies)
    helpers = psutil.Process(writer.pid).children(recursive=True)
    assert len(helpers) >= 3
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    _, alive = psutil.wait_procs(helpers, timeout=30)
    assert alive == [], f"left running after their run was killed: {alive}"


def _committed(path: Path) -> int:
    try:
        return read_header(path).num_samples
    except (DatasetFormatError, FileNotFoundError, OSError):
        return 0


# ---------------------------------------------------------------------------
# workers that would draw other samples


def _site(folder: Path, code: str) -> Path:
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(code)
    return folder


@pytest.mark.parametrize("code, message", [
    ("import sys\nsys.modules['heimdall_studio'] = None\n",
     "cannot run Heimdall Studio"),
    ("import heimdall_studio\nheimdall_studio.__version__ = '0.0.1'\n",
     "Heimdall Studio 0.0.1"),
])
def test_workers_that_differ_are_refused_before_anything_is_written(tmp_path, workspace,
                                                                    code, message):
    odd = Scheduler(tmp_path)
    try:
        odd.add_workers(1, site=_site(tmp_path / "site", code))
        with pytest.raises(ClusterError, match=message):
            api.create_dataset("x", 100, workspace, cluster=odd.address)
        api.create_dataset("y", 100, workspace)
        before = (workspace / "y.h5").read_bytes()
        with pytest.raises(ClusterError, match=message):
            api.expand_dataset("y", 100, workspace, cluster=odd.address)
    finally:
        odd.close()
    assert (workspace / "y.h5").read_bytes() == before
    assert sorted(p.name for p in workspace.glob("*.h5")) == ["y.h5"]
