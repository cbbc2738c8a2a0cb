"""The IQ records of an `iq_raw` dataset's samples: per receiver, the spectrum, the
waterfall, what is stored and estimated about its link, and the audio it carries.

A sample is read on a worker thread (`read_iq_sample`: one sample of every receiver, a
few hundred kB) only while the view is shown; its spectra are computed there too
(`core.tools.spectra`), so choosing another receiver redraws without reading. At most one
read runs at a time: paging through samples faster than they are read skips to the
last one asked for, and a result that arrives after the dataset or sample changed is
dropped. A read that fails says why in the view. "Save audio..." demodulates the shown
record (`core.tools.audio`) on a worker too, into a WAV file chosen in a file dialog.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.api import DatasetEntry
from ..core.config.fields import IQ_SCALE_FIELD
from ..core.config.params import MODULATIONS
from ..core.dataset.reader import iq_records, read_samples
from ..core.errors import DatasetBusyError, DatasetInUseError, HeimdallError
from ..core.tools.audio import AUDIO_RATE_HZ, AUDIO_TOP_HZ, demodulate, write_wav
from ..core.tools.spectra import Spectrogram, Spectrum, power_spectrum, spectrogram
from .jobs import describe_error
from .plots import SpectrumPlot, WaterfallPlot
from .threads import work_for

log = logging.getLogger(__name__)

# One value per receiver, read with the records.
LINK_FIELDS = ("signal_present", "snr_db", "link_snr_db", "estimated_snr_db",
               "freq_offset_hz", "estimated_freq_offset_hz", "toa_ns", "estimated_toa_ns",
               "noise_floor_dbm")
READ_FIELDS = ("iq", "modulation", *LINK_FIELDS)
# The values table: (title, stored field, estimated field or "", format).
VALUE_ROWS = (
    ("SNR (dB)", "snr_db", "estimated_snr_db", "{:.1f}"),
    ("Link SNR (dB)", "link_snr_db", "", "{:.1f}"),
    ("Frequency offset (Hz)", "freq_offset_hz", "estimated_freq_offset_hz", "{:.1f}"),
    ("Arrival time (ns)", "toa_ns", "estimated_toa_ns", "{:,.1f}"),
    ("Noise floor (dBm)", "noise_floor_dbm", "", "{:.1f}"),
)
VALUE_TITLES = ("", "Stored", "Estimated")  # estimated from the record
NOT_MEASURED = "–"
ERROR_STYLE = "color: #b3261e;"
NOTE_STYLE = "color: #606060;"
AUDIO_TIP = ("Demodulate the record shown and save it as a WAV file at "
             f"{AUDIO_RATE_HZ:,} Hz: FM kinds (voice, tone, DTMF, FSK) by their "
             "instantaneous frequency, AM by its envelope, CW beating with a 700 Hz tone")


@dataclass(frozen=True)
class IqSample:
    """One sample's records and link values, and the spectra of each receiver's record."""

    path: Path
    created_utc: str  # with the path, which file this was read from
    index: int
    sample_rate_hz: float
    bandwidth_hz: float
    modulation: str
    receiver_names: tuple[str, ...]
    records: np.ndarray  # (R, L) complex64, mW: mean |x|^2
    values: dict[str, np.ndarray]  # LINK_FIELDS, (R,) each
    spectra: tuple[Spectrum, ...]
    spectrograms: tuple[Spectrogram, ...]

    @property
    def key(self) -> tuple[Path, str, int]:
        return self.path, self.created_utc, self.index


def read_iq_sample(path: Path, index: int, iq_storage: str) -> IqSample:
    """Sample `index` of an iq_raw dataset and its spectra (run on a worker thread)."""
    fields = READ_FIELDS + ((IQ_SCALE_FIELD,) if iq_storage == "int16" else ())
    header, arrays = read_samples(path, index, index + 1, fields)
    if not len(arrays["modulation"]):
        raise IndexError(f"the dataset holds {header.num_samples:,} samples: there is no "
                         f"sample {index:,}")
    config = header.config
    fs = config.iq_sample_rate_hz
    records = iq_records(arrays)[0]
    code = int(arrays["modulation"][0])
    return IqSample(
        path=Path(path), created_utc=header.created_utc, index=index, sample_rate_hz=fs,
        bandwidth_hz=config.bandwidth_hz,
        modulation=MODULATIONS[code] if code < len(MODULATIONS) else f"code {code}",
        receiver_names=tuple(r.name for r in config.receivers), records=records,
        values={k: arrays[k][0] for k in LINK_FIELDS},
        spectra=tuple(power_spectrum(r, fs) for r in records),
        spectrograms=tuple(spectrogram(r, fs) for r in records))


def save_audio(path: Path, record: np.ndarray, sample_rate_hz: float,
               modulation: str) -> tuple[Path, float]:
    """Demodulate `record` into a WAV file at `path` (on a worker thread); returns the
    file and the audio's length in seconds."""
    audio = demodulate(record, sample_rate_hz, modulation)
    return write_wav(path, audio, AUDIO_RATE_HZ), len(audio) / AUDIO_RATE_HZ


def audio_refusal(sample_rate_hz: float) -> str:
    """Why a record at this rate cannot be heard ("" when it can)."""
    if sample_rate_hz < 2 * AUDIO_TOP_HZ:
        return (f"This dataset's records are sampled at {sample_rate_hz:g} Hz, too slowly "
                f"to hold audio up to {AUDIO_TOP_HZ:g} Hz")
    return ""


def value_rows(sample: IqSample, receiver: int) -> list[tuple[str, str, str]]:
    """(quantity, stored, estimated) of a receiver's link, as the values table shows."""
    values = sample.values
    detected = bool(values["signal_present"][receiver])
    rows = [("Modulation", sample.modulation, ""),
            ("Detected", "yes" if detected else "no", "")]
    for title, stored, estimated, fmt in VALUE_ROWS:
        rows.append((title, _number(values[stored][receiver], fmt),
                     _number(values[estimated][receiver], fmt) if estimated else ""))
    return rows


def _number(value: float, fmt: str) -> str:
    return fmt.format(float(value)) if math.isfinite(value) else NOT_MEASURED


def receiver_label(sample: IqSample, receiver: int) -> str:
    """A receiver as the selector names it: whether and how well it hears this sample."""
    name = sample.receiver_names[receiver]
    if sample.values["signal_present"][receiver]:
        return f"{name} · {float(sample.values['snr_db'][receiver]):.1f} dB"
    return f"{name} · not detecting"


def audio_file_name(entry_path: Path, sample: int, receiver: str) -> Path:
    """Where "Save audio..." proposes to write: next to the dataset, named after it."""
    safe = re.sub(r"[^\w.-]+", "_", receiver).strip("_") or "receiver"
    return entry_path.with_name(f"{entry_path.stem}-sample{sample}-{safe}.wav")


class IqView(QWidget):
    """The records of one iq_raw dataset, a sample and a receiver at a time."""

    sample_shown = Signal(object)  # IqSample now shown
    audio_saved = Signal(object)  # Path of the WAV file written

    BUSY_RETRY_MS = 1000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("iq_view")
        self.entry: DatasetEntry | None = None
        self.sample: IqSample | None = None
        self.busy = False  # a run of ours is writing the dataset
        self._wanted: tuple[Path, str, int] | None = None  # the sample to show
        self._reading: tuple[Path, str, int] | None = None  # the read in flight
        self._pick_strongest = False
        self._retry = QTimer(self, singleShot=True, interval=self.BUSY_RETRY_MS)
        self._retry.timeout.connect(self._request)

        self.sample_box = QSpinBox(objectName="iq_sample")
        self.sample_box.setGroupSeparatorShown(True)
        self.sample_box.setMinimumWidth(110)
        self.sample_box.setToolTip("Index of the sample whose records are shown")
        self.sample_count = QLabel()
        self.receiver_box = QComboBox(objectName="iq_receiver")
        self.receiver_box.setMinimumWidth(230)
        self.receiver_box.setToolTip("The receiver whose record is shown")
        self.save_button = QPushButton("Save audio…", objectName="iq_save_audio")
        self.spectrum_plot = SpectrumPlot()
        self.spectrum_plot.setObjectName("iq_spectrum")
        self.waterfall_plot = WaterfallPlot()
        self.waterfall_plot.setObjectName("iq_waterfall")
        self.values_table = self._values_table()
        self.message = QLabel(objectName="iq_message")
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Sample"))
        controls.addWidget(self.sample_box)
        controls.addWidget(self.sample_count)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Receiver"))
        controls.addWidget(self.receiver_box)
        controls.addStretch(1)
        controls.addWidget(self.save_button)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.spectrum_plot)
        plots.addWidget(self.waterfall_plot)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(plots)
        splitter.addWidget(self.values_table)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([560, self.values_table.minimumWidth()])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)

        self.sample_box.valueChanged.connect(self._request)
        self.receiver_box.currentIndexChanged.connect(self._show_receiver)
        self.save_button.clicked.connect(self.choose_audio_file)
        self.set_dataset(None)

    @staticmethod
    def _values_table() -> QTableWidget:
        table = QTableWidget(len(VALUE_ROWS) + 2, len(VALUE_TITLES))
        table.setObjectName("iq_values")
        table.setHorizontalHeaderLabels(VALUE_TITLES)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setMinimumWidth(330)  # the titles and an arrival time in ns, unclipped
        table.setToolTip("The link's values as the dataset stores them, and as estimated "
                         "from the record alone (– : not measured, or not detected)")
        for r in range(table.rowCount()):
            for c in range(table.columnCount()):
                item = QTableWidgetItem("")
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)
        return table

    # -- which dataset -----------------------------------------------------------

    @staticmethod
    def shows(entry: DatasetEntry | None) -> bool:
        """Whether the view has anything to show of `entry`: an iq_raw dataset's."""
        return (entry is not None and entry.header is not None
                and entry.header.config.dataset_type == "iq_raw")

    def set_dataset(self, entry: DatasetEntry | None, busy: bool = False) -> None:
        """Show `entry`'s records (nothing unless it is an iq_raw dataset). `busy`: a run
        of ours is writing it, so its records are read when the run ends."""
        if not self.shows(entry):
            self.entry = None
            self.sample = None
            self._wanted = None
            self._retry.stop()
            self._clear()
            self.sample_box.setEnabled(False)
            self.receiver_box.clear()
            self.sample_count.setText("")
            self._say("Only iq_raw datasets hold IQ records.", error=False)
            return
        assert entry is not None and entry.header is not None
        previous, self.entry, self.busy = self.entry, entry, busy
        header = entry.header
        same = (previous is not None and previous.path == entry.path
                and previous.header is not None
                and previous.header.created_utc == header.created_utc)
        count = header.num_samples
        self.sample_box.blockSignals(True)
        self.sample_box.setRange(0, max(0, count - 1))
        if not same:
            self.sample_box.setValue(0)
        self.sample_box.blockSignals(False)
        self.sample_box.setEnabled(count > 0)
        self.sample_count.setText(f"of {count:,}")
        if not same:
            self.sample = None
            self._clear()
            self._pick_strongest = True
            self.receiver_box.blockSignals(True)
            self.receiver_box.clear()
            self.receiver_box.addItems([r.name for r in header.config.receivers])
            self.receiver_box.blockSignals(False)
        if count == 0:
            self._wanted = None
            self._say("This dataset holds no samples yet.", error=False)
            return
        if not same or not self._retry.isActive():  # a busy file is tried once a second
            self._request()

    def reload(self) -> None:
        """Read the shown sample again (Refresh)."""
        self.sample = None
        self._request()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._request()  # nothing is read while hidden

    # -- reading ---------------------------------------------------------------

    def _key(self) -> tuple[Path, str, int] | None:
        entry = self.entry
        if entry is None or entry.header is None or entry.header.num_samples == 0:
            return None
        return entry.path, entry.header.created_utc, self.sample_box.value()

    def _request(self, *_args: object) -> None:
        """Show the sample the spin box names, reading it unless it is shown."""
        self._retry.stop()
        key = self._key()
        self._wanted = key
        if key is None or (self.sample is not None and self.sample.key == key):
            return
        if self.busy:
            self._say("A run is writing this dataset: its records can be read when it "
                      "ends.", error=False)
            return
        if not self.isVisible() or self._reading is not None:
            return  # read when shown, or when the read in flight returns
        self._start(key)

    def _start(self, key: tuple[Path, str, int]) -> None:
        entry = self.entry
        assert entry is not None and entry.header is not None
        self._reading = key
        self._say(f"Reading sample {key[2]:,}…", error=False)
        work_for(self, read_iq_sample, key[0], key[2], entry.header.config.iq_storage,
                 returned=self._read,
                 errored=lambda exc, key=key: self._read_failed(key, exc))

    def _next(self, done: tuple[Path, str, int]) -> bool:
        """The read of `done` ended; start the one wanted now if it is another. True
        when `done` is still the one wanted."""
        self._reading = None
        if self._wanted == done:
            return True
        if self._wanted is not None and self.isVisible() and not self.busy:
            self._start(self._wanted)
        return False

    def _read(self, sample: IqSample) -> None:
        if not self._next(sample.key):
            return  # the dataset or the sample changed meanwhile
        self.sample = sample
        if self._pick_strongest:
            self._pick_strongest = False
            snr = np.nan_to_num(sample.values["link_snr_db"].astype(float), nan=-np.inf)
            self.receiver_box.blockSignals(True)
            self.receiver_box.setCurrentIndex(int(np.argmax(snr)))
            self.receiver_box.blockSignals(False)
        for r in range(min(self.receiver_box.count(), len(sample.receiver_names))):
            self.receiver_box.setItemText(r, receiver_label(sample, r))
        self._show_receiver()
        self.sample_shown.emit(sample)

    def _read_failed(self, key: tuple[Path, str, int], exc: Exception) -> None:
        if not self._next(key):
            return
        self.sample = None
        self._clear()
        if isinstance(exc, DatasetBusyError):
            self._say("The file is being written and cannot be read at this moment; "
                      "reading it again in a second…", error=False)
            self._retry.start()
            return
        if isinstance(exc, DatasetInUseError):
            self._say(f"{exc} (Refresh reads it again).", error=True)
            return
        if not isinstance(exc, (HeimdallError, IndexError)):
            log.error("reading sample %d of %s failed", key[2], key[0], exc_info=exc)
        self._say(f"Cannot read sample {key[2]:,}: {describe_error(exc)}", error=True)

    # -- showing ---------------------------------------------------------------

    @property
    def receiver(self) -> int:
        return self.receiver_box.currentIndex()

    def _show_receiver(self, *_args: object) -> None:
        sample, r = self.sample, self.receiver
        if sample is None or not 0 <= r < len(sample.spectra):
            self._clear()
            return
        spectrum, waterfall = sample.spectra[r], sample.spectrograms[r]
        offset = float(sample.values["freq_offset_hz"][r])
        noise = float(sample.values["noise_floor_dbm"][r]) - 10 * math.log10(
            sample.bandwidth_hz)
        self.spectrum_plot.set_spectrum(spectrum.frequency_hz / 1e3, spectrum.density_dbm_hz,
                                        offset / 1e3, noise)
        self.waterfall_plot.set_spectrogram(waterfall.frequency_hz / 1e3, waterfall.time_s,
                                            waterfall.density_dbm_hz, waterfall.duration_s)
        for row, cells in enumerate(value_rows(sample, r)):
            for column, text in enumerate(cells):
                self.values_table.item(row, column).setText(text)
        name = sample.receiver_names[r]
        length = sample.records.shape[1]
        self._say(f"Sample {sample.index:,} ({sample.modulation}) at {name}: "
                  f"{length:,} values at {sample.sample_rate_hz:,.0f} Hz "
                  f"({length / sample.sample_rate_hz:g} s).", error=False)
        refusal = audio_refusal(sample.sample_rate_hz)
        self.save_button.setEnabled(not refusal)
        self.save_button.setToolTip(refusal or AUDIO_TIP)

    def _clear(self) -> None:
        self.spectrum_plot.clear_data()
        self.waterfall_plot.clear_data()
        for r in range(self.values_table.rowCount()):
            for c in range(self.values_table.columnCount()):
                self.values_table.item(r, c).setText("")
        self.save_button.setEnabled(False)
        self.save_button.setToolTip("No record is shown yet. " + AUDIO_TIP)

    def _say(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else NOTE_STYLE)

    # -- audio -----------------------------------------------------------------

    def choose_audio_file(self) -> None:
        """Ask where to write the shown record's audio, and write it there."""
        sample, entry = self.sample, self.entry
        if sample is None or entry is None:
            return
        proposed = audio_file_name(entry.path, sample.index,
                                   sample.receiver_names[self.receiver])
        filename, _ = QFileDialog.getSaveFileName(
            self, "Save audio", str(proposed), "WAV audio (*.wav);;All files (*)")
        if filename:
            target = Path(filename)
            self.save_audio_to(target if target.suffix else target.with_suffix(".wav"))

    def save_audio_to(self, path: Path) -> None:
        """Demodulate the shown record into a WAV file at `path` (`audio_saved` when it
        is written)."""
        sample = self.sample
        if sample is None or audio_refusal(sample.sample_rate_hz):
            return
        r = self.receiver
        self._say(f"Demodulating {sample.receiver_names[r]}'s record…", error=False)
        work_for(self, save_audio, Path(path), sample.records[r], sample.sample_rate_hz,
                 sample.modulation, returned=self._audio_written,
                 errored=lambda exc: self._say(
                     f"Cannot save the audio: {describe_error(exc)}", error=True))

    def _audio_written(self, result: tuple[Path, float]) -> None:
        path, seconds = result
        self._say(f"Saved {seconds:.2f} s of audio to {path}", error=False)
        self.audio_saved.emit(path)
