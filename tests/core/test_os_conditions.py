"""Conditions of the operating system, made for real: a read-only file system, permission
denied, a workspace that is a file or a FIFO, an unknown ~user, receiver files that are
FIFOs, devices or too large, a missing export folder, Ctrl-C at every stage.

Each is one line on stderr with exit 2 (bad input) or 1 (failure), never a traceback,
and whatever the failing command took (descriptors, locks, temporary files) is released.
"""

import ctypes
import hashlib
import json
import os
import pwd
import re
import resource
import signal
import stat
import subprocess
import sys
import time

import h5py
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.model import DatasetConfig
from heimdall_studio.core.config.receivers import (
    MAX_RECEIVERS_FILE_BYTES,
    load_receivers,
    parse_receivers_csv,
    parse_receivers_json,
)
from heimdall_studio.core.dataset.locking import DatasetLock
from heimdall_studio.core.errors import (
    ConfigError,
    DatasetWriteError,
    ExportError,
    PathError,
    StratumUnfillableError,
)
from heimdall_studio.core.tools.export import export_dataset
from heimdall_studio.core.tools.verify import verify_dataset

CLI = [sys.executable, "-m", "heimdall_studio"]
NOBODY = 65534
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def run_cli(*args, timeout=120, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def assert_one_line_error(result, code, *fragments):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heimdall-studio: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def contents(folder):
    """Every name in the folder with its kind and, for files, a digest of the bytes."""
    seen = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISREG(mode):
            with open(entry.path, "rb") as f:
                seen[entry.name] = hashlib.sha256(f.read()).hexdigest()
        else:
            seen[entry.name] = stat.filemode(mode)
    return seen


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def temporary_files(folder):
    return [p.name for p in folder.iterdir()
            if p.name.endswith((".new", ".part", ".recover", ".tmp"))]


# ---------------------------------------------------------------------------
# real file systems and permissions


def make_read_only(path):
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def _drop_permission_override():
    # Root ignores file permissions through these two capabilities; without them it
    # meets permission denied like anyone else (the process stays root otherwise).
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def deny_writes():
    """Takes folders and files away from the processes started with the preexec_fn that
    `deny(*paths)` returns.

    As root: the paths go to 'nobody', and the child runs without the capabilities that
    let root write anyway. Otherwise: plain chmod.
    """
    changed = []

    def deny(*paths):
        changed.extend((p, p.lstat()) for p in paths)
        if os.geteuid() != 0:
            for p in paths:
                p.chmod(0o555 if p.is_dir() else 0o444)
            return None
        for p in paths:
            os.chown(p, NOBODY, NOBODY, follow_symlinks=False)
            p.chmod(0o755 if p.is_dir() else 0o644)
        # opens for writing and writes nothing (in a folder: makes a file and removes it)
        target = paths[0] / ".probe" if paths[0].is_dir() else paths[0]
        probe = subprocess.run(["sh", "-c", f": >> '{target}'"],
                               preexec_fn=_drop_permission_override, capture_output=True)
        if probe.returncode == 0:
            if paths[0].is_dir():
                target.unlink()
            pytest.skip("cannot make root meet permission denied here")
        return _drop_permission_override

    yield deny
    for path, st in reversed(changed):
        os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
        path.chmod(stat.S_IMODE(st.st_mode))


def test_read_only_file_system(tmpfs, small_config):
    ro = tmpfs("ro")
    api.create_dataset(small_config, 100, ro)
    make_read_only(ro)
    before = contents(ro)
    ws = ["--workspace", str(ro)]
    for args in (["create", "new", "--samples", "10", *ws],
                 ["create", "new", "--samples", "10", "--workspace", str(ro / "sub")],
                 ["expand", "small", "--samples", "10", *ws],
                 ["export", "small", "--format", "csv", *ws],
                 ["export", "small", "--format", "npz", "--out", str(ro / "x.npz"), *ws]):
        assert_one_line_error(run_cli(*args), 1, "Read-only file system")
    assert contents(ro) == before
    # reading needs no write: all of these work on the read-only dataset
    for args in (["info", "small", *ws], ["list", *ws], ["verify", "small", *ws]):
        result = run_cli(*args)
        assert result.returncode == 0 and result.stderr == "", result.stderr
    assert contents(ro) == before


def test_permission_denied(tmp_path, deny_writes, small_config):
    ws = tmp_path / "ws"
    api.create_dataset(small_config, 100, ws)
    preexec = deny_writes(ws, *ws.iterdir())
    before = contents(ws)
    for args in (["create", "new", "--samples", "10"],
                 ["create", "new", "--samples", "10", "--workspace", str(ws / "sub")],
                 ["expand", "small", "--samples", "10"],
                 ["export", "small", "--format", "csv"]):
        result = run_cli(*args, "--workspace", str(ws), preexec_fn=preexec)
        assert_one_line_error(result, 1, "Permission denied")
    assert contents(ws) == before
    result = run_cli("info", "small", "--workspace", str(ws), preexec_fn=preexec)
    assert result.returncode == 0, result.stderr


def test_permission_denied_on_the_dataset_file_alone(workspace, deny_writes, small_config):
    api.create_dataset(small_config, 100, workspace)
    preexec = deny_writes(workspace / "small.h5")  # its folder and lock stay writable
    before = contents(workspace)
    result = run_cli("expand", "small", "--samples", "10", preexec_fn=preexec)
    assert_one_line_error(result, 1, "cannot expand dataset 'small'", "Permission denied")
    assert contents(workspace) == before


# ---------------------------------------------------------------------------
# workspaces


def make_file(path):
    path.write_text("not a folder\n")


def make_fifo(path):
    os.mkfifo(path)


def make_link_to_file(path):
    target = path.with_name("target.txt")
    target.write_text("a file\n")
    path.symlink_to(target)


@pytest.mark.parametrize("make", [make_file, make_fifo, make_link_to_file],
                         ids=["file", "fifo", "link to a file"])
def test_a_workspace_that_is_not_a_folder(tmp_path, make):
    ws = tmp_path / "ws"
    make(ws)
    before = contents(tmp_path)
    for args, code, fragment in [
            (["create", "x", "--samples", "10"], 2, "not a folder"),
            (["list"], 2, "not a folder"),
            (["info", "x"], 2, "no dataset 'x'"),
            (["expand", "x", "--samples", "5"], 2, "no dataset 'x'"),
            (["verify", "x"], 2, "no dataset 'x'")]:
        # a FIFO must not block anything: the timeout would fail the test
        assert_one_line_error(run_cli(*args, "--workspace", str(ws), timeout=60),
                              code, fragment)
    assert contents(tmp_path) == before
    with pytest.raises(PathError, match="not a folder"):
        api.list_datasets(ws)


def test_a_workspace_below_a_file_or_a_missing_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_cli("create", "x", "--samples", "10", "--workspace",
                     str(tmp_path / "file" / "ws"))
    assert_one_line_error(result, 2, f"{tmp_path / 'file'} is a file, not a folder")
    missing = tmp_path / "missing" / "ws"
    result = run_cli("info", "x", "--workspace", str(missing))
    assert_one_line_error(result, 2, "no dataset 'x'", "that folder does not exist")
    result = run_cli("list", "--workspace", str(missing))
    assert result.returncode == 0 and "does not exist yet" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # listing made nothing
    # a create makes the missing folders (the default workspace's parents may be missing)
    result = run_cli("create", "x", "--samples", "10", "--workspace", str(missing))
    assert result.returncode == 0, result.stderr
    assert (missing / "x.h5").is_file()


def test_an_unknown_user_in_the_workspace(tmp_path, monkeypatch):
    user = "heimdall-no-such-user"
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    monkeypatch.setenv("HEIMDALL_STUDIO_WORKSPACE", f"~{user}/datasets")
    for args in (["list"], ["create", "x", "--samples", "5"], ["info", "x"],
                 ["expand", "x", "--samples", "5"]):
        assert_one_line_error(run_cli(*args, cwd=tmp_path), 2,
                              "HEIMDALL_STUDIO_WORKSPACE", f"there is no user '{user}'")
    result = run_cli("list", "--workspace", f"~{user}/elsewhere", cwd=tmp_path)
    assert_one_line_error(result, 2, f"there is no user '{user}'")
    result = run_cli("info", f"~{user}/x.h5", cwd=tmp_path)
    assert_one_line_error(result, 2, f"there is no user '{user}'")
    assert list(tmp_path.iterdir()) == []  # no folder named '~user' made here
    with pytest.raises(PathError, match="no user"):
        api.default_workspace()


# ---------------------------------------------------------------------------
# receiver files


def fifo(folder):
    path = folder / "net.csv"
    os.mkfifo(path)
    return path, "a FIFO (named pipe), not a regular file"


def dev_zero(folder):
    return "/dev/zero", "a character device, not a regular file"


def link_to_dev_zero(folder):
    path = folder / "net.json"
    path.symlink_to("/dev/zero")
    return path, "a character device, not a regular file"


def a_folder(folder):
    path = folder / "net.json"
    path.mkdir()
    return path, "a folder, not a regular file"


def over_the_limit(folder):
    path = folder / "net.csv"
    with open(path, "w") as f:
        f.write("name,lat,lon,alt_m\n")
        f.truncate(MAX_RECEIVERS_FILE_BYTES + 1)  # a real file, sparse
    return path, "over the limit"


def deeply_nested(folder):
    path = folder / "net.json"
    path.write_text("[" * 200_000)
    return path, "nested too deeply"


def csv_field_too_long(folder):
    path = folder / "net.csv"
    path.write_text('name,lat,lon,alt_m\n"' + "x" * 300_000 + '",1,2,3\n')
    return path, "not valid CSV"


def not_utf8(folder):
    path = folder / "net.csv"
    path.write_bytes(b"name,lat,lon,alt_m\n\xff\xfe,1,2,3\n")
    return path, "not UTF-8"


RECEIVER_FILES = [fifo, dev_zero, link_to_dev_zero, a_folder, over_the_limit, deeply_nested,
                  csv_field_too_long, not_utf8]


def limit_memory():
    # /dev/zero read to the end would take every byte of memory there is
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.parametrize("make", RECEIVER_FILES, ids=lambda f: f.__name__)
def test_receiver_files_that_cannot_be_networks(tmp_path, workspace, make):
    path, fragment = make(tmp_path)
    result = run_cli("create", "x", "--samples", "5", "--receivers", str(path),
                     timeout=60, preexec_fn=limit_memory)
    assert_one_line_error(result, 2, "receivers = ", fragment)
    assert list(workspace.iterdir()) == []
    fds = open_descriptors()
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_receivers(path)
    assert open_descriptors() == fds


def test_a_receiver_file_in_limits_is_read(tmp_path):
    path = tmp_path / "net.csv"
    path.write_text("name,lat,lon,alt_m\nA,45.0,7.0,500\nB,45.4,7.6,300\nC,44.8,7.9,400\n")
    assert [r.name for r in load_receivers(path)] == ["A", "B", "C"]
    link = tmp_path / "link.csv"
    link.symlink_to(path)  # a link to a regular file is that file
    assert load_receivers(link) == load_receivers(path)


def _best_time(action, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - began)
    return best


def _rows(n):
    return [{"name": f"r{i}", "lat": 40 + i * 1e-5, "lon": 7 + i * 1e-5, "alt_m": 100.0}
            for i in range(n)]


def _parse_csv(rows):
    text = "name,lat,lon,alt_m\n" + "".join(
        f"{r['name']},{r['lat']!r},{r['lon']!r},{r['alt_m']}\n" for r in rows)
    return lambda: DatasetConfig.from_dict({"name": "big", "receivers":
                                            parse_receivers_csv(text)})


def _parse_json(rows):
    text = json.dumps({"receivers": rows})
    return lambda: DatasetConfig.from_dict({"name": "big", "receivers":
                                            parse_receivers_json(text)})


def _parse_config(rows):  # a dataset file's config_json: plain values, checked once
    return lambda: DatasetConfig.from_dict({"name": "big", "seed": 1, "receivers": rows})


@pytest.mark.parametrize("parse", [_parse_csv, _parse_json, _parse_config],
                         ids=["csv", "json", "config"])
def test_receiver_networks_parse_in_linear_time(parse):
    def refused(n):
        action = parse(_rows(n))

        def run():
            with pytest.raises(ConfigError, match="at most 255"):  # after every row is read
                action()
        return run

    small, large = _best_time(refused(10_000)), _best_time(refused(40_000))
    # Four times the rows: about four times the time when linear, sixteen if quadratic.
    assert large / small < 8, (small, large)


# ---------------------------------------------------------------------------
# exports


def test_export_to_a_missing_folder_or_below_a_file(tmp_path, workspace, small_config):
    api.create_dataset(small_config, 50, workspace)
    (tmp_path / "file").write_text("x")
    before = contents(tmp_path)
    for out, fragment in [(tmp_path / "nope" / "x.csv", "does not exist"),
                          (tmp_path / "file" / "x.csv", "is not a folder")]:
        result = run_cli("export", "small", "--format", "csv", "--out", str(out))
        assert_one_line_error(result, 2, "cannot export to", fragment)
    assert contents(tmp_path) == before


# ---------------------------------------------------------------------------
# what a failure takes, it gives back


def test_failures_release_descriptors_locks_and_temporary_files(tmp_path, workspace,
                                                                  small_config):
    api.create_dataset(small_config, 50, workspace)  # loads everything once
    net = tmp_path / "net.csv"
    os.mkfifo(net)
    hopeless = api.make_config("hopeless", seed=1, tx_power_dbm=-30, min_snr_db=60,
                               min_receivers=7, inside_ratio=1.0)
    (tmp_path / "file").write_text("x")
    (workspace / ".busy.h5.lock").mkdir()  # a lock path that is a folder

    def fail_every_way(trial):
        for path in (net, "/dev/zero"):
            with pytest.raises(ConfigError):
                load_receivers(path)
        with pytest.raises(PathError):
            api.create_dataset("x", 10, tmp_path / "file")
        with pytest.raises(DatasetWriteError):
            api.create_dataset("busy", 10, workspace)
        with pytest.raises(PathError):
            export_dataset(workspace / "small.h5", "csv", tmp_path / "nope" / "x.csv")
        if trial < 2:  # about a second each
            with pytest.raises(StratumUnfillableError):
                api.create_dataset(hopeless, 10, workspace)

    fail_every_way(0)  # whatever a first call loads for good is loaded now
    before = open_descriptors()
    for trial in range(1, 10):
        fail_every_way(trial)
    assert open_descriptors() == before
    assert temporary_files(workspace) == [] and temporary_files(tmp_path) == []
    for name in ("hopeless", "small"):  # nobody holds the locks
        DatasetLock(workspace / f"{name}.h5", "test").acquire().release()


def test_failures_on_a_read_only_file_system_release_what_they_took(tmpfs, small_config):
    ro = tmpfs("ro")
    api.create_dataset(small_config, 50, ro)
    make_read_only(ro)

    def fail_every_way():
        with pytest.raises(DatasetWriteError, match="Read-only file system"):
            api.create_dataset("new", 10, ro)
        with pytest.raises(DatasetWriteError, match="Read-only file system"):
            api.expand_dataset("small", 10, ro)
        with pytest.raises(ExportError, match="Read-only file system"):
            export_dataset(ro / "small.h5", "csv")

    fail_every_way()
    before = open_descriptors()
    for _ in range(10):
        fail_every_way()
    assert open_descriptors() == before
    assert api.dataset_header("small", ro).num_samples == 50


# ---------------------------------------------------------------------------
# Ctrl-C


# Sends itself a real SIGINT when a module starts loading: `datetime` is first loaded
# by numpy's C extension as it starts, the worst moment (it turns the interrupt into
# an ImportError), `h5py` comes later.
INTERRUPT_WHILE_LOADING = """
import os, signal, sys
module = sys.argv.pop(1)

class InterruptWhileLoading:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptWhileLoading())
sys.argv[0] = "heimdall-studio"
from heimdall_studio.__main__ import run
raise SystemExit(run())
"""


@pytest.mark.parametrize("module", ["datetime", "h5py"])
def test_ctrl_c_while_the_modules_load(workspace, module):
    result = subprocess.run([sys.executable, "-c", INTERRUPT_WHILE_LOADING, module,
                             "create", "x", "--samples", "100"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "heimdall-studio: interrupted"
    assert list(workspace.iterdir()) == []


def committed(path):
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            return int(f.attrs["num_samples"])
    except (OSError, KeyError):
        return 0


def start_create(name, samples=100_000_000):
    return subprocess.Popen([*CLI, "create", name, "--samples", str(samples)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, proc, deadline_s=120):
    end = time.monotonic() + deadline_s
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end
        time.sleep(0.002)


def assert_interrupted_cleanly(proc, path):
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.rstrip().splitlines()[-1].startswith("interrupted")
    if os.path.lexists(path):  # kept only with samples in it, and intact
        assert committed(path) > 0 and verify_dataset(path).ok
    DatasetLock(path, "test").acquire().release()  # the lock was released
    assert temporary_files(path.parent) == []
    return err


def test_double_ctrl_c_at_any_stage_exits_130_without_a_traceback(workspace):
    moments = {
        "file created": lambda path: os.path.exists(path),
        "first commit": lambda path: committed(path) > 0,
        "well into the run": lambda path: committed(path) > 200_000,
    }
    for i, reached in enumerate(moments.values()):
        path = workspace / f"double{i}.h5"
        proc = start_create(path.stem)
        wait_until(lambda reached=reached, path=path: reached(path), proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert_interrupted_cleanly(proc, path)
