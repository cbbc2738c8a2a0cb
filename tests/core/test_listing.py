"""Listing a workspace: entries come as they are known, and headers are read again
exactly when a file may have changed."""

import json
import os

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.errors import DatasetFormatError, PathError
from heimdall_studio.core.workspace import index, listing


@pytest.fixture
def reads(monkeypatch):
    """Paths whose header the listing read from the file."""
    read = []
    real = listing.read_header

    def counting(path, **options):
        read.append(path.name)
        return real(path, **options)

    monkeypatch.setattr(listing, "read_header", counting)
    return read


@pytest.fixture
def settled(monkeypatch):
    """Files count as settled at once (they are seconds old otherwise)."""
    monkeypatch.setattr(listing, "SETTLE_NS", 0)


def new_process():
    """Forget what this process remembers, as if the app started again."""
    index._indexes.clear()


def make(workspace, *names):
    for name in names:
        api.create_dataset(name, 50, workspace, seed=1, chunk_size=64)


def test_entries_come_as_they_are_known_remembered_files_first(workspace, reads, settled):
    make(workspace, "a", "c")
    api.list_datasets(workspace)
    make(workspace, "b")
    entries = listing.iter_workspace(workspace)
    assert [next(entries).name, next(entries).name] == ["a", "c"]  # from the index
    assert reads == ["a.h5", "c.h5"]  # nothing more read yet
    assert next(entries).name == "b" and reads[2:] == ["b.h5"]
    assert list(entries) == []
    # The full listing is by name, whatever order the entries came in.
    assert [e.name for e in api.list_datasets(workspace)] == ["a", "b", "c"]


def test_files_are_read_one_by_one_and_a_listing_closed_early_keeps_what_it_read(
        workspace, reads, settled):
    make(workspace, "a", "b", "c")
    entries = listing.iter_workspace(workspace)
    assert next(entries).name == "a" and reads == ["a.h5"]
    entries.close()
    new_process()
    assert [e.status for e in api.list_datasets(workspace)] == ["ok"] * 3
    assert reads == ["a.h5", "b.h5", "c.h5"]  # a came from the index


def test_unchanged_files_are_not_read_again_even_after_a_restart(workspace, reads, settled):
    make(workspace, "a", "b")
    first = api.list_datasets(workspace)
    assert sorted(reads) == ["a.h5", "b.h5"]
    assert api.list_datasets(workspace) == first
    new_process()
    again = api.list_datasets(workspace)
    assert sorted(reads) == ["a.h5", "b.h5"]
    assert [(e.path, e.header) for e in again] == [(e.path, e.header) for e in first]
    assert again[0].header.config == first[0].header.config
    assert again[0].header.history == first[0].header.history
    assert again[0].header.generator_version == first[0].header.generator_version


def test_a_file_changed_in_place_is_read_again_whatever_its_mtime(workspace, reads, settled):
    make(workspace, "a")
    path = workspace / "a.h5"
    api.list_datasets(workspace)
    before = os.stat(path)
    with h5py.File(path, "r+") as f:  # same size, then the old modification time back
        f.attrs.modify("num_samples", 49)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    new_process()
    [entry] = api.list_datasets(workspace)
    assert reads == ["a.h5", "a.h5"] and entry.header.num_samples == 49


def test_replaced_and_removed_files_are_read_again_or_dropped(workspace, reads, settled):
    make(workspace, "a", "b")
    api.list_datasets(workspace)
    (workspace / "b.h5").unlink()
    (workspace / "a.h5").write_bytes(b"not a dataset")
    new_process()
    [entry] = api.list_datasets(workspace)
    assert entry.status == "unreadable" and reads.count("a.h5") == 2


def test_files_changed_moments_ago_are_not_remembered(workspace, reads):
    make(workspace, "a")
    api.list_datasets(workspace)
    api.list_datasets(workspace)
    assert reads == ["a.h5", "a.h5"]
    assert not any(index.cache_dir().glob("listings/*.json"))


def test_damaged_files_are_listed_with_the_reason(workspace, settled):
    make(workspace, "good", "samples")
    (workspace / "junk.h5").write_bytes(b"junk")
    with h5py.File(workspace / "samples.h5", "r+") as f:  # the header is fine
        del f["samples/gdop"]
        f["samples/gdop"] = np.zeros(50, "i4")
    entries = {e.name: e for e in api.list_datasets(workspace)}
    assert entries["junk"].status == "unreadable" and "junk.h5" in entries["junk"].error
    assert entries["good"].status == "ok" and entries["good"].error is None
    # A listing reads headers: damaged samples are refused where samples are read.
    assert entries["samples"].status == "ok"
    with pytest.raises(DatasetFormatError, match="/samples/gdop"):
        api.dataset_stats(workspace / "samples.h5")


def test_unreadable_files_are_never_vouched_for_by_the_index(workspace, reads, settled):
    make(workspace, "a")
    (workspace / "junk.h5").write_bytes(b"junk")
    api.list_datasets(workspace)
    api.list_datasets(workspace)
    assert reads.count("junk.h5") == 1  # remembered in this process
    new_process()
    entries = {e.name: e for e in api.list_datasets(workspace)}
    assert entries["junk"].status == "unreadable" and reads.count("junk.h5") == 2


@pytest.mark.parametrize("damage", [
    lambda text: "{{{",
    lambda text: text.replace('"app_version"', '"old_app_version"', 1),
    lambda text: text.replace('"version":2', '"version":1', 1),
    lambda text: text.replace('\\"seed\\"', '\\"evil\\"'),  # a config that fails validation
    lambda text: text.replace('"num_samples":50', '"num_samples":"50"'),
    lambda text: text.replace('"checksum":', '"sum":'),
    lambda text: text.replace('"first_index":0', '"first_index":0.0', 1),
])
def test_a_damaged_or_foreign_index_is_ignored(workspace, reads, settled, damage):
    make(workspace, "a")
    expected = api.list_datasets(workspace)
    [file] = index.cache_dir().glob("listings/*.json")
    damaged = damage(file.read_text())
    file.write_text(damaged)
    new_process()
    assert api.list_datasets(workspace) == expected
    assert reads == ["a.h5", "a.h5"]
    assert json.loads(file.read_text())  # and it was written again whole


def test_listing_works_without_a_writable_cache(workspace, reads, settled, monkeypatch,
                                                tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(tmp_path / "not-a-folder"))
    make(workspace, "a")
    [entry] = api.list_datasets(workspace)
    assert entry.status == "ok"


def test_a_missing_workspace_is_empty_and_a_file_is_no_workspace(tmp_path):
    assert api.list_datasets(tmp_path / "missing") == []
    (tmp_path / "file").write_text("")
    with pytest.raises(PathError, match="is a file, not a folder"):
        next(listing.iter_workspace(tmp_path / "file"))
