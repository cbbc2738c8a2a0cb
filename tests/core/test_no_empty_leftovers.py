"""No empty leftovers: a create of 0 samples is refused, and a create that commits no
sample (filters nothing passes, a write refused at once, Ctrl-C or a closed run before
the first commit) leaves no dataset file, removed under the lock, and only its own."""

import os
import resource
import signal
import subprocess
import sys
import time

import h5py
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.dataset.locking import DatasetLock
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.errors import ConfigError, DatasetWriteError, StratumUnfillableError

CLI = [sys.executable, "-m", "heimdall_studio"]
HOPELESS = dict(tx_power_dbm=-30, min_snr_db=60, min_receivers=7, inside_ratio=1.0)
HOPELESS_FLAGS = ["--tx-power-dbm", "-30", "--min-snr-db", "60", "--min-receivers", "7",
                  "--inside-ratio", "1"]


def run_cli(*args, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          **kwargs)


def visible(folder):
    """What a user sees in the workspace: lock files are hidden and stay (see locking)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def lock_is_free(path):
    DatasetLock(path, "test").acquire().release()
    return True


def test_zero_samples_is_bad_input(workspace):
    result = run_cli("create", "none", "--samples", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "num_samples = 0" in line and "from 1" in line
    for call in (lambda: api.create_dataset("none", 0, workspace),
                 lambda: api.create_run(api.make_config("none"), 0, workspace)):
        with pytest.raises(ConfigError, match="num_samples = 0"):
            call()
    assert list(workspace.iterdir()) == []


def test_unfillable_filters_leave_no_file(workspace):
    with pytest.raises(StratumUnfillableError, match="dataset 'hopeless' was not created"):
        api.create_dataset("hopeless", 10, workspace, seed=1, **HOPELESS)
    assert visible(workspace) == []
    assert lock_is_free(workspace / "hopeless.h5")
    result = run_cli("create", "cli", "--samples", "10", *HOPELESS_FLAGS)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()  # no progress line: nothing progressed
    assert "cannot fill the inside stratum" in line and "'cli' was not created" in line
    assert visible(workspace) == []


def limit_file_size(max_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_a_write_refused_at_the_first_block_leaves_no_file(workspace):
    # The empty file fits under the limit; the first block would not, and is refused.
    result = run_cli("create", "capped", "--samples", "100000",
                     preexec_fn=limit_file_size(2 << 20))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "file size limit" in line and "'capped' was not created" in line
    assert "expand the dataset" not in line  # there is none left to expand
    assert visible(workspace) == []


def test_a_full_disk_at_the_first_block_leaves_no_file(tmpfs):
    small = tmpfs("small", "1m")
    with pytest.raises(DatasetWriteError, match="'full' was not created"):
        api.create_dataset("full", 100_000, small, seed=3)
    assert visible(small) == []
    result = run_cli("create", "full", "--samples", "100000", "--workspace", str(small))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "disk space" in line and "'full' was not created" in line
    assert visible(small) == []


def test_a_run_closed_before_its_first_commit_leaves_no_file(workspace, small_config):
    path = workspace / "small.h5"
    # closed before a single record was taken
    run = api.create_run(small_config, 1000, workspace)
    assert path.exists()  # the file exists while the run is open...
    run.close()
    assert visible(workspace) == [] and lock_is_free(path)  # ...and not after
    # closed at its first record (0 samples done)
    run = api.create_run(small_config, 1000, workspace)
    assert next(run).done == 0
    run.close()
    assert visible(workspace) == [] and lock_is_free(path)
    # a stop asked before the first commit
    last = api.create_dataset(small_config, 1000, workspace, should_stop=lambda: True)
    assert last.done == 0 and visible(workspace) == []
    # interrupted (Ctrl-C in a script) before the first commit
    run = api.create_run(small_config, 1000, workspace)
    next(run)
    with pytest.raises(KeyboardInterrupt):
        run.throw(KeyboardInterrupt)
    assert visible(workspace) == [] and lock_is_free(path)


def test_an_expansion_never_removes_its_dataset(workspace, small_config):
    api.create_dataset(small_config, 100, workspace)
    run = api.expand_run("small", 1000, workspace)
    assert next(run).done == 0
    run.close()
    assert read_header(workspace / "small.h5").num_samples == 100


def test_only_the_file_the_create_made_is_removed(workspace, small_config, tmp_path):
    path = workspace / "small.h5"
    run = api.create_run(small_config, 1000, workspace)
    next(run)
    # Something else takes the name while the run has committed nothing.
    other = tmp_path / "other.h5"
    other.write_bytes(b"someone else's file")
    os.replace(other, path)
    run.close()
    assert path.read_bytes() == b"someone else's file"
    assert lock_is_free(path)


def committed(path):
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            return int(f.attrs["num_samples"])
    except (OSError, KeyError):
        return 0


def test_ctrl_c_before_the_first_commit_leaves_no_file(workspace):
    # A real SIGINT as soon as the file appears, while the run loads its kernels. If the
    # machine is quick enough to commit first, the dataset keeps its samples instead:
    # either way no empty file stays. At least one trial must see the empty case.
    outcomes = []
    for trial in range(3):
        path = workspace / f"early{trial}.h5"
        proc = subprocess.Popen([*CLI, "create", path.stem, "--samples", "100000000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(path):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "Traceback" not in err, err
        if "was not created" in err.splitlines()[-1]:
            assert not os.path.lexists(path)
            outcomes.append("empty")
        else:
            assert committed(path) > 0
            outcomes.append("kept")
        assert lock_is_free(path)
        if "empty" in outcomes:
            break
    assert "empty" in outcomes, outcomes
