"""Kill trials: SIGKILL at random moments during create and expand, 20 times.

Every trial checks that the file, which plain HDF5 readers refuse as the kill left it,
opens and is repaired in place by the next touch, passes verify, holds exactly the samples a clean
run would have produced (nothing committed is lost or altered), and that the next run
continues from num_samples. HEIMDALL_KILL_TRIALS overrides the number of trials.
"""

import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.sampling.generator import generate_block
from heimdall_studio.core.tools.verify import verify_dataset

TRIALS = int(os.environ.get("HEIMDALL_KILL_TRIALS", "20"))
KILLS_PER_DATASET = 5


def committed(path):
    try:
        return read_header(path).num_samples
    except Exception:
        return -1


def kill_during(workspace, args, path, beyond, delay):
    proc = subprocess.Popen([sys.executable, "-m", "heimdall_studio", *args,
                             "--workspace", str(workspace)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while committed(path) <= beyond:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_random_kills_lose_nothing(workspace):
    rnd = random.Random(20261127)
    outcomes = []
    for trial in range(TRIALS):
        name = f"kill-{trial // KILLS_PER_DATASET}"
        path = workspace / f"{name}.h5"
        before = max(0, committed(path))
        if trial % KILLS_PER_DATASET == 0:
            args = ["create", name, "--samples", "50000000", "--seed", str(trial)]
        else:
            args = ["expand", name, "--samples", "50000000"]
        kill_during(workspace, args, path, before, rnd.uniform(0.0, 0.8))

        with pytest.raises(OSError, match="open for write"):  # as the kill left it
            h5py.File(path, "r")
        header = read_header(path)  # opens: not lost, not unreadable; repairs it in place
        with h5py.File(path, "r") as f:  # so plain h5py, and any HDF5 tool, open it again
            assert int(f.attrs["num_samples"]) == header.num_samples
        report = verify_dataset(path)
        assert report.ok, (trial, [(c.name, c.detail) for c in report.checks if not c.ok])
        n = header.num_samples
        assert n > before
        fresh = generate_block(header.config, before, n).arrays
        stored = api.load_dataset(path, start=before).arrays
        for key in fresh:  # what this run committed is exactly what a clean run makes
            assert np.array_equal(stored[key], fresh[key], equal_nan=True), (trial, key)
        outcomes.append((trial, args[0], before, n))
    # after all kills, every dataset still grows from where it stopped
    for d in range(TRIALS // KILLS_PER_DATASET):
        name = f"kill-{d}"
        n = read_header(workspace / f"{name}.h5").num_samples
        assert api.expand_dataset(name, 100, workspace).first_index == n
        assert verify_dataset(workspace / f"{name}.h5").ok
    print(f"\n{len(outcomes)} kill trials, 0 lost or unreadable:",
          ", ".join(f"{kind} {b:,}->{n:,}" for _, kind, b, n in outcomes))
