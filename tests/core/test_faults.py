"""Faults injected for real: file-size limit, concurrent writers, stale locks (a full
disk: test_full_disk)."""

import resource
import signal
import subprocess
import sys
import time

import pytest

from heimdall_studio.core import api
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.errors import DatasetBusyError
from heimdall_studio.core.tools.verify import verify_dataset

CLI = [sys.executable, "-m", "heimdall_studio"]


def limit_file_size(max_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_file_size_limit_stops_cleanly_and_the_dataset_grows_later(workspace):
    result = subprocess.run(
        [*CLI, "create", "capped", "--samples", "1000000", "--workspace", str(workspace)],
        capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size(16 << 20))
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
