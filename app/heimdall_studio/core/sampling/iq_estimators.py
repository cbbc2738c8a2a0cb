"""What a receiver can estimate from its own complex baseband record (SPEC section 12).

Records are `x[n] = g s(n/fs - tau) exp(j 2 pi f_off n/fs) + w[n]`, shape `(..., L)`, with `w`
complex white Gaussian noise over the whole `fs`. Every estimator works on the last axis and
is vectorised over the leading ones; it computes in complex128, so callers chunk big sets.

SNR in `bandwidth_hz` (`estimate_snr_db`)
    Welch periodogram `P(f)` (1024-point periodic Hann segments, 50 % overlap, scaled so that
    `sum P df` is the record's power). Noise density `Nd` = the *median* of the bins with
    `|f| > B/2 + guard`, divided by the median/mean ratio of a chi-square with the Welch
    equivalent degrees of freedom `nu` (Wilson-Hilferty, `(1 - 2/(9 nu))**3`), so it is
    unbiased for white noise yet ignores spurs and modulation tails beyond the guard.
    `S = sum_{|f| <= B/2} (P - Nd) df`; `SNR = S / (Nd B)`. Biases: signal power outside
    `|f| <= B/2` is lost (FM keeps 98 % within Carson's bandwidth: at most -0.1 dB); signal
    power beyond the guard lifts `Nd` only through the median; the result is floored at
    `SNR_FLOOR_DB` (also when `S <= 0`). The spread is about 0.07 dB above 10 dB (the
    density's), 0.2 dB at 0 dB; noise alone reads below about -10 dB (S is then a few per
    cent of the in-band noise) or the floor.

Carrier offset (`estimate_freq_offset_hz`)
    The mean instantaneous frequency, from the lag-1 autocorrelation ("average phase
    difference", Kay's estimator unweighted): `f = fs/(2 pi) arg sum x[n+1] conj(x[n])`.
    White noise adds no bias (`E w[n+1] conj(w[n]) = 0`); the range is +-fs/2. Exact for CW
    and AM (a real envelope: only the carrier turns the phase). For FM and FSK it is the
    carrier plus the record's mean modulating frequency: nothing for audio without DC over the
    record (a tone of whole periods), up to `dev / (pi fm T)` for a tone that ends mid-period
    (4 Hz at 2.5 kHz, 1 kHz, 0.2 s), `dev * mean(symbols)` for FSK, about
    `rms_dev / sqrt(N_symbols)` with random data (tens of Hz for 4-FSK at 5 kBd in 0.2 s; no
    blind estimator removes it without demodulating). That share comes from the waveform, so
    it is common to all receivers of a sample. Skewed audio adds `-(2 pi/fs)**2 k3 / 6` Hz
    (`k3` the third central moment of the instantaneous frequency, Hz**3: a few Hz at most).
    Noise, with `r = SNR_B B / fs` the per-sample SNR and `beta` the rms bandwidth about the
    carrier (FM: the rms deviation; AM: `fa sqrt(sideband power / total power)`):
    `var f ~ 2 beta**2 / (r L) + (fs/(2 pi))**2 (1/(r L**2) + 1/(2 r**2 L))` (signal x noise;
    CW's end points; noise x noise). At SNR_B 30 dB, L = 10,000: 1.6 Hz rms for 2.5 kHz FM,
    0.3 Hz for AM and CW: CW at 190 times the tone CRB `sqrt(6) / (2 pi T sqrt(E/N0))`, the
    out-of-band noise x noise (a band filter would colour the noise and pull the estimate
    towards 0 Hz); only above ~45 dB do the end points dominate, at `sqrt(L / 6)` times the
    CRB (Kay's parabolic weights would cure that but weight FSK symbols unevenly). 10 dB: ~25 Hz.

Time of arrival (`estimate_delay_s`)
    `c[k] = sum_n x[n] conj(ref[n - k])` by FFT, zero-padded to a power of two >= 2L - 1 (no
    circular wrap), so the peak sits at `k = +tau fs` when `x` lags. The integer peak of `|c|`
    (within `max_delay_s`) is refined by a parabola through `|c| / (L - |k|)` (per overlapping
    pair: the raw taper would pull the vertex towards 0 by ~`w**2 / L`, 0.015 sample for FM
    voice, `w` the peak's width) at `k-1, k, k+1`. Sampled at 4x its bandwidth the waveform's
    main lobe is wide and the parabola's bias stays below 0.01 sample; noise adds ~0.001
    (noise-like) to 0.006 (FM voice) sample rms at 30 dB. Remove each record's own offset
    estimate first (`remove_offset`): a residual `df` turns `df T` cycles over the record and
    flattens the peak, while the waveform's share of the estimates cancels. Periodic
    waveforms (an FM or AM tone) correlate equally well one period away, CW not at all: only
    aperiodic ones (voice, data, noise) carry a delay.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

SNR_FLOOR_DB = -30.0
WELCH_SEGMENT = 1024


def _welch(x: NDArray[np.complex128], fs: float) -> tuple[NDArray[np.float64],
                                                           NDArray[np.float64], float]:
    """Frequencies, Welch power density (..., nseg) and its equivalent degrees of freedom."""
    nseg = min(WELCH_SEGMENT, x.shape[-1])
    step = max(nseg // 2, 1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nseg) / nseg)
    # Whole segments only: the last (L - nseg) % step samples are left out.
    segments = np.lib.stride_tricks.sliding_window_view(x, nseg, axis=-1)[..., ::step, :]
    spectra = np.fft.fft(segments * window, axis=-1)
    psd = np.mean(np.abs(spectra) ** 2, axis=-2) / (fs * np.sum(window**2))
    # Welch equivalent dof (Percival & Walden 6.17): overlapping segments are correlated.
    k = segments.shape[-2]
    rho2 = [(np.sum(window[: nseg - m * step] * window[m * step:]) / np.sum(window**2)) ** 2
            for m in range(1, min(k, -(-nseg // step)))]
    nu = 2.0 * k / (1.0 + 2.0 * sum((1.0 - m / k) * r for m, r in enumerate(rho2, start=1)))
    freqs = np.asarray(np.fft.fftfreq(nseg, 1.0 / fs), dtype=np.float64)
    return freqs, np.asarray(psd, dtype=np.float64), float(nu)


def estimate_snr_db(x: ArrayLike, fs: float, bandwidth_hz: float,
                    guard_hz: float = 1000.0) -> NDArray[np.float64]:
    """SNR in `bandwidth_hz` around 0 Hz, in dB, of records `x` (..., L); see the module."""
    freqs, psd, nu = _welch(np.asarray(x, dtype=np.complex128), fs)
    in_band = np.abs(freqs) <= bandwidth_hz / 2.0
    out_band = np.abs(freqs) > bandwidth_hz / 2.0 + guard_hz
    if not out_band.any():
        raise ValueError("no bins outside bandwidth_hz / 2 + guard_hz: lower them or raise fs")
    density = np.median(psd[..., out_band], axis=-1) / (1.0 - 2.0 / (9.0 * nu)) ** 3
    df = fs / freqs.size
    signal = np.sum(psd[..., in_band] - density[..., None], axis=-1) * df
    with np.errstate(divide="ignore", invalid="ignore"):
        snr_db = 10.0 * np.log10(signal / (density * bandwidth_hz))
    return np.where(signal > 0.0, np.maximum(snr_db, SNR_FLOOR_DB), SNR_FLOOR_DB)


def estimate_freq_offset_hz(x: ArrayLike, fs: float) -> NDArray[np.float64]:
    """Mean instantaneous frequency (Hz) of records `x` (..., L); see the module."""
    x = np.asarray(x, dtype=np.complex128)
    if x.shape[-1] < 2:
        raise ValueError("a record needs at least two samples")
    lag1 = np.sum(x[..., 1:] * np.conj(x[..., :-1]), axis=-1)
    return np.asarray(np.angle(lag1) * fs / (2.0 * np.pi), dtype=np.float64)


def remove_offset(x: ArrayLike, fs: float, freq_hz: ArrayLike) -> NDArray[np.complexfloating]:
    """`x * exp(-j 2 pi f n / fs)`, n from 0 at each record's start; `freq_hz` (...,)."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.complex64)
    f = np.asarray(freq_hz, dtype=np.float64)[..., None]
    phase = (-2.0 * np.pi / fs) * f * np.arange(x.shape[-1])
    return np.asarray(x * np.exp(1j * phase).astype(dtype), dtype=dtype)


def estimate_delay_s(reference: ArrayLike, x: ArrayLike, fs: float,
                     max_delay_s: float | None = None) -> NDArray[np.float64]:
    """Delay (s) of `x` against `reference`, both (..., L) and broadcastable, positive when
    `x` lags, searched within +-max_delay_s (default: the whole overlap); see the module."""
    ref = np.asarray(reference, dtype=np.complex128)
    x = np.asarray(x, dtype=np.complex128)
    length = x.shape[-1]
    if ref.shape[-1] != length:
        raise ValueError(f"reference has {ref.shape[-1]} samples, x has {length}")
    nfft = 1 << int(2 * length - 2).bit_length()
    corr = np.fft.ifft(np.fft.fft(x, nfft) * np.conj(np.fft.fft(ref, nfft)), axis=-1)
    lags = np.fft.fftfreq(nfft, 1.0 / nfft)
    allowed = np.abs(lags) <= length - 1
    if max_delay_s is not None:
        allowed &= np.abs(lags) <= max_delay_s * fs
    peak = np.argmax(np.where(allowed, np.abs(corr), -1.0), axis=-1)[..., None]
    # Refine on the sum per overlapping pair: the raw sum tapers as (L - |k|), which would
    # pull the vertex towards 0 by about w**2 / L (w the peak's width in samples).
    near = (peak + np.arange(-1, 2)) % nfft
    mag = np.abs(np.take_along_axis(corr, near, axis=-1)) / np.maximum(
        length - np.abs(lags[near]), 1.0)
    y0, y1, y2 = mag[..., 0], mag[..., 1], mag[..., 2]
    curvature = y0 - 2.0 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(curvature < 0.0, 0.5 * (y0 - y2) / curvature, 0.0)
    return np.asarray((lags[peak[..., 0]] + frac) / fs, dtype=np.float64)
