"""Any HDF5 reader, at any moment (docs/file-format.md): Debian's HDF5 1.10 tools read every
file, a file left by a killed writer is repaired in place by the next touch, exactly as
HDF5's own h5clear does it, and no temporary file outlives its run."""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.params import COMPRESSION_POLICIES, IQ_STORAGES
from heimdall_studio.core.dataset import recovery
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.errors import DatasetBusyError, DatasetInUseError
from heimdall_studio.core.tools.verify import verify_dataset

CLI = [sys.executable, "-m", "heimdall_studio"]


def hdf5_tool(name):
    """The path of an HDF5 command-line tool; CI installs them (HEIMDALL_REQUIRE_HDF5_TOOLS)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("HEIMDALL_REQUIRE_HDF5_TOOLS"):
            pytest.fail(f"{name} is missing although HEIMDALL_REQUIRE_HDF5_TOOLS is set")
        pytest.skip(f"{name} not installed (Debian package hdf5-tools)")
    return path


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def h5dump_values(path, dataset):
    """The values h5dump prints for a dataset, as floats (17 significant digits)."""
    done = run(hdf5_tool("h5dump"), "-d", dataset, "-m", "%.17g", "-y", "-w", "0", str(path))
    assert done.returncode == 0, done.stderr
    body = done.stdout.split("DATA {", 1)[1].rsplit("}", 3)[0]
    return np.array([float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)",
                                                  body, flags=re.IGNORECASE)])


def plain_open_works(path):
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs["num_samples"])
    except OSError:
        return None


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("compression", COMPRESSION_POLICIES)
def test_hdf5_1_10_tools_read_every_attribute_and_dataset(workspace, compression):
    h5dump = hdf5_tool("h5dump")
    version = run(h5dump, "--version").stdout.strip()
    print(f"\n{version}")
    config = api.make_config("tools", seed=5, chunk_size=64)
    path = api.create_dataset(config, 1500, workspace, compression=compression).path
    api.expand_dataset("tools", 700, workspace)

    fields = read_header(path).fields
    done = run(h5dump, "-A", str(path))  # the header: every attribute of every object
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done.stderr
    with h5py.File(path, "r") as f:
        for key in f.attrs:
            assert f'ATTRIBUTE "{key}"' in done.stdout, key
        assert f'"{f.attrs["config_json"][:20]}' in done.stdout.replace("\\", "")
        names = [f"/samples/{k}" for k in fields] + ["/receivers", "/history"] + [
            f"/stats/{k}" for k in f["stats"]]
        expected = {k: f["samples"][k][:2200] for k in ("tx_lat", "snr_db", "signal_present",
                                                        "num_receivers_detected")}
    for name in names:
        done = run(h5dump, "-d", name, str(path))
        assert done.returncode == 0 and "error" not in done.stderr.lower(), (name, done.stderr)
    for key, want in expected.items():  # the values, not only the structure
        if key == "signal_present":  # printed as TRUE / FALSE
            done = run(h5dump, "-d", f"/samples/{key}", "-y", "-w", "0", str(path))
            body = done.stdout.split("DATA {", 1)[1]
            assert body.count("TRUE") == want.sum()
            assert body.count("FALSE") == want.size - want.sum()
            continue
        got = h5dump_values(path, f"/samples/{key}")
        assert np.array_equal(got, want.astype("f8").ravel(), equal_nan=True), key
    listing = run(hdf5_tool("h5ls"), "-r", str(path))
    assert listing.returncode == 0 and "ERROR" not in listing.stdout, listing.stdout


@pytest.mark.parametrize("storage", IQ_STORAGES)
def test_hdf5_1_10_tools_read_iq_records(workspace, storage):
    """h5dump of HDF5 1.10 prints an IQ dataset's records as {r, i} pairs, the values
    h5py reads."""
    h5dump = hdf5_tool("h5dump")
    path = api.create_dataset("iq", 3, workspace, dataset_type="iq_raw", seed=2,
                              iq_duration_s=0.0052, iq_storage=storage).path
    for name in read_header(path).fields:
        done = run(h5dump, "-H", "-d", f"/samples/{name}", str(path))
        assert done.returncode == 0 and "error" not in done.stderr.lower(), (name, done.stderr)
    with h5py.File(path, "r") as f:
        iq = f["samples/iq"][:]
    pairs = np.stack([iq["r"], iq["i"]], axis=-1) if storage == "int16" else \
        np.stack([iq.real, iq.imag], axis=-1)
    got = h5dump_values(path, "/samples/iq")
    assert np.array_equal(got, pairs.astype("f8").ravel())


def start(workspace, *args):
    return subprocess.Popen([*CLI, *args, "--workspace", str(workspace)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def committed(path):
    try:
        return read_header(path).num_samples
    except Exception:
        return 0


def kill_mid_run(workspace, path, *args, after=1, delay=0.2):
    proc = start(workspace, *args)
    deadline = time.monotonic() + 120
    while committed(path) < after:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def raw_kill(workspace, name, delay):
    """Kill a create mid-run and return the file exactly as the killed writer left it
    (reading it through the app would repair it)."""
    path = workspace / f"{name}.h5"
    proc = start(workspace, "create", name, "--samples", "50000000", "--seed", "3")
    deadline = time.monotonic() + 120
    # past the first block's rows (16,384 samples of about 270 bytes): committed
    while not path.exists() or path.stat().st_size < (8 << 20):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return path


TOUCHES = {
    "list": lambda ws, name: run(*CLI, "list", "--workspace", str(ws)),
    "info": lambda ws, name: run(*CLI, "info", name, "--workspace", str(ws)),
    "verify": lambda ws, name: run(*CLI, "verify", name, "--workspace", str(ws)),
    "expand": lambda ws, name: run(*CLI, "expand", name, "--samples", "100", "--workspace",
                                   str(ws)),
    "api read (the browser's)": lambda ws, name: api.dataset_stats(name, ws),
}


DELAYS = (0.0, 0.15, 0.3, 0.45, 0.6)


@pytest.mark.parametrize("touch, delay", list(zip(TOUCHES, DELAYS, strict=True)))
def test_the_next_touch_repairs_a_killed_file_in_place_as_h5clear_does(workspace, touch,
                                                                      delay):
    h5clear = hdf5_tool("h5clear")
    path = raw_kill(workspace, "killed", delay)
    assert plain_open_works(path) is None  # what every other reader met before
    reference = workspace.parent / "reference.h5"
    shutil.copyfile(path, reference)
    done = run(h5clear, "-s", "--increment=0", str(reference))  # HDF5's own repair
    assert done.returncode == 0, done.stderr
    inode = path.stat().st_ino
    others = sorted(os.listdir(workspace))

    result = TOUCHES[touch](workspace, "killed")
    if isinstance(result, subprocess.CompletedProcess):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr

    n = plain_open_works(path)
    assert n is not None and n > 0
    assert path.stat().st_ino == inode  # in place: no copy replaced it
    assert sorted(os.listdir(workspace)) == others  # and none was left beside it
    if touch != "expand":  # byte for byte what h5clear makes
        assert sha(path) == sha(reference)
    done = run(hdf5_tool("h5dump"), "-H", str(path))
    assert done.returncode == 0, done.stderr
    assert verify_dataset(path).ok


def test_repair_command_says_what_it_did_and_copies_nothing(workspace):
    path = raw_kill(workspace, "crashed", delay=0.3)
    size = path.stat().st_size
    before = path.read_bytes()
    done = run(*CLI, "repair", "crashed", "--workspace", str(workspace))
    assert done.returncode == 0, done.stderr
    assert "cleared the marks of an interrupted write" in done.stdout
    assert "repaired in place" in done.stdout and "committed samples" in done.stdout
    after = path.read_bytes()
    # Only the superblock changed (its first 48 bytes), and the file did not shrink.
    assert after[48:size] == before[48:] and len(after) >= size
    assert plain_open_works(path) == read_header(path).num_samples
    again = run(*CLI, "repair", "crashed", "--workspace", str(workspace))
    assert again.returncode == 0 and "nothing to repair" in again.stdout


def test_a_file_cut_short_is_extended_sparsely_and_opens(workspace):
    """A write that failed on a full disk can leave the recorded end of file past the real
    end ("truncated file"): the repair extends the file, sparsely, to the recorded end."""
    path = raw_kill(workspace, "short", delay=0.2)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        superblock = recovery.read_superblock(fh.fileno(), size)
        assert superblock.flags != 0
        raw = bytearray(superblock.raw)
        at = recovery.ADDRESSES_AT + recovery.EOF_ADDRESS_INDEX * superblock.size_of_offsets
        raw[at:at + 8] = (size + (1 << 20) - superblock.base_address).to_bytes(8, "little")
        raw[-4:] = recovery.lookup3(bytes(raw[:-4])).to_bytes(4, "little")
        fh.seek(superblock.offset)
        fh.write(raw)
    assert plain_open_works(path) is None
    n = committed(path)  # a touch
    assert n > 0 and plain_open_works(path) == n
    assert path.stat().st_size == size + (1 << 20)
    assert verify_dataset(path).ok


def test_repair_is_refused_while_a_writer_runs_and_readers_wait_for_nothing(workspace):
    path = workspace / "live.h5"
    proc = start(workspace, "create", "live", "--samples", "50000000")
    try:
        deadline = time.monotonic() + 120
        while committed(path) == 0:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        done = run(*CLI, "repair", "live", "--workspace", str(workspace))
        assert done.returncode == 1 and f"process {proc.pid}" in done.stderr
        entry = {e.name: e for e in api.list_datasets(workspace)}["live"]
        assert entry.writer == proc.pid and entry.status == f"writing (pid {proc.pid})"
        assert entry.header is not None  # readable while written (SWMR)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    entry = {e.name: e for e in api.list_datasets(workspace)}["live"]
    assert entry.writer is None and entry.status == "ok"


def test_readers_never_call_a_dataset_being_opened_for_writing_damaged(workspace, small_config):
    """Each expansion opens the file before it switches to SWMR; readers polling all along
    see it readable or busy, never damaged."""
    api.create_dataset(small_config, 500, workspace)
    path = workspace / "small.h5"
    verdicts = {"readable": 0, "busy": 0}
    for _ in range(6):
        proc = start(workspace, "expand", "small", "--samples", "3000")
        while proc.poll() is None:
            try:
                read_header(path)
                verdicts["readable"] += 1
            except DatasetBusyError:
                verdicts["busy"] += 1
        assert proc.returncode == 0
    assert verdicts["readable"] > 0
    assert read_header(path).num_samples == 500 + 6 * 3000


HOLD_OPEN = """
import sys, time, h5py
f = h5py.File(sys.argv[1], "a")  # HDF5's own file locking, as other programs use it
print("open", flush=True)
time.sleep(60)
"""


def test_a_file_another_program_holds_for_writing_is_in_use_not_damaged(workspace,
                                                                       small_config):
    path = api.create_dataset(small_config, 300, workspace).path
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(DatasetInUseError, match="another program"):
            read_header(path)
        entry = {e.name: e for e in api.list_datasets(workspace)}["small"]
        assert entry.status == "in use" and "another program" in entry.error
        done = run(*CLI, "repair", "small", "--workspace", str(workspace))
        assert done.returncode == 1 and "another program" in done.stderr
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed with the file open for writing: the next touch repairs it.
    assert read_header(path).num_samples == 300
    assert plain_open_works(path) == 300


def test_leftovers_of_interrupted_runs_go_with_the_next_touch(workspace, small_config):
    api.create_dataset(small_config, 100, workspace)
    planted = [workspace / ".small.h5.0123abcd.new", workspace / ".small.h5.4242.recover",
               workspace / ".gone.h5.99.recover"]
    for path in planted:
        path.write_bytes(b"left by a killed run")
    outside = workspace.parent / "keep-me"
    outside.write_text("not ours")
    os.symlink(outside, workspace / ".small.h5.linked.new")
    api.list_datasets(workspace)
    assert not any(os.path.lexists(p) for p in planted)
    assert not os.path.lexists(workspace / ".small.h5.linked.new")
    assert outside.read_text() == "not ours"  # the link went, not what it pointed at


def test_a_create_without_unnamed_files_leaves_no_temporary_file(workspace, small_config,
                                                                monkeypatch):
    from heimdall_studio.core.dataset import fsops
    monkeypatch.setattr(fsops, "_open_unnamed", lambda folder: None)
    api.create_dataset(small_config, 100, workspace)
    assert sorted(os.listdir(workspace)) == [".small.h5.lock", "small.h5"]


def test_a_leftover_of_a_create_in_progress_is_kept(workspace, small_config):
    path = workspace / "busy.h5"
    leftover = workspace / ".busy.h5.feedc0de.new"
    leftover.write_bytes(b"being written")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from heimdall_studio.core.dataset.locking import DatasetLock; "
         "DatasetLock(Path(sys.argv[1]), 'create').acquire(); print('held', flush=True); "
         "time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        api.list_datasets(workspace)
        assert leftover.exists()
    finally:
        holder.kill()
        holder.wait()
    api.list_datasets(workspace)
    assert not leftover.exists()


@pytest.mark.parametrize("plant", ["symlink", "folder", "fifo"])
def test_a_planted_lock_path_is_refused_and_its_target_untouched(workspace, small_config,
                                                                plant, capsys):
    target = workspace.parent / "precious.txt"
    target.write_text("keep")
    api.create_dataset(small_config, 100, workspace)
    lock = workspace / ".small.h5.lock"
    lock.unlink()
    if plant == "symlink":
        os.symlink(target, lock)
    elif plant == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    before = sha(workspace / "small.h5")
    for args in (["expand", "small", "--samples", "10"],
                 ["create", "other", "--samples", "10"]):
        if args[0] == "create":
            os.rename(lock, workspace / ".other.h5.lock")
        done = run(*CLI, *args, "--workspace", str(workspace))
        assert done.returncode == 1, done.stderr
        assert "lock file" in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert target.read_text() == "keep"
    assert sha(workspace / "small.h5") == before
    assert not (workspace / "other.h5").exists()


def test_the_space_a_killed_writer_reserved_is_handed_back_by_the_repair(workspace):
    path = raw_kill(workspace, "reserved", delay=0.3)
    st = path.stat()
    assert st.st_blocks * 512 > st.st_size + (1 << 20)  # reserved past the end, unused
    committed(path)  # a touch repairs it
    st = path.stat()
    assert st.st_blocks * 512 <= st.st_size + (64 << 10)


def test_files_are_linked_into_place_where_unnamed_files_cannot_be_linked(
        workspace, small_config, monkeypatch):
    """Linux before 6.10 lets no ordinary user link an unnamed file by descriptor, and
    /proc may be missing: then what was written is handed to a named file."""
    from heimdall_studio.core.dataset import fsops
    from heimdall_studio.core.tools.export import export_dataset
    monkeypatch.setattr(fsops, "_link_unnamed", lambda fd, path: False)
    path = api.create_dataset(small_config, 300, workspace).path
    out = export_dataset(path, "npz")
    assert np.load(out)["tx_lat"].shape == (300,)
    assert sorted(os.listdir(workspace)) == [".small.h5.lock", "small.h5", "small.npz"]
