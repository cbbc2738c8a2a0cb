"""Expansion inherits everything from the file (docs/generation.md, Expansion), through
every public path."""

import inspect
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from heimdall_studio import cli
from heimdall_studio.core import api
from heimdall_studio.core.tools.verify import verify_dataset

UHF = dict(frequency_mhz=430.0, tx_power_dbm=40.0, min_snr_db=5.0, max_gdop=8.0,
           inside_ratio=0.8)
UHF_FLAGS = ["--frequency-mhz", "430", "--tx-power-dbm", "40", "--min-snr-db", "5",
             "--max-gdop", "8", "--inside-ratio", "0.8"]


def snapshot(path):
    with h5py.File(path, "r") as f:
        return f.attrs["config_json"], int(f.attrs["num_samples"])


def assert_uhf_dataset(path, n):
    data = api.load_dataset(path)
    assert data.num_samples == n
    assert (data["frequency_hz"] == 430e6).all()
    assert (data["tx_power_dbm"] == np.float32(40.0)).all()
    assert (data["snr_db"][data["signal_present"]] >= 5.0).all()
    assert (data["gdop"] <= 8.0).all()
    assert (data["num_receivers_detected"] >= 3).all()
    assert verify_dataset(path).ok


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "heimdall_studio", *args],
                          capture_output=True, text=True, timeout=300)


def test_regression_430_mhz_dataset_stays_430_mhz_through_the_api(workspace):
    api.create_dataset("uhf", 100, workspace, seed=11, **UHF)
    config_before, _ = snapshot(workspace / "uhf.h5")
    api.expand_dataset("uhf", 50, workspace)
    assert_uhf_dataset(workspace / "uhf.h5", 150)
    assert snapshot(workspace / "uhf.h5") == (config_before, 150)
    assert [r.kind for r in api.dataset_header("uhf", workspace).history] == [
        "create", "expand"]


def test_regression_through_the_command_line(workspace):
    result = run_cli("create", "uhf", "--samples", "100", *UHF_FLAGS, "--workspace",
                     str(workspace))
    assert result.returncode == 0, result.stderr
    config_before, _ = snapshot(workspace / "uhf.h5")
    result = run_cli("expand", "uhf", "--samples", "50", "--workspace", str(workspace))
    assert result.returncode == 0, result.stderr
    assert_uhf_dataset(workspace / "uhf.h5", 150)
    assert snapshot(workspace / "uhf.h5") == (config_before, 150)
    before = (workspace / "uhf.h5").read_bytes()
    for flags in (["--frequency-mhz", "145"], ["--frequency-mhz=145"], ["--seed", "1"],
                  ["--inside-ratio", "0.5"], ["--receivers", "net.json"]):
        result = run_cli("expand", "uhf", "--samples", "50", *flags, "--workspace",
                         str(workspace))
        assert result.returncode == 2, flags
        assert "cannot be given" in result.stderr or "unrecognized" in result.stderr
        assert "Traceback" not in result.stderr
    assert (workspace / "uhf.h5").read_bytes() == before


def test_expansion_api_cannot_express_an_override():
    for function in (api.expand_dataset, api.expand_run):
        params = set(inspect.signature(function).parameters)
        # where the samples are computed (runs.cluster), never what they are
        assert params <= {"dataset", "num_samples", "workspace", "progress", "should_stop",
                          "cluster"}
    with pytest.raises(TypeError):
        api.expand_dataset("uhf", 10, frequency_mhz=145.0)  # type: ignore[call-arg]
    expand_flags = {a.dest for a in cli.build_parser()._subparsers._group_actions[0]
                    .choices["expand"]._actions}
    assert not expand_flags & {key for key, _, _ in cli.GENERATION_FLAGS.values()}


@pytest.mark.parametrize("n, m", [(100, 50), (64, 64), (1, 500), (4095, 4097)])
def test_create_then_expand_equals_create_at_once(tmp_path, n, m):
    config = api.make_config("twin", seed=77, chunk_size=64 if n < 4000 else 4096, **UHF)
    api.create_dataset(config, n, tmp_path / "a")
    api.expand_dataset("twin", m, tmp_path / "a")
    api.create_dataset(config, n + m, tmp_path / "b")
    a = api.load_dataset("twin", tmp_path / "a")
    b = api.load_dataset("twin", tmp_path / "b")
    assert a.num_samples == b.num_samples == n + m
    for key in a.arrays:
        assert a[key].dtype == b[key].dtype
        assert np.array_equal(a[key], b[key], equal_nan=True), key


def test_several_expansions_in_a_row(tmp_path):
    config = api.make_config("steps", seed=3, chunk_size=64)
    api.create_dataset(config, 10, tmp_path / "a")
    for m in (1, 63, 200, 7):
        api.expand_dataset("steps", m, tmp_path / "a")
    api.create_dataset(config, 281, tmp_path / "b")
    a = api.load_dataset("steps", tmp_path / "a")
    b = api.load_dataset("steps", tmp_path / "b")
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a.arrays)
    history = a.header.history
    assert [(r.first_index, r.count) for r in history] == [
        (0, 10), (10, 1), (11, 63), (74, 200), (274, 7)]
    assert verify_dataset(tmp_path / "a" / "steps.h5").ok


def test_expand_by_path(tmp_path, small_config):
    api.create_dataset(small_config, 10, tmp_path)
    api.expand_dataset(tmp_path / "small.h5", 5)
    assert api.dataset_header(str(tmp_path / "small.h5")).num_samples == 15
    config = json.loads(snapshot(tmp_path / "small.h5")[0])
    assert config["chunk_size"] == 64
