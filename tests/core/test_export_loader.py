"""Export to CSV/NPZ/Parquet and the training-batch loader."""

import csv
import os

import numpy as np
import pytest

from heimdall_studio import cli
from heimdall_studio.core import api
from heimdall_studio.core.config import geo
from heimdall_studio.core.config.fields import (
    CONSTANT_FIELDS,
    MEASUREMENT_FIELDS,
    SAMPLE_FIELDS,
    TRUTH_FIELDS,
)
from heimdall_studio.core.errors import ConfigError, DatasetExistsError, ExportError
from heimdall_studio.core.tools import export as export_module
from heimdall_studio.core.tools.export import (
    PARQUET_CONFIG_KEY,
    PARQUET_HINT,
    ExportCancelled,
    export_dataset,
)
from heimdall_studio.core.tools.loader import (
    BatchLoader,
    fit_scaling,
    from_local_km,
    runs_split,
    shuffled_split,
    to_local_km,
)


@pytest.fixture
def dataset(workspace, small_config, monkeypatch):
    api.create_dataset(small_config, 500, workspace)
    api.expand_dataset("small", 200, workspace)
    monkeypatch.setattr(export_module, "SLAB_ROWS", 128)  # several slabs: streaming
    return workspace / "small.h5"


def test_npz_export_matches_the_file(dataset):
    out = export_dataset(dataset, "npz")
    assert out == dataset.with_suffix(".npz")
    data = api.load_dataset(dataset)
    with np.load(out, allow_pickle=False) as npz:
        assert list(npz["receivers"]) == [r.name for r in data.config.receivers]
        for key, values in data.arrays.items():
            assert npz[key].dtype == values.dtype
            assert np.array_equal(npz[key], values, equal_nan=True), key


def test_csv_export_round_trips(dataset, tmp_path):
    out = export_dataset(dataset, "csv", tmp_path / "out.csv")
    data = api.load_dataset(dataset)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 700
    assert rows[10]["index"] == "10"
    assert float(rows[10]["tx_lat"]) == pytest.approx(data["tx_lat"][10], abs=1e-8)
    i = int(np.argmin(data["signal_present"][:, 0]))  # a receiver that did not detect
    assert rows[i]["snr_db[Aquila di Giaveno]"] == ""
    assert rows[i]["signal_present[Aquila di Giaveno]"] == "0"
    j = int(np.argmax(data["signal_present"][:, 0]))
    assert float(rows[j]["snr_db[Aquila di Giaveno]"]) == pytest.approx(
        data["snr_db"][j, 0], abs=1e-4)


def test_parquet_export_holds_every_value_in_row_groups(dataset, tmp_path):
    import pyarrow.parquet as pq  # the test extra installs it
    reported = []
    out = export_dataset(dataset, "parquet", tmp_path / "small.parquet",
                         lambda done, total: reported.append((done, total)))
    data = api.load_dataset(dataset)
    receivers = [r.name for r in data.config.receivers]
    parquet = pq.ParquetFile(out)
    assert parquet.metadata.num_row_groups == 6  # 700 samples in slabs of 128: streamed
    assert parquet.schema_arrow.metadata[PARQUET_CONFIG_KEY].decode() == \
        data.header.config_json
    table = parquet.read()
    assert table.num_rows == 700 and table.column_names[:3] == ["index", "tx_lat", "tx_lon"]
    assert table.column("index").to_numpy().tolist() == list(range(700))
    for key, values in data.arrays.items():
        if values.ndim == 1:
            column = table.column(key).to_numpy()
            assert column.dtype == values.dtype and np.array_equal(column, values,
                                                                   equal_nan=True), key
            continue
        for r, name in enumerate(receivers):
            column = table.column(f"{key}[{name}]").to_numpy()
            assert column.dtype == values.dtype, key
            assert np.array_equal(column, values[:, r], equal_nan=True), (key, name)
    assert reported[0] == (0, 700) and reported[-1] == (700, 700)
    assert [d for d, _ in reported] == sorted(d for d, _ in reported)


def test_parquet_without_pyarrow_says_how_to_get_it(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "parquet_available", lambda: False)
    with pytest.raises(ExportError, match="pip install 'heimdall-studio\\[parquet\\]'") as err:
        export_dataset(dataset, "parquet", tmp_path / "x.parquet")
    assert str(err.value) == PARQUET_HINT
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("fmt", ["csv", "npz", "parquet"])
def test_a_stopped_export_leaves_no_file(dataset, tmp_path, fmt):
    asked = []

    def stop_after_two_slabs() -> bool:
        asked.append(True)
        return len(asked) > 2

    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ExportCancelled, match="cancelled"):
        export_dataset(dataset, fmt, folder / f"stopped.{fmt}",
                       stop_requested=stop_after_two_slabs)
    assert len(asked) == 3 and os.listdir(folder) == []


def test_export_refuses_to_overwrite_and_bad_formats(dataset):
    export_dataset(dataset, "npz")
    with pytest.raises(DatasetExistsError):
        export_dataset(dataset, "npz")
    with pytest.raises(ConfigError):
        export_dataset(dataset, "xlsx")


def test_export_command(dataset, capsys):
    assert cli.main(["export", str(dataset), "--format", "csv"]) == 0
    assert dataset.with_suffix(".csv").exists()
    assert cli.main(["export", str(dataset), "--format", "csv"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["export", str(dataset), "--format", "parquet"]) == 0
    assert dataset.with_suffix(".parquet").exists()


def test_loader_yields_every_split_sample_once(dataset, monkeypatch):
    from heimdall_studio.core.tools import loader as loader_module

    monkeypatch.setattr(loader_module, "SLAB_ROWS", 64)
    train, test = shuffled_split(700, (0.8, 0.2), seed=1)
    assert len(train) == 560 and len(test) == 140 and not set(train) & set(test)
    data = api.load_dataset(dataset)
    batches = list(BatchLoader(dataset, train, batch_size=50, shuffle=True, seed=3))
    assert [len(x) for x, _ in batches] == [50] * 11 + [10]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.shape == (560, 14) and x.dtype == np.float32 and not np.isnan(x).any()
    # each target row is a training sample, each exactly once, with its own features
    positions = zip(data["tx_lat"], data["tx_lon"], strict=True)
    index_of = {(a, b): i for i, (a, b) in enumerate(positions)}
    seen = [index_of[tuple(row)] for row in y]
    assert sorted(seen) == list(train)
    assert seen != sorted(seen)  # shuffled
    k = seen[0]
    expected = np.concatenate([np.nan_to_num(data["snr_db"][k]),
                               data["signal_present"][k]]).astype(np.float32)
    assert np.array_equal(x[0], expected)
    again = [b[1] for b in BatchLoader(dataset, train, batch_size=50, shuffle=True, seed=3)]
    assert np.array_equal(np.concatenate(again), y)  # reproducible


def test_runs_split_holds_out_the_expansion(dataset):
    header = api.dataset_header(dataset)
    train, held = runs_split(header, [1])
    assert list(held) == list(range(500, 700)) and list(train) == list(range(500))
    loader = BatchLoader(dataset, held, batch_size=64, features=("gdop", "mean_snr_db"),
                         target=("tx_lat", "tx_lon", "tx_alt_m"), allow_truth=True)
    assert len(loader) == 4
    x, y = next(iter(loader))
    assert x.shape == (64, 2) and y.shape == (64, 3)


@pytest.mark.parametrize("fmt", ["csv", "npz"])
def test_export_never_writes_through_a_link_planted_at_its_target(workspace, small_config,
                                                                 fmt):
    path = api.create_dataset(small_config, 300, workspace).path
    outside = workspace.parent / f"victim.{fmt}"  # does not exist: a dangling link
    target = workspace / f"planted.{fmt}"
    os.symlink(outside, target)
    with pytest.raises(DatasetExistsError):
        export_dataset(path, fmt, target)
    assert not outside.exists() and target.is_symlink()
    assert sorted(p.name for p in workspace.iterdir()) == sorted(
        [".small.h5.lock", "small.h5", f"planted.{fmt}"])


def test_every_field_is_a_measurement_truth_or_a_constant():
    assert set(SAMPLE_FIELDS) == MEASUREMENT_FIELDS | TRUTH_FIELDS | CONSTANT_FIELDS
    assert not MEASUREMENT_FIELDS & TRUTH_FIELDS


def test_truth_is_refused_as_a_feature_unless_asked(dataset):
    for leak in ("gdop", "distance_km", "inside", "path_loss_db", "line_of_sight"):
        with pytest.raises(ValueError, match=f"'{leak}' is ground truth"):
            BatchLoader(dataset, features=("snr_db", leak))
    loader = BatchLoader(dataset, features=("snr_db", "gdop"), allow_truth=True)
    assert loader.feature_width == 8
    with pytest.raises(KeyError, match="not a sample field"):
        BatchLoader(dataset, features=("snr_db", "no_such_field"))


def test_repeated_indices_are_read_as_often_as_given(dataset):
    data = api.load_dataset(dataset)
    loader = BatchLoader(dataset, np.array([5, 3, 3, 1, 3]), batch_size=10)
    [(_, y)] = list(loader)
    assert len(loader) == 1 and len(y) == 5
    rows = [int(np.flatnonzero(data["tx_lat"] == lat)[0]) for lat in y[:, 0]]
    assert rows == [1, 3, 3, 3, 5]


def test_a_peek_does_not_use_up_an_epoch(dataset, monkeypatch):
    from heimdall_studio.core.tools import loader as loader_module

    monkeypatch.setattr(loader_module, "SLAB_ROWS", 64)

    def epochs(loader, count):
        return [np.concatenate([y for _, y in loader]) for _ in range(count)]

    fresh = epochs(BatchLoader(dataset, batch_size=50, shuffle=True, seed=4), 2)
    peeked = BatchLoader(dataset, batch_size=50, shuffle=True, seed=4)
    x, _ = next(iter(peeked))
    assert x.shape == (50, 14)
    again = epochs(peeked, 2)
    assert all(np.array_equal(a, b) for a, b in zip(fresh, again, strict=True))
    assert not np.array_equal(fresh[0], fresh[1])  # each epoch its own order
    peeked.set_epoch(1)
    assert np.array_equal(epochs(peeked, 1)[0], fresh[1])


def test_features_are_scaled_by_the_fitted_mean_and_spread(dataset):
    train = BatchLoader(dataset, batch_size=128)
    mean, spread = fit_scaling(train)
    scaled = BatchLoader(dataset, batch_size=128, feature_scaling=(mean, spread))
    x = np.concatenate([b for b, _ in scaled]).astype(np.float64)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-4)
    varying = x.std(axis=0) > 0
    assert np.allclose(x.std(axis=0)[varying], 1, atol=1e-3)
    with pytest.raises(ValueError, match="one per feature column"):
        BatchLoader(dataset, feature_scaling=(mean[:3], spread[:3]))


def test_targets_in_km_keep_distances_and_bearings(dataset):
    data = api.load_dataset(dataset)
    loader = BatchLoader(dataset, batch_size=1000, target_frame="km")
    lat0, lat1, lon0, lon1 = geo.receiver_box(data.config)
    assert loader.origin == ((lat0 + lat1) / 2, (lon0 + lon1) / 2)
    [(_, y)] = list(loader)
    lat, lon = data["tx_lat"], data["tx_lon"]
    distance = np.array([geo.haversine_km(*loader.origin, a, b) for a, b in zip(lat, lon,
                                                                                 strict=True)])
    assert np.allclose(np.hypot(y[:, 0], y[:, 1]), distance, rtol=1e-9, atol=1e-6)
    assert ((y[:, 0] > 0) == (lon > loader.origin[1])).all()  # east of the origin
    assert ((y[:, 1] > 0) == (lat > loader.origin[0])).all()
    back = from_local_km(y[:, 0], y[:, 1], loader.origin)
    assert np.allclose(back[0], lat, atol=1e-9) and np.allclose(back[1], lon, atol=1e-9)
    east, north = to_local_km(45.0, 8.0, (45.0, 8.0))
    assert east == pytest.approx(0) and north == pytest.approx(0)


def test_arrival_times_are_fed_relative_to_the_first_arrival(tmp_path):
    receivers = [{**r.to_dict(), "timing": "gps"} for r in api.make_config("r", seed=0).receivers]
    config = api.make_config("timed", seed=12, receivers=receivers, chunk_size=256,
                             propagation={"terrain": {"source": "none"}})
    path = api.create_dataset(config, 500, tmp_path).path
    data = api.load_dataset(path)
    toa, present = data["toa_ns"], data["signal_present"]
    loader = BatchLoader(path, features=("toa_ns",), batch_size=500)
    [(x, _)] = list(loader)
    first = np.nanmin(toa, axis=1, keepdims=True)
    expected = np.where(present, toa - first, 0.0)  # nan_value where not heard
    # differences of hundreds of microseconds survive float32 to a fraction of a
    # nanosecond (absolute times near 1e9 ns would keep only 64 ns)
    assert (np.abs(x - expected) <= 1e-7 * np.abs(expected) + 1e-3).all()
    assert (x[present] >= 0).all() and (x.min(axis=1) == 0).all()
