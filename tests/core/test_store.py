"""The dataset file: layout readable by plain h5py, refusals, locking (docs/file-format.md)."""

import json

import h5py
import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.network import resolve_receivers
from heimdall_studio.core.dataset.locking import DatasetLock
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.errors import (
    DatasetBusyError,
    DatasetExistsError,
    DatasetFormatError,
    DatasetNotFoundError,
)
from heimdall_studio.core.terrain.grid import builtin_grid
from heimdall_studio.core.terrain.source import resolve_terrain
from heimdall_studio.core.tools.verify import verify_dataset


def test_layout_with_plain_h5py(workspace, small_config):
    api.create_dataset(small_config, 300, workspace)
    with h5py.File(workspace / "small.h5", "r") as f:
        assert f.attrs["format"] == "heimdall-studio-dataset"
        assert f.attrs["format_version"] == 1
        assert f.attrs["num_samples"] == 300
        assert json.loads(f.attrs["config_json"])["seed"] == 2024
        for key in ("name", "dataset_type", "frequency_mhz", "tx_power_dbm", "min_snr_db",
                    "min_receivers", "max_gdop", "inside_ratio", "seed"):
            assert f.attrs[key] == getattr(small_config, key), key
        assert f.attrs["created_utc"].endswith("Z") and f.attrs["app_version"]
        rx = f["receivers"][:]
        assert [n.decode() for n in rx["name"]][:2] == ["Aquila di Giaveno", "Montanaro"]
        assert rx.dtype.names == ("name", "lat", "lon", "alt_m", "noise_figure_db",
                                  "antenna_gain_dbi", "antenna_height_m", "antenna", "timing",
                                  "calibration_db", "oscillator_ppm", "noise_floor_sigma_db")
        assert [t.decode() for t in rx["antenna"]] == ["omni"] * 7
        # the calibration errors drawn at creation, as the stored config has them
        stored = json.loads(f.attrs["config_json"])["receivers"]
        assert list(rx["calibration_db"]) == [r["calibration_db"] for r in stored]
        assert np.isfinite(rx["calibration_db"]).all() and rx["calibration_db"].std() > 0
        s = f["samples"]
        shapes = {"tx_lat": ((300,), "f8"), "tx_lon": ((300,), "f8"),
                  "tx_alt_m": ((300,), "f8"), "frequency_hz": ((300,), "f8"),
                  "tx_power_dbm": ((300,), "f4"), "inside": ((300,), "bool"),
                  "gdop": ((300,), "f4"), "num_receivers_detected": ((300,), "u1"),
                  "mean_snr_db": ((300,), "f4"), "signal_present": ((300, 7), "bool"),
                  "snr_db": ((300, 7), "f4"), "rx_power_dbm": ((300, 7), "f4"),
                  "freq_offset_hz": ((300, 7), "f4"), "distance_km": ((300, 7), "f4")}
        for name, (shape, dtype) in shapes.items():
            assert s[name].shape == shape and s[name].dtype == np.dtype(dtype), name
            assert s[name].chunks is not None and s[name].maxshape[0] is None
            assert s[name].compression in ("gzip", None)
        assert (s["frequency_hz"][:] == 145e6).all()
        ground = s["tx_ground_m"][:]
        assert ground.dtype == np.float32 and ground.max() > 500  # the Alps are there
        assert np.allclose(s["tx_alt_m"][:], ground + 2.0, atol=1e-3)
        assert s["path_loss_db"].shape == s["line_of_sight"].shape == (300, 7)
        assert f["terrain/elevation"].dtype == np.float32
        history = f["history"][:]
        assert history["kind"][0] == b"create" and history["count"][0] == 300
        assert set(history.dtype.names) >= {
            "kind", "started_utc", "first_index", "count", "candidates",
            "rejected_too_few_receivers", "rejected_gdop", "duration_s", "app_version"}


def test_the_file_alone_reproduces_the_dataset(workspace, small_config, tmp_path):
    api.create_dataset(small_config, 200, workspace)
    config = read_header(workspace / "small.h5").config
    # the given config, with the elevation grid it was drawn over identified and the
    # receivers' errors drawn
    assert config == resolve_receivers(resolve_terrain(small_config)[0]) != small_config
    assert all(r.drawn for r in config.receivers)
    assert config.propagation.terrain.sha256 == builtin_grid().crop(
        *config.propagation.terrain.bounds).sha256
    other = tmp_path / "other"
    api.create_dataset(config, 200, other)
    a, b = api.load_dataset("small", workspace), api.load_dataset("small", other)
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a.arrays)


def test_create_never_overwrites(workspace, small_config):
    api.create_dataset(small_config, 50, workspace)
    before = (workspace / "small.h5").read_bytes()
    with pytest.raises(DatasetExistsError, match="already exists"):
        api.create_dataset(small_config, 50, workspace)
    assert (workspace / "small.h5").read_bytes() == before


@pytest.mark.parametrize("tamper, message", [
    (lambda f: f.attrs.modify("format", "something-else"), "not a Heimdall Studio dataset"),
    (lambda f: f.attrs.__delitem__("format"), "format attribute missing"),
    (lambda f: f.attrs.modify("format_version", 2), "format_version 2"),
    (lambda f: f.attrs.__setitem__("num_samples", "many"), "num_samples"),
    (lambda f: f.attrs.modify("num_samples", 10**6), "claims 1,000,000 samples"),
    (lambda f: f.attrs.modify("config_json", "{not json"), "invalid config"),
    (lambda f: f["samples"].__delitem__("gdop"), "lacks /samples/gdop"),
])
def test_foreign_newer_or_damaged_files_are_refused(workspace, small_config, tamper, message):
    api.create_dataset(small_config, 20, workspace)
    path = workspace / "small.h5"
    with h5py.File(path, "r+") as f:
        tamper(f)
    before = path.read_bytes()
    with pytest.raises(DatasetFormatError, match=message):
        read_header(path)
    with pytest.raises(DatasetFormatError):
        api.expand_dataset("small", 10, workspace)
    assert path.read_bytes() == before
    [entry] = api.list_datasets(workspace)
    assert entry.status == "unreadable" and message.split()[0] in entry.error


def test_stored_types_are_judged_as_numpy_sees_them(workspace, small_config):
    """A history stored with variable-length text and an extra column reads as before;
    a sample column in another byte order is refused."""
    api.create_dataset(small_config, 20, workspace)
    path = workspace / "small.h5"
    expected = read_header(path).history
    with h5py.File(path, "r+") as f:
        rows = f["history"][:]
        dtype = np.dtype([(k, h5py.string_dtype() if rows.dtype[k].kind == "S" else
                           rows.dtype[k]) for k in rows.dtype.names] + [("note", "i4")])
        other = np.zeros(rows.shape, dtype)
        for k in rows.dtype.names:
            other[k] = [v.decode() for v in rows[k]] if rows.dtype[k].kind == "S" else rows[k]
        del f["history"]
        f["history"] = other
    assert read_header(path).history == expected
    with h5py.File(path, "r+") as f:
        gdop = f["samples/gdop"][:]
        del f["samples/gdop"]
        f["samples/gdop"] = gdop.astype(">f4")
    with pytest.raises(DatasetFormatError, match=r"gdop .* has dtype >f4"):
        read_header(path)


def test_other_files_are_listed_as_unreadable(workspace, small_config):
    (workspace / "noise.h5").write_bytes(np.random.default_rng(0).bytes(5000))
    (workspace / "empty.h5").write_bytes(b"")
    with h5py.File(workspace / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    api.create_dataset(small_config, 10, workspace)
    entries = {e.name: e for e in api.list_datasets(workspace)}
    assert {k: e.status for k, e in entries.items()} == {
        "noise": "unreadable", "empty": "unreadable", "foreign": "unreadable", "small": "ok"}
    assert "not an HDF5 file" in entries["noise"].error
    assert "not a Heimdall Studio dataset" in entries["foreign"].error


def test_expanding_a_missing_dataset_writes_nothing(workspace):
    with pytest.raises(DatasetNotFoundError):
        api.expand_dataset("ghost", 10, workspace)
    assert list(workspace.iterdir()) == []


def test_one_writer_at_a_time(workspace, small_config):
    api.create_dataset(small_config, 10, workspace)
    path = workspace / "small.h5"
    with DatasetLock(path, "expand"):
        with pytest.raises(DatasetBusyError, match=r"being written by this process \(expand"):
            api.expand_dataset("small", 10, workspace)
        with pytest.raises(DatasetBusyError):
            api.delete_dataset("small", workspace)
    api.expand_dataset("small", 10, workspace)  # free again once released
    assert read_header(path).num_samples == 20


def test_readers_see_committed_samples_while_a_run_writes(workspace, small_config):
    run = api.create_run(small_config, 5000, workspace)
    next(run)
    seen = []
    for progress in run:
        seen.append((progress.total, read_header(progress.path).num_samples))
    assert all(total == on_disk for total, on_disk in seen)
    assert seen[-1][0] == 5000


def test_closing_a_run_keeps_what_was_committed(workspace, small_config):
    run = api.create_run(small_config, 10**6, workspace)
    for progress in run:
        if progress.done:
            break
    run.close()
    header = read_header(workspace / "small.h5")
    assert header.num_samples == progress.done > 0
    assert header.history[-1].count == progress.done
    assert verify_dataset(workspace / "small.h5").ok


def test_delete(workspace, small_config):
    api.create_dataset(small_config, 10, workspace)
    api.delete_dataset("small", workspace)
    assert api.list_datasets(workspace) == []


@pytest.mark.parametrize("policy", ["light", "full", "none"])
def test_compression_policies_store_the_same_samples(workspace, small_config, policy):
    config = small_config.replace(name=f"c-{policy}")
    api.create_dataset(config, 500, workspace, compression=policy)
    with h5py.File(workspace / f"c-{policy}.h5", "r") as f:
        filters = {k: f["samples"][k].compression for k in f["samples"]}
    expected = {"full": set(filters), "none": set(),
                "light": {"tx_alt_m", "frequency_hz", "tx_power_dbm", "inside",
                          "num_receivers_detected", "signal_present", "line_of_sight",
                          "tx_antenna"}}[policy]
    assert {k for k, v in filters.items() if v == "gzip"} == expected
    assert all(v in ("gzip", None) for v in filters.values())
    api.expand_dataset(config.name, 100, workspace)  # keeps the file's filters
    reference = api.create_dataset(config.replace(name="ref"), 600, workspace)
    a = api.load_dataset(config.name, workspace)
    b = api.load_dataset("ref", workspace)
    assert reference.total == a.num_samples == 600
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a.arrays)
    api.delete_dataset("ref", workspace)


def test_unknown_compression_is_bad_input(workspace, small_config):
    from heimdall_studio.core.errors import ConfigError

    with pytest.raises(ConfigError, match="compression"):
        api.create_dataset(small_config, 10, workspace, compression="zstd")
    assert list(workspace.iterdir()) == []


def test_running_statistics_cover_every_sample(workspace, small_config):
    from heimdall_studio.core.dataset import stats
    from heimdall_studio.core.dataset.stats import read_stored_histograms

    api.create_dataset(small_config, 700, workspace)
    api.expand_dataset("small", 300, workspace)
    header, current = api.dataset_stats("small", workspace)
    data = api.load_dataset("small", workspace)
    expected = stats.block_histograms(stats.histogram_edges(header.config), data.arrays)
    assert current.num_samples == 1000
    for name in stats.HISTOGRAMS:
        assert np.array_equal(current.counts[name], expected[name]), name
    assert current.counts["gdop"].sum() == 1000
    assert current.counts["snr_db"].sum() == data["signal_present"].sum()
    assert read_stored_histograms(workspace / "small.h5")[1] is not None

    # statistics out of step with num_samples (a commit interrupted between the two):
    # readers show them for what they cover, the next run rebuilds them
    with h5py.File(workspace / "small.h5", "r+") as f:
        f["stats/gdop"][...] = 0
        f["stats"].attrs["num_samples"] = 999
    assert read_stored_histograms(workspace / "small.h5")[1] is None
    assert api.dataset_stats("small", workspace)[1].num_samples == 999
    assert verify_dataset(workspace / "small.h5").ok
    api.expand_dataset("small", 10, workspace)
    assert read_stored_histograms(workspace / "small.h5")[1].counts["gdop"].sum() == 1010

    # a file without usable statistics is scanned instead
    with h5py.File(workspace / "small.h5", "r+") as f:
        del f["stats"]
    data = api.load_dataset("small", workspace)
    rebuilt = api.dataset_stats("small", workspace)[1]
    assert rebuilt.num_samples == 1010
    assert np.array_equal(rebuilt.counts["gdop"], stats.histogram(
        data["gdop"], stats.gdop_edges(header.config)))
    api.expand_dataset("small", 10, workspace)  # and the next run restores them
    assert read_stored_histograms(workspace / "small.h5")[1].counts["gdop"].sum() == 1020
    assert verify_dataset(workspace / "small.h5").ok


def test_statistics_caught_mid_update_are_read_again_not_recounted(workspace, small_config,
                                                                   monkeypatch):
    from heimdall_studio.core.dataset import stats

    api.create_dataset(small_config, 1000, workspace)
    path = workspace / "small.h5"
    with h5py.File(path, "r+") as f:
        f["stats"].attrs["num_samples"] = stats.STATS_UPDATING  # a commit under way
    waits = []

    def commit_finishes_meanwhile(seconds):
        waits.append(seconds)
        if len(waits) == 2:
            with h5py.File(path, "r+") as f:
                f["stats"].attrs["num_samples"] = 1000

    monkeypatch.setattr(stats.time, "sleep", commit_finishes_meanwhile)
    monkeypatch.setattr(stats, "count_histograms",
                        lambda *args: pytest.fail("scanned instead of read again"))
    assert api.dataset_stats("small", workspace)[1].num_samples == 1000
    assert len(waits) == 2

    # a writer that died mid-update leaves the mark: after a few looks, the file is scanned
    monkeypatch.undo()
    with h5py.File(path, "r+") as f:
        f["stats"].attrs["num_samples"] = stats.STATS_UPDATING
    monkeypatch.setattr(stats, "STATS_UPDATE_WAIT_S", 0.001)
    _header, rebuilt = api.dataset_stats("small", workspace)
    assert rebuilt.num_samples == 1000 and rebuilt.counts["gdop"].sum() == 1000


def test_verify_catches_tampered_samples_and_statistics(workspace, small_config):
    api.create_dataset(small_config, 300, workspace)
    path = workspace / "small.h5"
    with h5py.File(path, "r+") as f:
        f["samples/frequency_hz"][5] = 145.5e6
        f["samples/gdop"][7] = 50.0
        snr = f["samples/snr_db"]
        row = snr[9]
        row[np.isnan(row)] = 20.0  # a "measurement" where no signal was detected
        snr[9] = row
        f["stats/num_receivers_detected"][3] += 1
    report = verify_dataset(path)
    failed = {c.name for c in report.checks if not c.ok}
    assert {"parameters", "filters", "detection pattern", "statistics"} <= failed
    assert not report.ok


def test_history_checksums_detect_altered_samples(workspace, small_config):
    api.create_dataset(small_config, 300, workspace)
    api.expand_dataset("small", 200, workspace)
    path = workspace / "small.h5"
    report = verify_dataset(path)
    assert report.ok and next(c for c in report.checks if c.name == "checksums").ok
    with h5py.File(path, "r") as f:
        assert all(f["history"]["checksum"] != 0)
    # flip one bit of one float in the expansion's rows: every other check still passes
    with h5py.File(path, "r+") as f:
        lat = f["samples/tx_lat"]
        value = np.array([lat[400]])
        value.view(np.uint64)[0] ^= 1
        lat[400] = value[0]
    report = verify_dataset(path)
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert list(failed) == ["checksums"]
    assert "samples 300-499 (run 1)" in failed["checksums"]


def test_expansion_waits_for_a_reader_in_the_same_process(workspace, small_config):
    """HDF5 refuses a read-write open while this process has the file open read-only
    (the app's browser reading it, say): the writer waits for the reader to finish."""
    import threading

    api.create_dataset(small_config, 100, workspace)
    path = workspace / "small.h5"
    reader = h5py.File(path, "r", locking=False)
    closer = threading.Timer(0.3, reader.close)
    closer.start()
    try:
        api.expand_dataset("small", 50, workspace)
    finally:
        closer.join()
    assert read_header(path).num_samples == 150


def test_compiled_histograms_count_exactly_as_the_definition():
    """A run counts with sampling.histograms, readers and verify recount with the numpy
    definition in dataset.stats: any difference would make verify report damage."""
    from heimdall_studio.core.config.model import make_config
    from heimdall_studio.core.dataset import stats
    from heimdall_studio.core.sampling.histograms import histogram as compiled

    edges = stats.histogram_edges(make_config("h", seed=1))
    rng = np.random.default_rng(7)
    n, rx = 20_000, 7
    present = rng.random((n, rx)) < 0.4
    snr = rng.normal(20, 25, (n, rx)).astype("f4")  # beyond both ends of the bins
    snr[~present] = np.nan
    snr[0, :3] = [np.inf, -np.inf, edges["snr_db"][0]]  # infinities, a value on an edge
    arrays = {"signal_present": present, "snr_db": snr,
              "gdop": (rng.random(n) * 12).astype("f4"),
              "num_receivers_detected": rng.integers(0, rx + 1, n).astype("u1"),
              "distance_km": (rng.random((n, rx)) * 400).astype("f4")}
    numpy_counts = stats.block_histograms(edges, arrays)
    compiled_counts = stats.block_histograms(edges, arrays, compiled)
    for name in stats.HISTOGRAMS:
        assert numpy_counts[name].dtype == compiled_counts[name].dtype == np.int64
        assert np.array_equal(numpy_counts[name], compiled_counts[name]), name
    finite = np.isfinite(snr) & present
    assert numpy_counts["snr_db"].sum() == finite.sum()  # every finite value lands in a bin
