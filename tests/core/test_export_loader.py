"""Export to CSV/NPZ and the training-batch loader."""

import csv
import os

import numpy as np
import pytest

from heimdall_studio import cli
from heimdall_studio.core import api
from heimdall_studio.core.errors import ConfigError, DatasetExistsError
from heimdall_studio.core.tools import export as export_module
from heimdall_studio.core.tools.export import export_dataset
from heimdall_studio.core.tools.loader import BatchLoader, runs_split, shuffled_split


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
    assert x.shape == (560, 21) and x.dtype == np.float32 and not np.isnan(x).any()
    # each target row is a training sample, each exactly once, with its own features
    positions = zip(data["tx_lat"], data["tx_lon"], strict=True)
    index_of = {(a, b): i for i, (a, b) in enumerate(positions)}
    seen = [index_of[tuple(row)] for row in y]
    assert sorted(seen) == list(train)
    assert seen != sorted(seen)  # shuffled
    k = seen[0]
    expected = np.concatenate([np.nan_to_num(data["snr_db"][k]),
                               np.nan_to_num(data["freq_offset_hz"][k]),
                               data["signal_present"][k]]).astype(np.float32)
    assert np.array_equal(x[0], expected)
    again = [b[1] for b in BatchLoader(dataset, train, batch_size=50, shuffle=True, seed=3)]
    assert np.array_equal(np.concatenate(again), y)  # reproducible


def test_runs_split_holds_out_the_expansion(dataset):
    header = api.dataset_header(dataset)
    train, held = runs_split(header, [1])
    assert list(held) == list(range(500, 700)) and list(train) == list(range(500))
    loader = BatchLoader(dataset, held, batch_size=64, features=("gdop", "mean_snr_db"),
                         target=("tx_lat", "tx_lon", "tx_alt_m"))
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
