"""The IQ view: a real iq_raw dataset's records read off the GUI thread, spectrum and
waterfall per receiver, stored against estimated values, audio saved as WAV, errors in
the view, and the tab closed to feature datasets."""

from __future__ import annotations

import math
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from heimdall_studio.core import api
from heimdall_studio.core.dataset.reader import iq_records, read_samples
from heimdall_studio.core.tools.spectra import power_spectrum, spectrogram, spectrum_segment
from heimdall_studio.gui.iq_view import NOT_MEASURED, IqView, audio_refusal

FS = 50_000.0
DURATION_S = 0.05  # short records keep the datasets small and quick to make
# Made once for the module: (name, samples, parameters). At 1 GHz the oscillators' offsets
# are kHz wide, so that a spectrum's peak at a carrier is a real check; AM keeps its
# carrier through speech pauses.
DATASETS = {
    "am": (30, dict(seed=3, frequency_mhz=1000.0, modulation="am_voice:1")),
    "fm16": (6, dict(seed=4, modulation="nfm_voice:1", iq_storage="int16")),
    "slow": (4, dict(seed=5, bandwidth_hz=2000.0, iq_sample_rate_hz=5000.0,
                     iq_duration_s=0.1)),
}


@pytest.fixture(scope="module")
def iq_files(tmp_path_factory) -> dict[str, Path]:
    """The module's iq_raw datasets, made with a cache folder of their own (the
    per-test folders are not set up yet at module scope)."""
    folder = tmp_path_factory.mktemp("iq-datasets")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(folder / "cache"))
        for name, (count, params) in DATASETS.items():
            api.create_dataset(name, count, folder, dataset_type="iq_raw",
                               **{"iq_duration_s": DURATION_S, **params})
    return {name: folder / f"{name}.h5" for name in DATASETS}


@pytest.fixture
def iq_dataset(iq_files, workspace):
    """Copies one of the module's datasets into this test's workspace; its entry."""

    def copy(name: str) -> api.DatasetEntry:
        shutil.copy(iq_files[name], workspace / f"{name}.h5")
        [entry] = [e for e in api.list_datasets(workspace) if e.name == name]
        assert entry.header is not None
        return entry

    return copy


@pytest.fixture
def view(qtbot):
    widget = IqView()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def _stored(entry, index: int) -> dict[str, np.ndarray]:
    fields = ("freq_offset_hz", "link_snr_db", "snr_db", "signal_present", "noise_floor_dbm",
              "iq", "modulation", *(("iq_scale",) if entry.header.config.iq_storage == "int16"
                                    else ()))
    _, arrays = read_samples(entry.path, index, index + 1, fields)
    return {k: v[0] for k, v in arrays.items()} | {"records": iq_records(arrays)[0]}


def _show(qtbot, view: IqView, entry, sample: int | None = None):
    with qtbot.waitSignal(view.sample_shown, timeout=20_000) as shown:
        if sample is None:
            view.set_dataset(entry)
        else:
            view.sample_box.setValue(sample)
    return shown.args[0]


def _values(view: IqView) -> dict[str, tuple[str, str]]:
    table = view.values_table
    return {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def _bin_hz(entry) -> float:
    return FS / spectrum_segment(entry.header.config.iq_length)


def test_spectra_are_densities_in_dbm_per_hz():
    """White noise of N mW reads N / fs per hertz; a tone peaks at its frequency, and
    the density integrates to the record's power. Qt-free: the core's computation."""
    rng = np.random.default_rng(7)
    n = 10_000
    noise = (rng.normal(size=n) + 1j * rng.normal(size=n)) * math.sqrt(1e-9 / 2)  # -90 dBm
    tone = math.sqrt(1e-6) * np.exp(2j * np.pi * -3210.0 * np.arange(n) / FS)  # -60 dBm
    quiet = power_spectrum(noise, FS)
    assert np.mean(quiet.density_dbm_hz) == pytest.approx(-90 - 10 * math.log10(FS), abs=1.5)
    loud = power_spectrum(noise + tone, FS)
    step = loud.frequency_hz[1] - loud.frequency_hz[0]
    assert abs(loud.frequency_hz[np.argmax(loud.density_dbm_hz)] - -3210.0) <= step
    total_mw = np.sum(10 ** (loud.density_dbm_hz / 10)) * step
    assert 10 * math.log10(total_mw) == pytest.approx(-60.0, abs=0.1)
    assert loud.frequency_hz[0] == pytest.approx(-FS / 2) and np.all(np.diff(loud.frequency_hz) > 0)
    # A long record is averaged into a bounded number of rows spanning all of it.
    gram = spectrogram(np.tile(noise, 40), FS, max_rows=100)
    assert gram.density_dbm_hz.shape == (100, 256)
    assert gram.time_s[0] < 0.1 and gram.time_s[-1] > 7.9 and gram.duration_s == 8.0
    with pytest.raises(ValueError):
        power_spectrum(np.zeros(0, complex), FS)


def test_the_view_shows_a_receivers_spectrum_waterfall_and_values(qtbot, view, iq_dataset):
    entry = iq_dataset("am")
    sample = _show(qtbot, view, entry)
    truth = _stored(entry, 0)
    assert sample.index == 0 and sample.modulation == "am_voice"
    assert view.sample_box.maximum() == 29 and view.sample_count.text() == "of 30"
    np.testing.assert_array_equal(sample.records, truth["records"])
    # A dataset opens on the receiver that hears its first sample best.
    strong = int(np.nanargmax(truth["link_snr_db"]))
    assert view.receiver_box.currentIndex() == strong and truth["signal_present"][strong]
    assert view.receiver_box.currentText().endswith(f"{truth['snr_db'][strong]:.1f} dB")
    # AM keeps its carrier: the spectrum peaks at the link's stored frequency offset.
    offset = float(truth["freq_offset_hz"][strong])
    assert abs(view.spectrum_plot.peak_khz() * 1e3 - offset) <= 1.5 * _bin_hz(entry)
    assert view.spectrum_plot.offset_line.isVisible()
    assert view.spectrum_plot.offset_line.value() == pytest.approx(offset / 1e3)
    assert view.waterfall_plot.rows() == sample.spectrograms[strong].time_s.size > 5
    values = _values(view)
    assert values["Modulation"][0] == "am_voice" and values["Detected"][0] == "yes"
    assert values["SNR (dB)"] == (f"{sample.values['snr_db'][strong]:.1f}",
                                  f"{sample.values['estimated_snr_db'][strong]:.1f}")
    stored, estimated = values["Frequency offset (Hz)"]
    assert float(stored) == pytest.approx(offset, abs=0.06)
    assert float(estimated) == pytest.approx(offset, abs=50)  # a strong AM link
    assert view.save_button.isEnabled()

    # Another receiver redraws from the same read: one that does not detect shows noise
    # at its floor; its SNR is estimated from the record, its offset neither stored nor
    # estimated.
    weak = int(np.nanargmin(truth["link_snr_db"]))
    assert not truth["signal_present"][weak]
    view.receiver_box.setCurrentIndex(weak)
    assert view.sample is sample
    _, density = view.spectrum_plot.curve.getData()
    floor = truth["noise_floor_dbm"][weak] - 10 * math.log10(entry.header.config.bandwidth_hz)
    assert np.mean(density) == pytest.approx(floor, abs=1.5)
    assert view.spectrum_plot.noise_line.value() == pytest.approx(floor)
    assert not view.spectrum_plot.offset_line.isVisible()  # no stored offset: not detected
    values = _values(view)
    assert values["Detected"][0] == "no" and values["SNR (dB)"][0] == NOT_MEASURED
    assert values["SNR (dB)"][1] == f"{sample.values['estimated_snr_db'][weak]:.1f}"
    assert values["Frequency offset (Hz)"] == (NOT_MEASURED, NOT_MEASURED)
    assert values["Link SNR (dB)"][0] == f"{truth['link_snr_db'][weak]:.1f}"
    assert view.receiver_box.currentText().endswith("not detecting")

    # Another sample is read; the receiver chosen stays.
    later = _show(qtbot, view, entry, sample=7)
    truth = _stored(entry, 7)
    assert later.index == 7 and view.receiver_box.currentIndex() == weak
    np.testing.assert_array_equal(later.records, truth["records"])
    strong = int(np.nanargmax(truth["link_snr_db"]))
    view.receiver_box.setCurrentIndex(strong)
    offset = float(truth["freq_offset_hz"][strong])
    assert abs(view.spectrum_plot.peak_khz() * 1e3 - offset) <= 1.5 * _bin_hz(entry)
    assert "Sample 7 (am_voice)" in view.message.text()


def test_paging_faster_than_reads_shows_the_last_sample_asked_for(qtbot, view, iq_dataset):
    entry = iq_dataset("am")
    _show(qtbot, view, entry)
    shown: list[int] = []
    view.sample_shown.connect(lambda s: shown.append(s.index))
    view.sample_box.setValue(1)  # read at once
    view.sample_box.setValue(2)  # both wait for it, and only the last is read next
    view.sample_box.setValue(3)
    qtbot.waitUntil(lambda: view.sample is not None and view.sample.index == 3,
                    timeout=20_000)
    assert shown == [3]
    # A result for a dataset no longer shown is dropped.
    view.sample_box.setValue(4)
    view.set_dataset(None)
    qtbot.waitUntil(lambda: view._reading is None, timeout=20_000)
    assert shown == [3] and view.sample is None and view.spectrum_plot.peak_khz() is None


def test_save_audio_writes_the_demodulated_record_as_wav(qtbot, view, iq_dataset,
                                                         monkeypatch, tmp_path):
    entry = iq_dataset("fm16")  # narrow-band FM voice, stored as int16 pairs
    sample = _show(qtbot, view, entry)
    truth = _stored(entry, 0)
    np.testing.assert_allclose(sample.records, truth["records"])
    assert np.mean(np.abs(sample.records) ** 2) > 0
    asked = []
    target = tmp_path / "voice"  # the dialog's filter is *.wav: the suffix is added

    def answer(parent, title, proposed, filters):
        asked.append((title, proposed, filters))
        return str(target), filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(answer))
    receiver = view.receiver_box.currentIndex()
    with qtbot.waitSignal(view.audio_saved, timeout=20_000) as saved:
        view.save_button.click()
    assert saved.args[0] == target.with_suffix(".wav")
    name = sample.receiver_names[receiver].replace(" ", "_")
    assert asked[0][1] == str(entry.path.with_name(f"fm16-sample0-{name}.wav"))
    with wave.open(str(target.with_suffix(".wav")), "rb") as wav:
        assert wav.getframerate() == 8000 and wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        frames = wav.getnframes()
        assert frames == pytest.approx(DURATION_S * 8000, abs=2)
        pcm = np.frombuffer(wav.readframes(frames), "<i2")
    assert np.abs(pcm).max() > 16_000  # scaled to a peak of 1
    assert "Saved 0.05 s of audio" in view.message.text()


def test_audio_is_refused_where_the_record_holds_none(qtbot, view, iq_dataset):
    entry = iq_dataset("slow")  # 5 kHz: no room for audio up to 3.4 kHz
    _show(qtbot, view, entry)
    assert view.spectrum_plot.peak_khz() is not None
    assert not view.save_button.isEnabled()
    assert view.save_button.toolTip() == audio_refusal(5000.0)
    assert "5000 Hz" in view.save_button.toolTip()


def test_a_read_that_fails_is_told_in_the_view(qtbot, view, iq_dataset):
    entry = iq_dataset("am")
    entry.path.write_bytes(b"no longer a dataset" * 100)
    view.set_dataset(entry)
    qtbot.waitUntil(lambda: "Cannot read sample 0" in view.message.text(), timeout=20_000)
    assert view.sample is None and view.spectrum_plot.peak_khz() is None
    assert not view.save_button.isEnabled()


def test_the_iq_tab_opens_for_iq_datasets_only(qtbot, open_window, workspace, make_dataset,
                                               select, iq_dataset):
    feature = make_dataset(workspace, "features", 300, seed=8)
    entry = iq_dataset("am")
    window = open_window(workspace)
    tabs, details = window.details.plot_tabs, window.details
    select(window, entry.path)
    row = window.model.row_of(entry.path)
    assert window.model.index(row, 1).data() == "iq_raw"
    assert window.model.index(window.model.row_of(feature), 1).data() == "feature_based"
    assert tabs.isTabEnabled(details.iq_tab) and tabs.tabText(details.iq_tab) == "IQ"
    with qtbot.waitSignal(details.iq_view.sample_shown, timeout=20_000) as shown:
        tabs.setCurrentIndex(details.iq_tab)  # nothing is read until the tab shows
    assert shown.args[0].path == entry.path
    assert window.findChild(IqView, "iq_view") is details.iq_view

    select(window, feature)
    assert not tabs.isTabEnabled(details.iq_tab)
    assert tabs.currentIndex() == 0  # back on the distributions
    assert "iq_raw" in tabs.tabToolTip(details.iq_tab)
    assert details.iq_view.sample is None and not details.iq_view.save_button.isEnabled()
