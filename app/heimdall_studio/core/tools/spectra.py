"""What an IQ record looks like: its power spectral density and its spectrogram (the app's
IQ view, docs/iq.md).

Both are Welch estimates: Hann-windowed segments overlapping by half, their periodograms
averaged. They are densities in dBm/Hz when the record's mean |x|^2 is in mW, as an
`iq_raw` dataset stores it: integrated over the sample rate they give the record's mean
power, and white noise of power N reads N / fs per hertz, whatever the segment length.
Frequencies run from -fs/2 to fs/2 around the carrier (0 Hz).

Segments are taken from the record as strided views and transformed a batch at a time,
so that memory stays bounded whatever the record's length (up to the 64 MiB a sample may
take).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# About this many segments are averaged into the spectrum, within these segment lengths
# (2,048 at the default 10,000 values: 24 Hz bins at 50 kHz, eight averages).
SPECTRUM_AVERAGES = 8
MIN_SEGMENT = 64
MAX_SPECTRUM_SEGMENT = 4096
SPECTROGRAM_SEGMENT = 256  # 5 ms and 195 Hz at 50 kHz: DTMF digits and CW keying show
MAX_SPECTROGRAM_ROWS = 256  # a longer record averages several segments into each row
BATCH_VALUES = 1 << 20  # values transformed at once
FLOOR_MW_PER_HZ = 1e-30  # what an empty bin reads, so that its logarithm is finite


@dataclass(frozen=True)
class Spectrum:
    """Power spectral density against frequency."""

    frequency_hz: np.ndarray  # (F,), increasing, 0 at the carrier
    density_dbm_hz: np.ndarray  # (F,)


@dataclass(frozen=True)
class Spectrogram:
    """Power spectral density against time (rows) and frequency (columns)."""

    frequency_hz: np.ndarray  # (F,), increasing
    time_s: np.ndarray  # (T,), the middle of each row's span of the record
    density_dbm_hz: np.ndarray  # (T, F), float32
    duration_s: float  # the record's length


def spectrum_segment(length: int) -> int:
    """The spectrum's segment for a record of `length` values: the power of two that
    averages about SPECTRUM_AVERAGES segments, within MIN_SEGMENT..MAX_SPECTRUM_SEGMENT
    and never longer than the record."""
    target = max(1, 2 * length // (SPECTRUM_AVERAGES + 1))
    segment = 1 << max(0, math.floor(math.log2(target)))
    return max(1, min(length, max(MIN_SEGMENT, min(MAX_SPECTRUM_SEGMENT, segment))))


def _periodograms(record: np.ndarray, segment: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (first segment index, their periodograms (k, segment) in mW/Hz, unshifted)
    of every half-overlapping Hann segment of `record`, a batch at a time."""
    hop = max(1, segment // 2)
    window = np.hanning(segment + 2)[1:-1] if segment > 2 else np.ones(segment)
    scale = 1.0 / float(np.sum(window ** 2))
    frames = np.lib.stride_tricks.sliding_window_view(record, segment)[::hop]
    batch = max(1, BATCH_VALUES // segment)
    for first in range(0, len(frames), batch):
        spectra = np.fft.fft(frames[first:first + batch] * window, axis=1)
        yield first, (spectra.real ** 2 + spectra.imag ** 2) * scale


def _check(record: np.ndarray, fs: float) -> np.ndarray:
    x = np.asarray(record)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"a record is one non-empty row of values, not shape {x.shape}")
    if not fs > 0:
        raise ValueError(f"the sample rate must be positive, not {fs!r}")
    return x.astype(np.complex128, copy=False)


def _decibels(density_mw_hz: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(density_mw_hz, FLOOR_MW_PER_HZ))


def power_spectrum(record: np.ndarray, fs: float, segment: int | None = None) -> Spectrum:
    """The Welch power spectral density of a complex baseband `record` sampled at `fs`
    (segment length `spectrum_segment(len(record))` unless given)."""
    x = _check(record, fs)
    segment = spectrum_segment(x.size) if segment is None else max(1, min(segment, x.size))
    total = np.zeros(segment)
    count = 0
    for _, batch in _periodograms(x, segment):
        total += batch.sum(axis=0)
        count += len(batch)
    density = np.fft.fftshift(total / (count * fs))
    frequency = np.fft.fftshift(np.fft.fftfreq(segment, 1.0 / fs))
    return Spectrum(frequency, _decibels(density))


def spectrogram(record: np.ndarray, fs: float, segment: int = SPECTROGRAM_SEGMENT,
                max_rows: int = MAX_SPECTROGRAM_ROWS) -> Spectrogram:
    """The spectrogram of a complex baseband `record` sampled at `fs`: one row per
    half-overlapping segment, or, for a record of more than `max_rows` segments, the mean
    of consecutive segments in each of `max_rows` rows."""
    x = _check(record, fs)
    segment = max(1, min(segment, x.size))
    hop = max(1, segment // 2)
    segments = (x.size - segment) // hop + 1
    rows = min(max(1, max_rows), segments)
    row_of = np.arange(segments) * rows // segments  # consecutive segments share a row
    total = np.zeros((rows, segment))
    for first, batch in _periodograms(x, segment):
        np.add.at(total, row_of[first:first + len(batch)], batch)
    counts = np.bincount(row_of, minlength=rows)
    density = np.fft.fftshift(total / (counts[:, None] * fs), axes=1)
    middles = (np.arange(segments) * hop + segment / 2) / fs
    time = np.bincount(row_of, weights=middles, minlength=rows) / counts
    frequency = np.fft.fftshift(np.fft.fftfreq(segment, 1.0 / fs))
    return Spectrogram(frequency, time, _decibels(density).astype(np.float32), x.size / fs)
