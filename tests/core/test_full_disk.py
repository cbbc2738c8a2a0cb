"""A real full disk: a small tmpfs that another process fills while a run writes.

Whatever moment the disk fills, the run ends with exit 1 and one message naming the
dataset and the cause, every committed sample stays, and once space returns the file
opens with plain h5py and expands. Mounting needs root (CI runs as root); elsewhere the
tests are skipped. HEIMDALL_DISK_TRIALS overrides the number of trials.
"""

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.errors import DatasetWriteError
from heimdall_studio.core.sampling.generator import generate_block
from heimdall_studio.core.tools.verify import verify_dataset

TRIALS = int(os.environ.get("HEIMDALL_DISK_TRIALS", "20"))
DISK_MB = 64

# The run with the free-space check as its only guard, as on a file system that cannot
# reserve space: a write then fails inside HDF5 itself, which must still end cleanly.
WITHOUT_RESERVATIONS = """
import sys
from heimdall_studio.core.dataset import fsops
fsops._fallocate = None
fsops.shutil.disk_usage = lambda path: type("usage", (), {"free": 1 << 50})()
from heimdall_studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def small_disk(tmpfs):
    return tmpfs("disk", f"{DISK_MB}m")


def fill(folder):
    """Another program filling the disk: writes until the disk is full, keeps the file.
    None if the disk is so full already (a fast run filled it first) that no file can be
    made."""
    path = folder / f"filler-{uuid.uuid4().hex}"
    try:
        # unbuffered: closing it then has nothing left to write to the full disk
        out = open(path, "wb", buffering=0)  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return None
    with out:
        block = b"\0" * (1 << 16)
        try:
            while True:
                out.write(block)
                out.flush()
        except OSError:
            pass
    return path


def disk_trial(disk, rnd, trial, command_prefix):
    ws = disk / f"ws-{trial}"
    ws.mkdir()
    config = api.make_config("full", seed=trial, chunk_size=1024)
    api.create_dataset(config, 5000, ws)
    path = ws / "full.h5"
    # Freed with the filler once the run failed, so the dataset can grow again even when
    # the run itself filled the disk.
    ballast = ws.parent / f"ballast-{trial}"
    ballast.write_bytes(b"\0" * (16 << 20))
    proc = subprocess.Popen([*command_prefix, "expand", "full", "--samples", "2000000",
                             "--workspace", str(ws)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(rnd.uniform(0.2, 2.0))
    filler = fill(disk)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        raise
    # Everything on stderr but the progress bar (redrawn with carriage returns).
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("expand full [")]
    assert proc.returncode == 1, (trial, proc.returncode, err[-2000:])
    assert len(lines) == 1, (trial, err[-2000:])
    assert "dataset 'full'" in lines[0] and ("disk space" in lines[0]
                                             or "No space left" in lines[0]), lines[0]
    assert "committed before are kept" in lines[0]

    if filler is not None:
        filler.unlink()  # space returns
    ballast.unlink()
    header = read_header(path)  # a touch: repairs the file if the writer left it marked
    n = header.num_samples
    assert n >= 5000
    with h5py.File(path, "r") as f:  # plain h5py
        assert int(f.attrs["num_samples"]) == n
    stored = api.load_dataset(path).arrays
    fresh = generate_block(header.config, 0, n).arrays
    for key in fresh:  # every committed sample intact, exactly as a clean run makes it
        assert np.array_equal(stored[key], fresh[key], equal_nan=True), (trial, key)
    assert api.expand_dataset(path, 2000).first_index == n
    assert verify_dataset(path).ok
    for leftover in ws.iterdir():
        assert leftover.name in ("full.h5", ".full.h5.lock"), leftover
    shutil.rmtree(ws)  # room for the next trial
    return n


def test_a_disk_filled_during_a_run_is_a_clear_error_and_nothing_is_lost(small_disk):
    rnd = random.Random(20261201)
    kept = [disk_trial(small_disk, rnd, trial, [sys.executable, "-m", "heimdall_studio"])
            for trial in range(TRIALS)]
    print(f"\n{TRIALS} full-disk trials, 0 failures; samples kept: {kept}")


def test_a_write_that_fails_inside_hdf5_still_ends_with_one_message(small_disk):
    rnd = random.Random(7)
    kept = [disk_trial(small_disk, rnd, trial, [sys.executable, "-c", WITHOUT_RESERVATIONS])
            for trial in range(max(3, TRIALS // 2))]
    print(f"\nfull-disk trials without reservations, 0 failures; samples kept: {kept}")


def test_a_full_disk_before_the_first_write_leaves_nothing(small_disk):
    ws = small_disk / "ws"
    ws.mkdir()
    filler = fill(small_disk)
    assert filler is not None
    done = subprocess.run([sys.executable, "-m", "heimdall_studio", "create", "empty",
                           "--samples", "1000", "--workspace", str(ws)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (ws / "empty.h5").exists()
    # In this process too, and what the failure took (the lock, descriptors) is released:
    # once space returns, the same process creates the dataset.
    descriptors = len(os.listdir("/proc/self/fd"))
    with pytest.raises(DatasetWriteError, match="empty"):
        api.create_dataset("empty", 1000, ws)
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert [p.name for p in ws.iterdir() if p.name != ".empty.h5.lock"] == []
    filler.unlink()
    api.create_dataset("empty", 1000, ws)
    assert read_header(ws / "empty.h5").num_samples == 1000


# Expands in this process with reservations off on a full disk, so the write fails
# inside HDF5; then waits, the failed file still open, until told to end.
ABANDONS_A_FILE = WITHOUT_RESERVATIONS.split("from heimdall_studio.cli")[0] + """
import os
from heimdall_studio.core import api
from heimdall_studio.core.errors import DatasetWriteError
try:
    api.expand_dataset(sys.argv[1], 2_000_000)
except DatasetWriteError as exc:
    print("failed", exc, flush=True)
sys.stdin.readline()
os._exit(0)
"""


def test_a_file_given_up_after_a_failed_write_stays_locked_until_its_process_ends(
        small_disk):
    ws = small_disk / "ws"
    ws.mkdir()
    path = api.create_dataset(api.make_config("held", seed=1, chunk_size=1024), 5000,
                              ws).path
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (16 << 20))  # the run fills the rest of the disk itself
    holder = subprocess.Popen([sys.executable, "-c", ABANDONS_A_FILE, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert line.startswith("failed") and "held" in line, line
        ballast.unlink()  # space returns, but the failed file is still open there
        done = subprocess.run([sys.executable, "-m", "heimdall_studio", "expand", "held",
                               "--samples", "1000", "--workspace", str(ws)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and f"process {holder.pid}" in done.stderr
    finally:
        holder.communicate("end\n", timeout=60)
    n = read_header(path).num_samples
    assert api.expand_dataset("held", 1000, ws).first_index == n
    assert verify_dataset(path).ok
