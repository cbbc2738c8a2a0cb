"""Corrupt, foreign and hostile files: reported as unreadable, never modified, never fatal."""

import hashlib
import json
import os

import h5py
import numpy as np
import pytest

from heimdall_studio import cli
from heimdall_studio.core import api
from heimdall_studio.core.errors import DatasetFormatError


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def valid(ws, name="valid", n=300):
    api.create_dataset(name, n, ws, seed=1, chunk_size=64)
    return ws / f"{name}.h5"


def truncated(ws):
    path = valid(ws, "src")
    data = path.read_bytes()
    os.unlink(path)
    (ws / "hostile.h5").write_bytes(data[: len(data) // 2])


def random_bytes(ws):
    (ws / "hostile.h5").write_bytes(np.random.default_rng(1).bytes(100_000))


def empty(ws):
    (ws / "hostile.h5").write_bytes(b"")


def hdf5_signature_then_garbage(ws):
    (ws / "hostile.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 4096)


def foreign_hdf5(ws):
    with h5py.File(ws / "hostile.h5", "w") as f:
        f["images"] = np.zeros((10, 8, 8))
        f.attrs["format"] = "someone-else"


def tampered(change):
    def make(ws):
        path = valid(ws, "hostile")
        with h5py.File(path, "r+") as f:
            change(f)
    return make


def replace_dataset(name, data):
    def change(f):
        del f["samples"][name]
        f["samples"][name] = data
    return change


def absurd_length(f):
    # a sparse dataset claiming a trillion rows: no chunk is ever written
    del f["samples/tx_lat"]
    f["samples"].create_dataset("tx_lat", shape=(10**12,), maxshape=(None,), dtype="f8",
                                chunks=(1 << 16,))
    f.attrs.modify("num_samples", 10**12)


def symlink_outside(ws):
    outside = ws.parent / "outside"
    outside.mkdir()
    valid(outside, "elsewhere")
    os.symlink(outside / "elsewhere.h5", ws / "hostile.h5")


def symlink_to_system_file(ws):
    os.symlink("/etc/hostname", ws / "hostile.h5")


def outside_dataset(ws):
    """A valid dataset outside the workspace, for links to point at."""
    outside = ws.parent / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / "elsewhere.h5"
    if not path.exists():
        valid(outside, "elsewhere")
    return path


def linked(make_link):
    """A valid dataset in which `make_link(f, outside_path)` plants a link or a member
    whose data lies in another file."""
    def make(ws):
        elsewhere = outside_dataset(ws)
        path = valid(ws, "hostile")
        with h5py.File(path, "r+") as f:
            make_link(f, elsewhere)
    return make


def sample_as_external_link(name):
    def change(f, elsewhere):
        del f["samples"][name]
        f["samples"][name] = h5py.ExternalLink(str(elsewhere), f"/samples/{name}")
    return change


def sample_as_soft_link(f, elsewhere):
    del f["samples/rx_power_dbm"]
    f["samples/rx_power_dbm"] = h5py.SoftLink("/samples/snr_db")  # an alias


def samples_group_as_external_link(f, elsewhere):
    del f["samples"]
    f["samples"] = h5py.ExternalLink(str(elsewhere), "/samples")


def history_as_soft_link(f, elsewhere):
    f.move("history", "old_history")
    f["history"] = h5py.SoftLink("/old_history")


def virtual_sample_dataset(f, elsewhere):
    layout = h5py.VirtualLayout(shape=(300,), dtype="f8", maxshape=(None,))
    layout[:] = h5py.VirtualSource(str(elsewhere), "/samples/tx_lat", shape=(300,))
    del f["samples/tx_lat"]
    f["samples"].create_virtual_dataset("tx_lat", layout)


def virtual_receivers(f, elsewhere):
    rx = f["receivers"]
    layout = h5py.VirtualLayout(shape=rx.shape, dtype=rx.dtype)
    layout[:] = h5py.VirtualSource(str(elsewhere), "/receivers", shape=rx.shape)
    del f["receivers"]
    f.create_virtual_dataset("receivers", layout)


def external_raw_storage(f, elsewhere):
    data = f["samples/gdop"][()]
    raw = elsewhere.with_name("gdop.raw")
    raw.write_bytes(data.tobytes())
    del f["samples/gdop"]
    f["samples"].create_dataset("gdop", data=data, external=[(str(raw), 0, data.nbytes)])


def stats_member_as_external_link(f, elsewhere):
    del f["stats/gdop"]
    f["stats/gdop"] = h5py.ExternalLink(str(elsewhere), "/stats/gdop")


def extra_external_link_in_samples(f, elsewhere):
    f["samples/extra"] = h5py.ExternalLink(str(elsewhere), "/samples/tx_lat")


HOSTILE = {
    "truncated": truncated,
    "random bytes": random_bytes,
    "empty": empty,
    "hdf5 signature then garbage": hdf5_signature_then_garbage,
    "foreign hdf5": foreign_hdf5,
    "newer format_version": tampered(lambda f: f.attrs.modify("format_version", 99)),
    "format as number": tampered(lambda f: f.attrs.__setitem__("format", 7)),
    "missing config": tampered(lambda f: f.attrs.__delitem__("config_json")),
    "config not json": tampered(lambda f: f.attrs.modify("config_json", "{{{")),
    "config with unknown key": tampered(lambda f: f.attrs.__setitem__(
        "config_json", json.dumps({**json.loads(f.attrs["config_json"]), "evil": 1}))),
    "config as code": tampered(lambda f: f.attrs.__setitem__(
        "config_json", "__import__('os').system('touch /tmp/pwned')")),
    "num_samples as text": tampered(lambda f: f.attrs.__setitem__("num_samples", "300")),
    "num_samples float": tampered(lambda f: f.attrs.__setitem__("num_samples", 3.5)),
    "negative num_samples": tampered(lambda f: f.attrs.modify("num_samples", -1)),
    "num_samples beyond rows": tampered(lambda f: f.attrs.modify("num_samples", 301)),
    "wrong dtype": tampered(replace_dataset("gdop", np.zeros(300, "i4"))),
    "wrong receiver count": tampered(replace_dataset("snr_db", np.zeros((300, 3), "f4"))),
    "wrong rank": tampered(replace_dataset("tx_lon", np.zeros((300, 2), "f8"))),
    "samples not a group": tampered(lambda f: (f.__delitem__("samples"),
                                               f.__setitem__("samples", 1))),
    "history missing": tampered(lambda f: f.__delitem__("history")),
    "absurd length": tampered(absurd_length),
    "symlink outside the workspace": symlink_outside,
    "symlink to a system file": symlink_to_system_file,
    "sample dataset an external link": linked(sample_as_external_link("snr_db")),
    "sample dataset a soft link alias": linked(sample_as_soft_link),
    "samples group an external link": linked(samples_group_as_external_link),
    "history a soft link": linked(history_as_soft_link),
    "virtual sample dataset": linked(virtual_sample_dataset),
    "virtual receivers": linked(virtual_receivers),
    "sample data in an external file": linked(external_raw_storage),
    "histogram an external link": linked(stats_member_as_external_link),
    "extra external link among samples": linked(extra_external_link_in_samples),
}


# Defects inside the sample datasets. A listing reads each file's header and looks the
# datasets up without opening them (`store.parse_header`), so it lists these files as
# datasets; everything that reads samples opens them and refuses the file.
SAMPLE_DEFECTS = {"num_samples beyond rows", "wrong dtype", "wrong receiver count",
                  "wrong rank", "virtual sample dataset", "virtual receivers",
                  "sample data in an external file",
                  "histogram an external link", "extra external link among samples"}


def outside_files(ws):
    outside = ws.parent / "outside"
    return {p.name: sha(p) for p in outside.iterdir()} if outside.is_dir() else {}


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_file_is_reported_refused_and_left_untouched(kind, workspace, capsys):
    HOSTILE[kind](workspace)
    valid(workspace)  # a good dataset beside it keeps working
    path = workspace / "hostile.h5"
    target = path.resolve() if path.is_symlink() else path
    before = sha(target)
    before_outside = outside_files(workspace)
    ws = str(workspace)

    listed_as = "ok" if kind in SAMPLE_DEFECTS else "unreadable"
    entries = {e.name: e for e in api.list_datasets(workspace)}
    assert entries["hostile"].status == listed_as
    assert (entries["hostile"].error is None) == (listed_as == "ok")
    assert entries["valid"].status == "ok"

    assert cli.main(["list", "--json", "--workspace", ws]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["hostile"]["status"] == listed_as
    if kind in SAMPLE_DEFECTS:  # what the details pane and the loader read
        for read in (api.dataset_stats, lambda p: api.load_dataset(p, fields=("gdop",))):
            with pytest.raises(DatasetFormatError, match=r"hostile\.h5"):
                read(path)
    else:
        assert listed["hostile"]["error"]
    assert cli.main(["info", "hostile", "--workspace", ws]) == 2
    assert cli.main(["verify", "hostile", "--workspace", ws]) == 1
    assert cli.main(["expand", "hostile", "--samples", "10", "--workspace", ws]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "hostile.h5" in err

    assert cli.main(["export", "hostile", "--format", "npz", "--workspace", ws]) != 0
    assert sha(target) == before
    assert outside_files(workspace) == before_outside  # no link was followed to write
    assert not os.path.exists("/tmp/pwned")
    assert sorted(p.name for p in workspace.iterdir() if not p.name.startswith(".")) == [
        "hostile.h5", "valid.h5"]
    api.expand_dataset("valid", 10, workspace)
