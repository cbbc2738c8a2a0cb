"""Faults injected for real: file-size limit, full disk, concurrent writers, stale locks."""

import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple

import pytest

from heimdall_studio.core import api
from heimdall_studio.core.errors import DatasetBusyError, DatasetWriteError
from heimdall_studio.core.store import read_header
from heimdall_studio.core.verify import verify_dataset

CLI = [sys.executable, "-m", "heimdall_studio"]


def limit_file_size(max_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_file_size_limit_stops_cleanly_and_the_dataset_grows_later(workspace):
    result = subprocess.run(
        [*CLI, "create", "capped", "--samples", "1000000", "--workspace", str(workspace)],
        capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size(8 << 20))
    assert result.returncode == 1
    assert "dataset 'capped'" in result.stderr and "file size limit" in result.stderr
    assert "Traceback" not in result.stderr
    path = workspace / "capped.h5"
    kept = read_header(path).num_samples
    assert 0 < kept < 1_000_000
    assert verify_dataset(path).ok
    # once the limit is gone, the dataset continues where it stopped
    api.expand_dataset("capped", 5000, workspace)
    assert read_header(path).num_samples == kept + 5000
    assert verify_dataset(path).ok


def test_full_disk_is_refused_before_writing(workspace, small_config, monkeypatch):
    api.create_dataset(small_config, 200, workspace)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    with pytest.raises(DatasetWriteError, match=r"not enough disk space .* 'small'.*200 "
                                                 r"samples committed before are kept"):
        api.expand_dataset("small", 1000, workspace)
    monkeypatch.undo()
    header = read_header(workspace / "small.h5")
    assert header.num_samples == 200
    # the refused run leaves an empty history row; the data itself is untouched
    assert header.history[-1].count == 0
    assert verify_dataset(workspace / "small.h5").ok
    api.expand_dataset("small", 100, workspace)
    assert read_header(workspace / "small.h5").num_samples == 300


def wait_for_samples(path, proc, deadline=120):
    end = time.monotonic() + deadline
    while True:
        assert proc.poll() is None, "writer ended early"
        assert time.monotonic() < end
        try:
            if read_header(path).num_samples > 0:
                return
        except Exception:
            pass
        time.sleep(0.02)


def test_second_writer_is_refused_across_processes_and_stale_locks_clear(workspace):
    path = workspace / "busy.h5"
    writer = subprocess.Popen([*CLI, "create", "busy", "--samples", "50000000",
                               "--workspace", str(workspace)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_samples(path, writer)
        began = time.monotonic()
        result = subprocess.run([*CLI, "expand", "busy", "--samples", "10", "--workspace",
                                 str(workspace)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert f"being written by process {writer.pid} (create" in result.stderr
        assert time.monotonic() - began < 30  # refused at once, no waiting on the lock
        result = subprocess.run([*CLI, "create", "busy", "--samples", "10", "--workspace",
                                 str(workspace)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and "being written" in result.stderr
        with pytest.raises(DatasetBusyError, match=str(writer.pid)):
            api.delete_dataset("busy", workspace)
        with pytest.raises(DatasetBusyError):
            api.expand_dataset("busy", 10, workspace)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    # the killed writer's lock is gone with it
    n = read_header(path).num_samples
    api.expand_dataset("busy", 10, workspace)
    assert read_header(path).num_samples == n + 10
    api.delete_dataset("busy", workspace)
    assert not path.exists()
