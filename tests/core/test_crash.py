"""Crash safety: a writer killed with SIGKILL mid-run loses no committed sample
(docs/file-format.md, After a crash)."""

import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.errors import DatasetFormatError
from heimdall_studio.core.sampling.generator import generate_block
from heimdall_studio.core.tools.verify import verify_dataset

SEED = 4242


def start_writer(workspace, *args):
    return subprocess.Popen([sys.executable, "-m", "heimdall_studio", *args,
                             "--workspace", str(workspace)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def committed(path):
    try:
        return read_header(path).num_samples
    except (DatasetFormatError, FileNotFoundError):
        return 0


def kill_after_commits(proc, path, at_least, extra_delay):
    deadline = time.monotonic() + 120
    while committed(path) < at_least:
        assert proc.poll() is None, "writer ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(extra_delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def assert_intact(path, config):
    """Opens, passes verify, and holds exactly the samples a clean run would have."""
    header = read_header(path)
    report = verify_dataset(path)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    n = header.num_samples
    stored = api.load_dataset(path)
    fresh = generate_block(config, 0, n).arrays
    for key in fresh:
        assert np.array_equal(stored[key], fresh[key], equal_nan=True), key
    return n


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_during_create_then_expand(workspace, trial):
    rnd = random.Random(trial)
    path = workspace / "crash.h5"
    proc = start_writer(workspace, "create", "crash", "--samples", "50000000",
                        "--seed", str(SEED))
    kill_after_commits(proc, path, 1, rnd.uniform(0.0, 1.5))
    config = read_header(path).config
    n = assert_intact(path, config)
    assert n > 0

    # kill an expansion of the crashed file too, at another moment
    proc = start_writer(workspace, "expand", "crash", "--samples", "50000000")
    kill_after_commits(proc, path, n + 1, rnd.uniform(0.0, 1.0))
    n2 = assert_intact(path, config)
    assert n2 > n

    # the next expansion continues from num_samples
    api.expand_dataset("crash", 1000, workspace)
    assert assert_intact(path, config) == n2 + 1000
    history = read_header(path).history
    assert [r.kind for r in history] == ["create", "expand", "expand"]
    assert history[-1].first_index == n2


def test_interrupt_exits_130_and_keeps_samples(workspace):
    path = workspace / "stopme.h5"
    proc = subprocess.Popen([sys.executable, "-m", "heimdall_studio", "create", "stopme",
                             "--samples", "50000000", "--workspace", str(workspace)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while committed(path) == 0:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert verify_dataset(path).ok
    assert read_header(path).num_samples > 0
    assert api.expand_dataset("stopme", 10, workspace).done == 10  # lock released
