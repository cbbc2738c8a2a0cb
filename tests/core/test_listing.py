"""Listing a workspace: headers are read again exactly when a file may have changed."""

import json
import os

import h5py
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.workspace import listing


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
    listing._indexes.clear()


def make(workspace, *names):
    for name in names:
        api.create_dataset(name, 50, workspace, seed=1, chunk_size=64)


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
    assert not any(listing.cache_dir().glob("listings/*.json"))


def test_unreadable_files_are_never_vouched_for_by_the_index(workspace, reads, settled):
    make(workspace, "a")
    (workspace / "junk.h5").write_bytes(b"junk")
    api.list_datasets(workspace)
    new_process()
    entries = {e.name: e for e in api.list_datasets(workspace)}
    assert entries["junk"].status == "unreadable" and reads.count("junk.h5") == 2


@pytest.mark.parametrize("damage", [
    lambda text: "{{{",
    lambda text: text.replace('"app_version"', '"old_app_version"', 1),
    lambda text: text.replace('\\"seed\\"', '\\"evil\\"'),  # a config that fails validation
    lambda text: text.replace('"num_samples":50', '"num_samples":"50"'),
])
def test_a_damaged_or_foreign_index_is_ignored(workspace, reads, settled, damage):
    make(workspace, "a")
    expected = api.list_datasets(workspace)
    [index] = listing.cache_dir().glob("listings/*.json")
    index.write_text(damage(index.read_text()))
    new_process()
    assert api.list_datasets(workspace) == expected
    assert reads == ["a.h5", "a.h5"]
    json.loads(index.read_text())  # and it was written again whole


def test_listing_works_without_a_writable_cache(workspace, reads, settled, monkeypatch,
                                                tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(tmp_path / "not-a-folder"))
    make(workspace, "a")
    [entry] = api.list_datasets(workspace)
    assert entry.status == "ok"


@pytest.fixture
def parallel(monkeypatch):
    """Listings of four files or more share them with one worker process."""
    monkeypatch.setattr(listing, "PARALLEL_FROM_FILES", 4)
    monkeypatch.setattr(listing, "BATCH_FILES", 2)
    monkeypatch.setattr(listing, "_worker_count", lambda files: 1 if files >= 4 else 0)


def test_a_listing_shared_with_a_worker_process_is_the_same(workspace, parallel, caplog):
    make(workspace, *"abcdefg")
    (workspace / "h.h5").write_bytes(b"not a dataset")
    entries = api.list_datasets(workspace)
    assert "listing worker failed" not in caplog.text
    assert [e.name for e in entries] == list("abcdefgh")
    assert [e.status for e in entries] == ["ok"] * 7 + ["unreadable"]
    assert [e.header.num_samples for e in entries[:7]] == [50] * 7
    assert entries == listing._read_batch([e.path for e in entries])


def test_files_a_listing_worker_fails_to_read_are_read_here(workspace, parallel, caplog,
                                                           monkeypatch):
    make(workspace, *"abcd")
    monkeypatch.setattr("sys.executable", "/bin/false")  # a worker that dies
    entries = api.list_datasets(workspace)
    assert "listing worker failed" in caplog.text
    assert [(e.name, e.status) for e in entries] == [(n, "ok") for n in "abcd"]


@pytest.fixture
def workers_started(monkeypatch):
    """Every listing worker started, spare or not."""
    started = []
    real = listing._Worker.__init__

    def counting(self):
        started.append(self)
        real(self)

    monkeypatch.setattr(listing._Worker, "__init__", counting)
    yield started
    listing._discard_spare()


def test_a_spare_worker_serves_the_first_listing_that_wants_a_worker(
        workspace, parallel, settled, workers_started, caplog, monkeypatch):
    make(workspace, *"abcdef")
    listing.start_spare_worker(workspace)
    [spare] = workers_started
    batches = [[workspace / f"{name}.h5" for name in pair] for pair in ("ab", "cd", "ef")]
    expected = [listing._read_batch(batch) for batch in batches]
    read_here = []
    monkeypatch.setattr(listing, "_read_batch", read_here.append)
    done = listing._read_batches(batches, workers=1, read_here=False)
    assert "listing worker failed" not in caplog.text and read_here == []
    assert workers_started == [spare]  # it read them all; no other worker was started
    assert done == expected
    assert spare.child.process.wait(timeout=10) == 0  # one listing, then it ended
    assert listing._take_spare() is None


def test_a_spare_worker_starts_only_for_many_files_no_index_has_seen(
        workspace, parallel, settled, workers_started):
    make(workspace, *"abc")
    listing.start_spare_worker(workspace)
    assert workers_started == []  # fewer files than a listing shares with workers
    make(workspace, "d")
    listing.start_spare_worker(workspace)
    [spare] = workers_started  # enough files, and no index yet
    api.list_datasets(workspace)  # takes it, and writes the index
    assert listing._take_spare() is None
    listing.start_spare_worker(workspace)
    assert workers_started == [spare]  # the index is newer than the folder's last change


def test_a_listing_that_wants_no_worker_ends_the_spare(workspace, parallel, settled,
                                                       workers_started):
    make(workspace, *"abcd")
    listing.start_spare_worker(workspace)
    [spare] = workers_started
    [entry] = listing.read_entries([workspace / "a.h5"])
    assert entry.status == "ok"
    assert spare.child.process.wait(timeout=10) is not None
    assert listing._take_spare() is None
