"""Generator versions are forever (docs/generation.md, Versions): every version this app
has released expands its own datasets bit for bit.

Each fixture in tests/fixtures is a dataset file written by the release that drew with
that version, with the SHA-256 of every sample field of a dataset created larger at once
by the same code (scripts/make_golden_fixtures.py made them). Expanding the file with
today's code must give those very samples.
"""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.fields import sample_fields
from heimdall_studio.core.config.versions import GENERATOR_VERSION, VERSIONS
from heimdall_studio.core.errors import DatasetFormatError
from heimdall_studio.core.runs import process as process_run
from heimdall_studio.core.sampling.generator import kernel_of
from heimdall_studio.core.tools.verify import verify_dataset

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def golden(version, variant=""):
    """(path of the fixture file, its record) for a generator version (and a variant of
    its config, scripts/make_golden_fixtures.py VARIANTS)."""
    stem = f"generator_v{version}" + (f"_{variant}" if variant else "")
    record = json.loads((FIXTURES / f"{stem}_hashes.json").read_text())
    assert record["generator_version"] == version
    assert record.get("variant", "") == variant
    return FIXTURES / f"{stem}.h5", record


def field_sha256(array):
    """As scripts/make_golden_fixtures.py hashes a field: C order, little-endian."""
    a = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def assert_samples_are(path, record):
    """The file holds exactly the samples of create(num_samples + expand_by)."""
    data = api.load_dataset(path)
    assert data.num_samples == record["num_samples"] + record["expand_by"]
    config = data.config
    assert set(data.arrays) == set(sample_fields(
        record["generator_version"], config.dataset_type, config.iq_storage)) == set(
        record["fields"])
    differ = [name for name, want in record["fields"].items()
              if list(data[name].shape) != want["shape"] or data[name].dtype.str != want["dtype"]
              or field_sha256(data[name]) != want["sha256"]]
    assert not differ, f"fields that differ from the golden samples: {differ}"


def stored_version(path):
    """The root attribute as stored: None in files of Heimdall Studio 0.1."""
    with h5py.File(path, "r") as f:
        value = f.attrs.get("generator_version")
    return None if value is None else int(value)


def copy_fixture(version, workspace, variant=""):
    source, record = golden(version, variant)
    path = workspace / source.name
    shutil.copyfile(source, path)
    return path, record


def test_every_version_has_a_kernel_and_a_fixture():
    assert max(VERSIONS) == GENERATOR_VERSION
    assert sorted(VERSIONS) == list(range(1, GENERATOR_VERSION + 1))
    for number, version in VERSIONS.items():
        assert version.number == number
        kernel = kernel_of(number)
        assert callable(kernel.kernel_inputs) and callable(kernel.fill_block)
        path, record = golden(number)
        # fixtures stay small (version 3 files hold their elevation grid: about 150 KB;
        # version 4's arrival times, float64 noise, take most of its 420 KB, and version
        # 5 adds each link's arrival, 510 KB)
        assert path.stat().st_size < 600_000
        size = record["config"]["chunk_size"]  # both counts end mid-chunk
        assert record["num_samples"] % size and (record["num_samples"] + record["expand_by"]) % size


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_expansion_continues_the_generator_that_drew_the_file(workspace, version):
    path, record = copy_fixture(version, workspace)
    attribute = stored_version(path)
    assert attribute == (None if version == 1 else version)
    assert api.dataset_header(path).generator_version == version
    n, m = record["num_samples"], record["expand_by"]

    done = api.expand_dataset(path, m)

    assert (done.first_index, done.done) == (n, m)
    assert_samples_are(path, record)
    assert stored_version(path) == attribute  # the writer leaves it as it was
    header = api.dataset_header(path)
    assert header.generator_version == version
    assert [(r.kind, r.first_index, r.count) for r in header.history] == [
        ("create", 0, n), ("expand", n, m)]
    assert verify_dataset(path).ok  # history, checksums and statistics of both runs


@pytest.mark.parametrize("version, variant", [(4, "none"), (5, "iq")])
def test_expansion_continues_every_branch_of_a_version(workspace, version, variant):
    # version 4 draws the flat plane (terrain none) in a branch of its own; version 5's
    # IQ records are drawn after the kernel, from the stored rows
    path, record = copy_fixture(version, workspace, variant)
    config = api.dataset_header(path).config
    if variant == "iq":
        assert config.dataset_type == "iq_raw" and "iq" in record["fields"]
    else:
        assert config.propagation.terrain.source == variant
    api.expand_dataset(path, record["expand_by"])
    assert_samples_are(path, record)
    assert verify_dataset(path).ok


def test_expansion_in_a_run_process_draws_with_the_files_version(workspace):
    # The app's runs happen in a child process: the version comes from the file there too.
    path, record = copy_fixture(1, workspace)
    run = process_run.RunProcess()
    progress = list(run.expand(path, record["expand_by"]))
    assert progress[-1].done == record["expand_by"]
    assert_samples_are(path, record)
    assert stored_version(path) is None


def test_new_datasets_draw_with_the_current_version(workspace):
    _, record = golden(GENERATOR_VERSION)
    config = api.make_config("fresh", **record["config"])
    total = record["num_samples"] + record["expand_by"]
    path = api.create_dataset(config, total, workspace).path
    assert stored_version(path) == GENERATOR_VERSION
    assert api.dataset_header(path).generator_version == GENERATOR_VERSION
    assert_samples_are(path, record)


def test_a_version_this_release_does_not_have_is_refused_and_nothing_is_written(workspace):
    path, record = copy_fixture(GENERATOR_VERSION, workspace)
    future = GENERATOR_VERSION + 1
    with h5py.File(path, "r+") as f:
        f.attrs.modify("generator_version", np.int64(future))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    listed = sorted(p.name for p in workspace.iterdir())

    with pytest.raises(DatasetFormatError) as refused:
        api.expand_dataset(path, 100)
    message = str(refused.value)
    assert f"generator version {future}" in message and "does not have" in message
    assert f"draws versions {', '.join(map(str, VERSIONS))}" in message
    done = subprocess.run([sys.executable, "-m", "heimdall_studio", "expand", str(path),
                           "--samples", "100"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"generator version {future}" in done.stderr
    assert "Traceback" not in done.stderr

    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in workspace.iterdir()) == listed  # no lock, no leftovers
    # still a readable dataset: listed, loaded and verified
    [entry] = api.list_datasets(workspace)
    assert entry.status == "ok" and entry.header.generator_version == future
    assert api.load_dataset(path).num_samples == record["num_samples"]
    assert verify_dataset(path).ok


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_fixture_files_open_and_list(workspace, version):
    # Written with h5py's libver="latest" under HDF5 2.0 (v200 objects), as released files
    # were: they must stay readable by every later release, whatever it writes.
    path, record = copy_fixture(version, workspace)
    with h5py.File(path, "r") as f:
        assert int(f.attrs["num_samples"]) == record["num_samples"]
        assert f["samples/snr_db"].shape[0] >= record["num_samples"]
    [entry] = api.list_datasets(workspace)
    assert entry.status == "ok", entry.error
    assert entry.header.num_samples == record["num_samples"]
    assert entry.header.generator_version == version
    _header, stats = api.dataset_stats(path)
    assert stats.num_samples == record["num_samples"]
    assert api.load_dataset(path, start=0, stop=10).arrays["tx_lat"].shape == (10,)
    assert verify_dataset(path).ok


# ---------------------------------------------------------------------------
# Heimdall Studio 0.1 files of earlier layouts. Every 0.1 build drew the same version 1
# samples, but its first builds wrote no /stats (added by 24b42ee) and no history
# checksum column (added by 56d1291); the fixture has both.


def test_a_01_file_without_running_histograms_expands_and_gets_them(workspace):
    path, record = copy_fixture(1, workspace)
    with h5py.File(path, "r+") as f:
        del f["stats"]
    api.expand_dataset(path, record["expand_by"])
    assert_samples_are(path, record)
    _, stats = api.dataset_stats(path)
    assert stats.num_samples == record["num_samples"] + record["expand_by"]
    with h5py.File(path, "r") as f:
        assert int(f["stats"].attrs["num_samples"]) == stats.num_samples
    assert verify_dataset(path).ok


def test_a_01_file_without_history_checksums_lists_verifies_and_expands(workspace):
    # The history of 0.1's first builds has no checksum column: its rows are read without
    # one (nothing to compare them with), and runs appended to such a file keep the
    # file's layout, so it stays readable by what wrote it.
    path, record = copy_fixture(1, workspace)
    with h5py.File(path, "r+", libver="latest") as f:  # as 0.1 wrote its files
        rows = f["history"][()]
        old = np.dtype([(name, rows.dtype[name]) for name in rows.dtype.names
                        if name != "checksum"])
        del f["history"]
        f.create_dataset("history", data=rows[list(old.names)].astype(old),
                         maxshape=(None,), chunks=(64,))
    [entry] = api.list_datasets(workspace)
    assert entry.status == "ok"
    assert [row.checksum for row in entry.header.history] == [None] * len(rows)
    report = verify_dataset(path)
    assert report.ok and "recorded no checksum" in next(
        c.detail for c in report.checks if c.name == "checksums")
    api.expand_dataset(path, record["expand_by"])
    assert_samples_are(path, record)
    with h5py.File(path, "r") as f:
        assert f["history"].dtype == old and len(f["history"]) == len(rows) + 1
    assert api.dataset_header(path).history[-1].count == record["expand_by"]
    assert verify_dataset(path).ok
    [entry] = api.list_datasets(workspace)  # and again from the listing index
    assert entry.header.history[-1].checksum is None
