"""The tools on IQ datasets (dataset_type iq_raw): the training loader's records, the NPZ
export by ranges and the CSV refusal, verify's "IQ power" check, and the command line."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import namedtuple

import h5py
import numpy as np
import pytest

from heimdall_studio.core.api import create_dataset
from heimdall_studio.core.config.receivers import default_receivers
from heimdall_studio.core.dataset.reader import iq_records, read_samples
from heimdall_studio.core.errors import ConfigError
from heimdall_studio.core.tools import export as export_module
from heimdall_studio.core.tools import verify as verify_module
from heimdall_studio.core.tools.export import export_dataset
from heimdall_studio.core.tools.loader import BatchLoader, fit_scaling
from heimdall_studio.core.tools.verify import IQ_POWER, verify_dataset

# every other receiver GPS-timed, so that some samples carry arrival-time estimates
RECEIVERS = [dataclasses.replace(r, timing="gps" if i % 2 else "none")
             for i, r in enumerate(default_receivers())]
SAMPLES = 60
Datasets = namedtuple("Datasets", "folder complex64 int16 features")


@pytest.fixture(scope="module")
def made(module_folder) -> Datasets:
    """Two small IQ datasets, one per storage, and a feature dataset, made once."""
    folder = module_folder
    common = dict(dataset_type="iq_raw", seed=3, iq_duration_s=0.02, receivers=RECEIVERS)
    wide = create_dataset("iq", SAMPLES, folder, **common).path
    compact = create_dataset("iq16", SAMPLES, folder, iq_storage="int16", **common).path
    features = create_dataset("features", 50, folder, seed=3).path
    return Datasets(folder, wide, compact, features)


@pytest.fixture(params=["complex64", "int16"])
def dataset(request, made):
    return getattr(made, request.param)


def _sample_of(data: dict[str, np.ndarray]) -> dict[tuple[float, float], int]:
    return {(a, b): i for i, (a, b) in enumerate(zip(data["tx_lat"], data["tx_lon"],
                                                      strict=True))}


# -- the loader ------------------------------------------------------------------------------


def test_loader_gives_each_samples_records_next_to_its_features(dataset):
    _, data = read_samples(dataset)
    records = iq_records(data)
    record_bytes = 7 * 2 * 1000 * 4
    # a small buffer: several slabs of a few samples each
    loader = BatchLoader(dataset, batch_size=16, shuffle=True, seed=5, iq=True,
                         buffer_bytes=20 * record_bytes, shuffle_buffer_slabs=2)
    assert loader.record_shape == (7, 2, 1000)
    assert loader.rows_per_slab * 2 * record_bytes <= 20 * record_bytes + 4096
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    assert [len(b[1]) for b in batches] == [16, 16, 16, 12]
    x, iq, y = (np.concatenate(part) for part in zip(*batches, strict=True))
    assert x.shape == (SAMPLES, 14) and x.dtype == np.float32
    assert iq.shape == (SAMPLES, 7, 2, 1000) and iq.dtype == np.float32
    index = _sample_of(data)
    seen = [index[tuple(row)] for row in y]
    assert sorted(seen) == list(range(SAMPLES)) and seen != sorted(seen)
    assert np.array_equal(iq[:, :, 0], records.real[seen])  # each its own sample's
    assert np.array_equal(iq[:, :, 1], records.imag[seen])
    assert np.array_equal(x[:, :7], np.nan_to_num(data["snr_db"][seen]))
    # reproducible per epoch, and each epoch its own order
    again = BatchLoader(dataset, batch_size=16, shuffle=True, seed=5, iq=True,
                        buffer_bytes=20 * record_bytes, shuffle_buffer_slabs=2)
    first, second = (np.concatenate([b[2] for b in again]) for _ in range(2))
    assert np.array_equal(first, y) and not np.array_equal(second, y)
    again.set_epoch(1)
    assert np.array_equal(np.concatenate([b[2] for b in again]), second)


def test_loader_reads_a_split_and_repeats_without_the_features(made):
    _, data = read_samples(made.int16)
    loader = BatchLoader(made.int16, np.array([40, 3, 3, 17]), batch_size=3, iq=True,
                         features=(), buffer_bytes=1)  # one sample per slab
    assert loader.rows_per_slab == 1
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(3, 0), (1, 0)]
    iq = np.concatenate([b[1] for b in batches])
    records = iq_records(data)[[3, 3, 17, 40]]
    assert np.array_equal(iq[:, :, 0] + 1j * iq[:, :, 1], records)


def test_loader_refuses_records_where_there_are_none_or_as_a_feature(made):
    with pytest.raises(ValueError, match="feature_based dataset: it holds no IQ records"):
        BatchLoader(made.features, iq=True)
    for name in ("iq", "iq_scale"):
        with pytest.raises(ValueError, match="not a feature column: pass iq=True"):
            BatchLoader(made.int16, features=("snr_db", name))
    with pytest.raises(ValueError, match="at least one field"):
        BatchLoader(made.complex64, features=())
    # without iq=True an IQ dataset feeds its features as a feature dataset does
    x, y = next(iter(BatchLoader(made.complex64, batch_size=8,
                                 features=("estimated_snr_db", "signal_present"))))
    assert x.shape == (8, 14) and y.shape == (8, 2)
    mean, spread = fit_scaling(BatchLoader(made.complex64, iq=True))
    assert mean.shape == spread.shape == (14,)


# -- export ----------------------------------------------------------------------------------


def test_npz_export_holds_every_field_and_complex64_records(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "SLAB_ROWS", 25)  # several slabs of every field
    _, data = read_samples(dataset)
    out = export_dataset(dataset, "npz", tmp_path / "all.npz")
    with np.load(out, allow_pickle=False) as npz:
        assert "iq_scale" not in npz.files  # folded into the records
        assert list(npz["index"]) == list(range(SAMPLES))
        assert npz["iq"].dtype == np.complex64 and npz["iq"].shape == (SAMPLES, 7, 1000)
        assert np.array_equal(npz["iq"], iq_records(data))
        for name, values in data.items():
            if name not in ("iq", "iq_scale"):
                assert np.array_equal(npz[name], values, equal_nan=True), name


def test_npz_export_by_ranges(made, monkeypatch):
    monkeypatch.setattr(export_module, "SLAB_ROWS", 10)
    path = made.int16
    _, data = read_samples(path, 10, 25)
    out = export_dataset(path, "npz", start=10, stop=25)
    assert out == made.folder / "iq16_10-24.npz"
    rest = export_dataset(path, "npz", start=25)
    assert rest.name == f"iq16_25-{SAMPLES - 1}.npz"
    with np.load(out) as npz, np.load(rest) as tail:
        assert list(npz["index"]) == list(range(10, 25))
        assert np.array_equal(npz["iq"], iq_records(data))
        assert np.array_equal(npz["tx_lat"], data["tx_lat"])
        assert len(tail["tx_lat"]) == SAMPLES - 25 and tail["iq"].shape[0] == SAMPLES - 25
    for start, stop, field in ((-1, None, "start"), (SAMPLES, None, "start"),
                               (5, 5, "stop"), (5, SAMPLES + 1, "stop")):
        with pytest.raises(ConfigError, match=f"^{field} = "):
            export_dataset(path, "npz", made.folder / "never.npz", start=start, stop=stop)
    assert not (made.folder / "never.npz").exists()
    out.unlink()
    rest.unlink()


def test_csv_export_of_records_is_refused_for_npz(made, tmp_path):
    with pytest.raises(ConfigError, match="cannot hold the IQ records of an iq_raw dataset "
                                          r"\(7 receivers x 1,000 complex .*allowed npz"):
        export_dataset(made.complex64, "csv", tmp_path / "iq.csv")
    assert list(tmp_path.iterdir()) == []


# -- verify ----------------------------------------------------------------------------------


def test_verify_checks_the_records_power(dataset, monkeypatch):
    monkeypatch.setattr(verify_module, "SLAB_ROWS", 16)  # several slabs
    report = verify_dataset(dataset)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.checks[-1].name == IQ_POWER
    plain = verify_dataset(dataset.parent / "features.h5")
    assert plain.ok and IQ_POWER not in [c.name for c in plain.checks]


def _tampered(source, tmp_path, change):
    copy = tmp_path / source.name
    shutil.copyfile(source, copy)
    with h5py.File(copy, "r+") as f:
        change(f["samples"])
    return {c.name: c for c in verify_dataset(copy).checks}


def _strongest(path) -> tuple[int, int]:
    _, data = read_samples(path, fields=("link_snr_db",))
    return np.unravel_index(np.argmax(data["link_snr_db"]), data["link_snr_db"].shape)


def _weakest(path) -> tuple[int, int]:
    _, data = read_samples(path, fields=("link_snr_db",))
    return np.unravel_index(np.argmin(data["link_snr_db"]), data["link_snr_db"].shape)


def test_a_record_scaled_by_ten_fails_the_iq_power_check(made, tmp_path):
    for i, r in (_strongest(made.complex64), _weakest(made.complex64)):
        def scale(samples, i=i, r=r):
            samples["iq"][i, r] = samples["iq"][i, r] * 10
        checks = _tampered(made.complex64, tmp_path, scale)
        assert not checks[IQ_POWER].ok and checks[IQ_POWER].failures == 1
        assert f"first sample {i} at {RECEIVERS[r].name!r}" in checks[IQ_POWER].detail
        assert "link budget" in checks[IQ_POWER].detail
    i, r = _strongest(made.int16)

    def scale_compact(samples):
        samples["iq_scale"][i, r] *= 10
    assert not _tampered(made.int16, tmp_path, scale_compact)[IQ_POWER].ok


def test_a_small_bias_of_every_record_fails_on_the_median(made, tmp_path):
    def bias(samples):  # +0.4 dB: inside most records' bounds, not their median
        samples["iq_scale"][...] = samples["iq_scale"][...] * 10 ** (0.4 / 20)
    check = _tampered(made.int16, tmp_path, bias)[IQ_POWER]
    assert not check.ok and "median deviation" in check.detail


def test_estimates_keep_their_nan_pattern(made, tmp_path):
    _, data = read_samples(made.complex64, fields=("signal_present", "estimated_toa_ns"))
    assert np.isfinite(data["estimated_toa_ns"]).any()  # some samples have estimates
    i, r = np.argwhere(~data["signal_present"])[0]

    def offset_where_not_heard(samples):
        samples["estimated_freq_offset_hz"][i, r] = 12.5
    checks = _tampered(made.complex64, tmp_path, offset_where_not_heard)
    assert not checks["detection pattern"].ok
    assert "estimated_freq_offset_hz NaN pattern" in checks["detection pattern"].detail

    def code(samples):
        samples["modulation"][0] = 200
    assert not _tampered(made.complex64, tmp_path, code)["parameters"].ok


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def run(cli_run):
    return cli_run


def test_cli_creates_shows_exports_and_verifies_an_iq_dataset(run, workspace):
    code, out, err = run("create", "rec", "--samples", "20", "--seed", "4",
                         "--dataset-type", "iq_raw", "--iq-sample-rate-hz", "40000",
                         "--iq-duration-s", "0.01", "--modulation", "nfm_voice:3,cw:1",
                         "--iq-storage", "int16")
    assert code == 0, err
    config = json.loads(run("info", "rec", "--json")[1])["config"]
    assert (config["dataset_type"], config["iq_sample_rate_hz"], config["iq_duration_s"],
            config["iq_storage"]) == ("iq_raw", 40000.0, 0.01, "int16")
    assert config["modulation"] == {"nfm_voice": 0.75, "cw": 0.25}
    code, out, _ = run("info", "rec")
    assert code == 0
    assert "iq_sample_rate_hz 40000.0" in out and "iq_storage        int16" in out
    assert "modulation        nfm_voice:0.75,cw:0.25" in out
    assert "iq records        7 x 400 complex values per sample (int16, 11.0 KiB)" in out
    code, _, err = run("export", "rec", "--format", "csv")
    assert code == 2 and "allowed npz" in err and "Traceback" not in err
    code, out, err = run("export", "rec", "--format", "npz", "--start", "5", "--stop", "9")
    assert code == 0, err
    with np.load(workspace / "rec_5-8.npz") as npz:
        assert list(npz["index"]) == [5, 6, 7, 8] and npz["iq"].shape == (4, 7, 400)
    code, _, err = run("export", "rec", "--format", "npz", "--start", "20")
    assert code == 2 and "start = 20 is not valid" in err
    code, out, _ = run("verify", "rec")
    assert code == 0 and "IQ power             ok" in out and "verify: passed" in out


def test_cli_info_of_a_feature_dataset_leaves_out_the_iq_parameters(run):
    assert run("create", "plain", "--samples", "20", "--seed", "4")[0] == 0
    code, out, _ = run("info", "plain")
    assert code == 0 and "iq_duration_s" in out  # its arrival-time errors use it
    for key in ("iq_sample_rate_hz", "modulation", "iq_storage", "iq records"):
        assert key not in out


@pytest.mark.parametrize("args, fragment", [
    (["--iq-sample-rate-hz", "10000"], "iq_sample_rate_hz = 10000.0 is not valid: allowed "
                                       "at least twice bandwidth_hz (25000 Hz)"),
    (["--modulation", "ssb:1"], "modulation = 'ssb' is not a known kind"),
    (["--iq-storage", "int8"], "iq_storage = 'int8'"),
    (["--iq-duration-s", "0.001"], "iq_duration_s = 0.001"),
])
def test_cli_refuses_bad_iq_parameters_with_exit_2(run, workspace, args, fragment):
    code, _, err = run("create", "bad", "--dataset-type", "iq_raw", *args)
    assert code == 2 and fragment in err and "Traceback" not in err, err
    assert list(workspace.iterdir()) == []
