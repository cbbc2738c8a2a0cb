"""IQ datasets (dataset_type iq_raw, generator version 5) end to end: the records'
power, delays and content against the stored link values, the estimates against the
truth, expansion bit for bit, the compact storage and the refusals (docs/iq.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple

import h5py
import numpy as np
import pytest

from heimdall_studio.core.api import create_dataset, expand_dataset, make_config
from heimdall_studio.core.config.params import MODULATIONS
from heimdall_studio.core.config.receivers import default_receivers
from heimdall_studio.core.dataset.reader import iq_records, read_header, read_samples
from heimdall_studio.core.errors import ConfigError
from heimdall_studio.core.sampling import generator
from heimdall_studio.core.tools.verify import verify_dataset

FS = 50_000.0
BANDWIDTH = 12_500.0
TIMED = [dataclasses.replace(r, timing="gps") for r in default_receivers()]

Stored = namedtuple("Stored", "path config a iq")


@pytest.fixture(scope="module")
def timed(module_folder) -> Stored:
    """400 samples of the default config, every receiver GPS-timed."""
    path = create_dataset("timed", 400, module_folder, dataset_type="iq_raw", seed=11,
                          receivers=TIMED).path
    header, a = read_samples(path)
    return Stored(path, header.config, a, iq_records(a))


def _true_offsets(stored: Stored) -> np.ndarray:
    ppm = np.array([r.oscillator_ppm for r in stored.config.receivers])
    return (stored.a["tx_freq_offset_hz"][:, None].astype(np.float64)
            - stored.config.frequency_mhz * ppm[None, :])


def _codes(*names: str) -> list[int]:
    return [MODULATIONS.index(n) for n in names]


def test_the_file_holds_the_records_any_hdf5_reader_sees_as_complex(timed):
    with h5py.File(timed.path, "r") as f:
        ds = f["samples/iq"]
        assert ds.shape == (400, 7, 10_000)
        assert ds.dtype == np.complex64  # h5py's view of the {r, i} compound of f4
        assert ds.chunks == (1, 7, 10_000)  # one whole sample per chunk
        assert ds.compression is None
        assert f["samples/modulation"].dtype == np.uint8
        config = json.loads(f.attrs["config_json"])
        assert config["dataset_type"] == "iq_raw" and config["iq_sample_rate_hz"] == FS
        assert f.attrs["generator_version"] == 5


def test_record_power_is_the_link_budget_plus_the_noise_over_the_sample_rate(timed):
    a = timed.a
    measured = np.mean(np.abs(timed.iq.astype(np.complex128)) ** 2, axis=-1)
    floor = 10 ** (a["noise_floor_dbm"] / 10.0)
    expected = floor * 10 ** (a["link_snr_db"] / 10.0) + floor * FS / BANDWIDTH
    error_db = 10 * np.log10(measured / expected)
    # noise alone: a relative spread of 1/sqrt(L) = 1 %, 0.04 dB
    assert abs(np.median(error_db)) < 0.02
    fm = np.isin(a["modulation"], _codes("nfm_voice", "nfm_tone", "nfm_dtmf", "fsk2", "fsk4"))
    assert np.percentile(np.abs(error_db[fm]), 99) < 0.2  # constant envelope
    # keyed and AM waveforms: the record sees part of the transmission's envelope
    assert np.percentile(np.abs(error_db), 99) < 3.0


def test_cross_correlation_of_two_receivers_gives_their_distance_difference(timed):
    """After removing each record's true offset, the correlation peak between two
    high-SNR receivers lies within a sample of the difference of their distances over
    the speed of light (GPS clocks: 20 ns)."""
    a, iq = timed.a, timed.iq
    offsets = _true_offsets(timed)
    n = np.arange(iq.shape[-1])
    checked = 0
    for i in np.flatnonzero(np.isin(a["modulation"], _codes("nfm_voice", "fsk2", "fsk4"))):
        loud = np.flatnonzero(a["link_snr_db"][i] > 25)
        if len(loud) < 2:
            continue
        ref, other = loud[:2]
        x = [iq[i, r] * np.exp(-2j * np.pi * offsets[i, r] * n / FS) for r in (ref, other)]
        corr = np.fft.ifft(np.fft.fft(x[1], 2 * n.size) * np.conj(np.fft.fft(x[0], 2 * n.size)))
        lags = np.fft.fftfreq(2 * n.size, 1.0 / (2 * n.size))
        window = np.abs(lags) <= 100
        found = lags[window][np.argmax(np.abs(corr[window]))]
        km = a["distance_km"][i, other] - a["distance_km"][i, ref]
        assert abs(found - km / 299_792.458 * FS) <= 1.0, (i, found, km)
        checked += 1
    assert checked >= 20


def test_each_record_carries_its_modulation(timed):
    a, iq = timed.a, timed.iq
    loud = a["link_snr_db"] > 30
    offsets = _true_offsets(timed)
    n = np.arange(iq.shape[-1])
    seen = set()
    keyed = 0
    for i, r in zip(*np.nonzero(loud), strict=True):
        kind = MODULATIONS[a["modulation"][i]]
        x = iq[i, r].astype(np.complex128) * np.exp(-2j * np.pi * offsets[i, r] * n / FS)
        envelope = np.abs(x)
        spread = np.std(envelope) / np.mean(envelope)
        frequency = np.angle(x[1:] * np.conj(x[:-1])) * FS / (2 * np.pi)
        if kind in ("nfm_voice", "nfm_tone", "nfm_dtmf", "fsk2", "fsk4"):
            assert spread < 0.1, (kind, spread)  # constant envelope
            assert np.percentile(np.abs(frequency), 99) < 5_000  # 2.5 kHz deviation, taps
        elif kind == "am_voice":
            assert 0.1 < spread < 0.8, spread
        else:  # cw: a carrier keyed on and off, with 5 ms edges
            smooth = np.convolve(envelope, np.ones(16) / 16, mode="valid") / envelope.max()
            assert np.mean((smooth > 0.3) & (smooth < 0.7)) < 0.1
            keyed += np.mean(smooth < 0.2) > 0.05
        if kind == "fsk2":  # two tones at +-1 kHz, a symbol 42 samples long
            smooth = np.convolve(frequency, np.ones(8) / 8, mode="valid")
            high, low = (np.mean(np.abs(smooth - f) < 300) for f in (1000, -1000))
            assert min(high, low) > 0.2 and high + low > 0.7, (high, low)
        if kind == "nfm_tone":  # one audio tone of 600-2400 Hz
            audio = np.abs(np.fft.rfft(frequency - frequency.mean()))
            tone = np.fft.rfftfreq(frequency.size, 1 / FS)[np.argmax(audio)]
            assert 590 < tone < 2410
        seen.add(kind)
    assert {"nfm_voice", "am_voice", "cw"} <= seen
    assert keyed > 0  # records that catch the key up


def test_modulations_follow_the_configured_mix(timed):
    counts = np.bincount(timed.a["modulation"], minlength=len(MODULATIONS))
    weights = np.array([dict(timed.config.modulation).get(m, 0.0) for m in MODULATIONS])
    expected = weights / weights.sum() * counts.sum()
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 22.5  # 6 degrees of freedom: p = 0.001


def test_estimates_agree_with_the_truth_at_high_snr(timed):
    a = timed.a
    kind = np.broadcast_to(a["modulation"][:, None], a["link_snr_db"].shape)
    high = (a["link_snr_db"] > 20) & (a["link_snr_db"] < 40)
    clean = high & np.isin(kind, _codes("nfm_voice", "am_voice", "fsk2"))
    snr_error = (a["estimated_snr_db"] - a["link_snr_db"])[clean]
    assert np.percentile(np.abs(snr_error), 95) < 0.4
    carriers = high & np.isin(kind, _codes("am_voice", "cw"))  # exact for a real envelope
    offset_error = (a["estimated_freq_offset_hz"] - _true_offsets(timed))[carriers]
    assert np.percentile(np.abs(offset_error), 90) < 5.0
    # nothing is estimated where nothing was detected
    assert np.array_equal(np.isnan(a["estimated_freq_offset_hz"]), ~a["signal_present"])
    aperiodic = high & np.isin(kind, _codes("nfm_voice", "fsk2", "fsk4"))
    toa_error = (a["estimated_toa_ns"] - a["toa_ns"])[aperiodic]
    assert np.mean(np.abs(toa_error) < 1e9 / FS) > 0.9  # within a sample


def test_version_5_draws_the_samples_of_version_4_and_the_truth_behind_them():
    config = make_config("v4v5", seed=5, receivers=TIMED, chunk_size=256)
    v4 = generator.generate_block(config, 100, 700, version=4).arrays
    v5 = generator.generate_block(config, 100, 700, version=5).arrays
    for name, values in v4.items():
        assert np.array_equal(values, v5[name], equal_nan=True), name
    present = v5["signal_present"]
    assert np.array_equal(v5["link_snr_db"][present], v5["snr_db"][present])
    assert (v5["link_snr_db"][~present] < config.min_snr_db).all()
    # a timed receiver's arrival time is the sample's emission plus its arrival, with an
    # error of tens of ns at these SNRs: the emission is common to the sample's receivers
    loud = v5["link_snr_db"] > 15
    emission = np.where(loud, v5["toa_ns"] - v5["arrival_ns"], np.nan)
    rows = np.sum(loud, axis=1) >= 2
    spread = np.nanmax(emission[rows], axis=1) - np.nanmin(emission[rows], axis=1)
    assert np.percentile(spread, 99) < 1000
    delay = v5["distance_km"] / 299_792.458 * 1e9
    assert (v5["arrival_ns"] >= delay - 200).all()  # late on obstructed links, never early


def _small(**changes):
    return {"dataset_type": "iq_raw", "seed": 7, "chunk_size": 64, "iq_duration_s": 0.02,
            "receivers": TIMED, **changes}


def test_expansion_continues_the_records_bit_for_bit(tmp_path):
    grown = create_dataset("grown", 50, tmp_path, **_small()).path
    expand_dataset(grown, 40)
    whole = create_dataset("whole", 90, tmp_path, **_small()).path
    _, a = read_samples(grown)
    _, b = read_samples(whole)
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_int16_storage_halves_the_records_and_keeps_them(tmp_path):
    full = create_dataset("full", 60, tmp_path, **_small()).path
    compact = create_dataset("compact", 60, tmp_path, **_small(iq_storage="int16")).path
    _, a = read_samples(full)
    _, b = read_samples(compact)
    x, y = iq_records(a), iq_records(b)
    peak = np.max(np.abs(np.stack([x.real, x.imag])), axis=(0, -1))
    assert np.max(np.abs(y - x), axis=-1).max() <= (peak / 32767).max()
    error = np.mean(np.abs(y - x) ** 2, axis=-1) / np.mean(np.abs(x) ** 2, axis=-1)
    assert 10 * np.log10(error.max()) < -70  # quantization noise under the record
    for name in a:
        if name != "iq":
            assert np.array_equal(a[name], b[name], equal_nan=True), name
    with h5py.File(compact, "r") as f:
        assert f["samples/iq"].dtype.names == ("r", "i")
        assert f["samples/iq_scale"].shape == (60, 7)
    ratio = read_header(compact).bytes_per_sample / read_header(full).bytes_per_sample
    assert 0.5 < ratio < 0.55


@pytest.mark.parametrize("changes, field", [
    ({"iq_sample_rate_hz": 20_000.0}, "iq_sample_rate_hz"),  # below twice 12.5 kHz
    ({"iq_duration_s": 0.001}, "iq_duration_s"),  # 50 values, too few to estimate from
    ({"iq_sample_rate_hz": 1e7, "iq_duration_s": 0.2}, "iq_duration_s"),  # 112 MB a sample
    ({"modulation": "ssb:1"}, "modulation"),
    ({"iq_storage": "float16"}, "iq_storage"),
])
def test_bad_iq_parameters_are_refused_by_name(tmp_path, changes, field):
    with pytest.raises(ConfigError) as caught:
        create_dataset("bad", 10, tmp_path, **_small(**changes))
    assert caught.value.field == field
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_the_disk_cannot_hold_is_refused_before_anything_is_written(
        tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr("heimdall_studio.core.runs.driver.shutil.disk_usage",
                        lambda folder: usage._replace(free=10 << 20))
    with pytest.raises(ConfigError, match=r"needs 2\.1 GiB for the IQ records"):
        create_dataset("huge", 4000, tmp_path / "ws", dataset_type="iq_raw", seed=1)
    assert not (tmp_path / "ws").exists()


def test_generator_version_4_refuses_to_draw_records():
    config = make_config("old", seed=1, dataset_type="iq_raw")
    with pytest.raises(ConfigError, match="dataset_type"):
        generator.prepare(config, version=4)


def test_a_killed_run_keeps_every_committed_record(tmp_path):
    """SIGKILL mid-create and mid-expand: the file verifies, and holds the records a
    clean run of as many samples holds, bit for bit."""
    path = tmp_path / "killed.h5"
    args = ["--workspace", str(tmp_path), "--dataset-type", "iq_raw", "--seed", "9",
            "--iq-duration-s", "0.0052", "--chunk-size", "64"]
    for step, command in enumerate((["create", "killed", *args], ["expand", "killed"])):
        before = read_header(path).num_samples if path.exists() else 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "heimdall_studio", *command, "--samples", "30000",
             *(["--workspace", str(tmp_path)] if step else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while (read_header(path).num_samples if path.exists() else 0) <= before + 100:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.1 + 0.3 * step)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    report = verify_dataset(path)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    header, stored = read_samples(path)
    config = header.config
    clean = create_dataset(config, header.num_samples, tmp_path / "clean").path
    _, fresh = read_samples(clean)
    for name in fresh:
        assert np.array_equal(stored[name], fresh[name], equal_nan=True), name


def _impaired(*, phase_step=0.0, gain=1.0, phase=0.0, bits=0, x):
    from heimdall_studio.core.sampling.iq_synthesis import impair

    re, im = x.real.astype(np.float32), x.imag.astype(np.float32)
    impair(np.uint64(77), phase_step, gain, phase, bits, re, im)
    return re.astype(np.float64) + 1j * im


def test_phase_noise_is_a_random_walk_of_the_linewidth():
    step = math.sqrt(2 * math.pi * 5.0 / FS)  # 5 Hz linewidth
    y = _impaired(phase_step=step, x=np.ones(100_000, complex))
    increments = np.angle(y[1:] * np.conj(y[:-1]))
    assert np.allclose(np.abs(y), 1.0, atol=1e-6)  # the phase only
    assert abs(np.std(increments) / step - 1) < 0.02  # 1e5 draws: 0.2 % standard error
    assert abs(np.mean(increments)) < 5 * step / math.sqrt(increments.size)


def test_iq_imbalance_puts_the_closed_form_image_at_the_mirrored_frequency():
    gain, phase = 10 ** (1.0 / 20), math.radians(5.0)
    n = np.arange(10_000)
    y = _impaired(gain=gain, phase=phase, x=np.exp(2j * np.pi * 1000 * n / FS))
    spectrum = np.abs(np.fft.fft(y)) ** 2
    bins = np.fft.fftfreq(n.size, 1 / FS)
    image = spectrum[bins == -1000][0] / spectrum[bins == 1000][0]
    closed = ((gain ** 2 - 2 * gain * math.cos(phase) + 1)
              / (gain ** 2 + 2 * gain * math.cos(phase) + 1))
    assert abs(10 * np.log10(image / closed)) < 0.01


def test_the_adc_rounds_to_its_levels_with_uniform_error():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(200_000) + 1j * rng.standard_normal(200_000)
    y = _impaired(bits=8, x=x)
    full = 4.0 * math.sqrt(np.mean(np.abs(x.astype(np.complex64)) ** 2) / 2)
    step = full / 128
    levels = np.round(y.real / step)
    assert np.allclose(levels * step, y.real, atol=1e-6 * full)
    assert levels.min() >= -128 and levels.max() <= 127
    inside = np.abs(x.real) < full * 0.99
    error = (y.real - x.real)[inside]
    assert abs(np.std(error) / (step / math.sqrt(12)) - 1) < 0.02
    assert np.mean(~inside) < 1e-3  # clipping beyond 4 sigma


def test_a_dataset_of_impaired_receivers_verifies(tmp_path):
    impaired = {"rx_phase_noise_hz": 2.0, "rx_iq_gain_db": 0.5, "rx_iq_phase_deg": 2.0,
                "rx_adc_bits": 10}
    path = create_dataset("impaired", 60, tmp_path, **_small(measurement=impaired)).path
    plain = create_dataset("plain", 60, tmp_path, **_small()).path
    report = verify_dataset(path)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    _, a = read_samples(path)
    _, b = read_samples(plain)
    assert not np.array_equal(a["iq"], b["iq"])
    for name in a:  # only the records, and what is estimated from them, differ
        if name != "iq" and not name.startswith("estimated_"):
            assert np.array_equal(a[name], b[name], equal_nan=True), name
