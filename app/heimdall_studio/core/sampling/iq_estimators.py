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

import math

import numpy as np
import scipy.fft
from numba import njit, prange
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


# ---------------------------------------------------------------------------
# a block of samples at once: what an iq_raw dataset stores next to its records

GUARD_HZ = 1000.0
# Samples estimated at once: their buffers stay in the processor's caches
ESTIMATE_BATCH = 8


@njit(cache=True, nogil=True)
def _turn(x, f_hz, fs, first, count, out):
    """out[t] = x[t] exp(-j 2 pi f t / fs) for t in [first, first + count), by a
    phasor set afresh every 1024 samples."""
    step = complex(math.cos(-2.0 * math.pi * f_hz / fs), math.sin(-2.0 * math.pi * f_hz / fs))
    rotor = 1.0 + 0j
    for t in range(first, first + count):
        if (t - first) % 1024 == 0:
            angle = -2.0 * math.pi * f_hz * t / fs
            rotor = complex(math.cos(angle), math.sin(angle))
        out[t] = x[t] * rotor
        rotor *= step


@njit(cache=True, nogil=True, parallel=True)
def _offsets_and_turned(records, fs, present, nfft, turned):
    """Each record's carrier offset (Hz, the mean phase increment; NaN where the
    receiver does not detect), and into `turned` (n, R, nfft) the record turned back
    by it, zero-padded to the FFT's length."""
    n, n_rx, length = records.shape
    offsets = np.full((n, n_rx), np.nan)
    for item in prange(n * n_rx):
        i = item // n_rx
        r = item % n_rx
        x = records[i, r]
        lag1 = 0j
        for t in range(1, length):
            lag1 += complex(x[t]) * complex(x[t - 1]).conjugate()
        f = math.atan2(lag1.imag, lag1.real) * fs / (2.0 * math.pi)
        if present[i, r]:
            offsets[i, r] = f
        _turn(x, f, fs, 0, length, turned[i, r])
        turned[i, r, length:] = 0.0
    return offsets


@njit(cache=True, nogil=True, parallel=True)
def _snr_from_spectra(spectra, fs, bandwidth_hz, guard_hz):
    """SNR (dB) in the bandwidth of each record's Hann-windowed periodogram: in-band
    power over the median density of the outer half of the bins beyond the band and
    its guard."""
    n, n_rx, nfft = spectra.shape
    out = np.empty((n, n_rx), np.float32)
    half = 0.5 * bandwidth_hz
    # the outer half of what lies beyond the band and its guard, where the
    # transmitter's own emissions have faded most
    guard_hz = max(guard_hz, 0.5 * (0.5 * fs - half))
    n_in = 0
    n_out = 0
    for k in range(nfft):
        f = abs((k if k < (nfft + 1) // 2 else k - nfft) * fs / nfft)
        if f <= half:
            n_in += 1
        elif f > half + guard_hz:
            n_out += 1
    for item in prange(n * n_rx):
        i = item // n_rx
        r = item % n_rx
        outside = np.empty(n_out)
        inside = 0.0
        j = 0
        for k in range(nfft):
            f = abs((k if k < (nfft + 1) // 2 else k - nfft) * fs / nfft)
            # the periodic Hann window, applied as its three-bin kernel
            v = (0.5 * spectra[i, r, k] - 0.25 * spectra[i, r, (k - 1) % nfft]
                 - 0.25 * spectra[i, r, (k + 1) % nfft])
            p = v.real * v.real + v.imag * v.imag
            if f <= half:
                inside += p
            elif f > half + guard_hz:
                outside[j] = p
                j += 1
        density = np.median(outside) / math.log(2.0)
        signal = inside - n_in * density
        snr = SNR_FLOOR_DB
        if signal > 0.0 and density > 0.0:
            snr = max(10.0 * math.log10(signal / (n_in * density)), SNR_FLOOR_DB)
        out[i, r] = snr
    return out


@njit(cache=True, nogil=True, parallel=True)
def _cross(spectra, pairs, aligned, out):
    """out[p] = aligned[p] conj(X_ref[p]), X_ref the spectrum of pair p's reference."""
    for p in prange(pairs.shape[0]):
        ref = pairs[p, 1]
        for k in range(out.shape[1]):
            out[p, k] = aligned[p, k] * spectra[pairs[p, 0], ref, k].conjugate()


@njit(cache=True, nogil=True, parallel=True)
def _segments(turned, pairs, length, lag, xs, refs):
    """The pairs' records cut into segments for a non-coherent correlation: into
    xs[p, s] the record's segment s widened by `lag` on each side, into refs[p, s] the
    reference's, both zero-padded to the FFT's length."""
    count = xs.shape[1]
    size = length // count
    for p in prange(pairs.shape[0]):
        i, ref, r = pairs[p, 0], pairs[p, 1], pairs[p, 2]
        for s in range(count):
            start = s * size
            for t in range(xs.shape[2]):
                u = start - lag + t
                xs[p, s, t] = turned[i, r, u] if 0 <= u < length and t < size + 2 * lag else 0.0
                refs[p, s, t] = turned[i, ref, start + t] if t < size else 0.0


@njit(cache=True, nogil=True, parallel=True)
def _coarse_lags(corr, lag):
    """The lag of the largest sum over segments of |corr| within +-lag: corr[p, s, t]
    holds lag t - lag at index t."""
    out = np.empty(corr.shape[0], np.int64)
    for p in prange(corr.shape[0]):
        best = -1.0
        for t in range(2 * lag + 1):
            v = 0.0
            for s in range(corr.shape[1]):
                v += abs(corr[p, s, t])
            if v > best:
                best = v
                out[p] = t - lag
    return out


@njit(cache=True, nogil=True, parallel=True)
def _align_offsets(padded, pairs, lags, length, fs, out):
    """Turn each pair's record back by its offset against the reference, once the two
    are aligned by `lags`: the phase slope of x[n + lag] conj(ref[n]). (The waveform's
    own share of each record's offset differs between records of shifted windows.)
    `out` (pairs, nfft) receives the record turned back, zero-padded."""
    nfft = out.shape[1]
    for p in prange(pairs.shape[0]):
        i, ref, r = pairs[p, 0], pairs[p, 1], pairs[p, 2]
        lag = lags[p]
        lag1 = 0j
        previous = 0j
        for t in range(max(0, -lag), min(length, length - lag)):
            z = complex(padded[i, r, t + lag]) * complex(padded[i, ref, t]).conjugate()
            lag1 += z * previous.conjugate()
            previous = z
        f = math.atan2(lag1.imag, lag1.real) * fs / (2.0 * math.pi)
        _turn(padded[i, r], f, fs, 0, length, out[p])
        out[p, length:nfft] = 0.0


@njit(cache=True, nogil=True, parallel=True)
def _peak_delays(corr, length, max_lag):
    """The lag (samples, fractional) of the largest |corr| within +-max_lag of each
    row, refined by a parabola through |corr| / (L - |k|)."""
    out = np.empty(corr.shape[0])
    nfft = corr.shape[1]
    for p in prange(corr.shape[0]):
        c = corr[p]
        best = -1.0
        at = 0
        for lag in range(-max_lag, max_lag + 1):
            v = abs(c[lag % nfft]) / (length - abs(lag))
            if v > best:
                best = v
                at = lag
        y0 = abs(c[(at - 1) % nfft]) / (length - abs(at - 1))
        y2 = abs(c[(at + 1) % nfft]) / (length - abs(at + 1))
        curvature = y0 - 2.0 * best + y2
        out[p] = at + (0.5 * (y0 - y2) / curvature if curvature < 0.0 else 0.0)
    return out


def estimate_block(records: NDArray[np.complex64], fs: float, bandwidth_hz: float,
                   present: NDArray[np.bool_], timed: NDArray[np.bool_],
                   toa_ns: NDArray[np.float64], max_lag: int
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float64]]:
    """SNR, carrier offset and arrival time estimated from records (n, R, L).

    - SNR at every receiver (what its detector reads), from a Hann-windowed periodogram
      of the record turned back by its offset: in-band power over the median density
      of the outer half of the bins beyond the band and a guard (the median of an
      exponential is ln 2 times its mean). A bare record's edges would leak its
      in-band power 44 dB down into those bins.
    - The carrier offset where the receiver detects: the mean phase increment.
    - The arrival time where a timed receiver detects and another does: the delay of
      its record against the sample's reference (the detecting timed receiver of the
      highest estimated SNR), by cross-correlation within +-`max_lag` samples (first
      with each record turned back by its own offset, then by its offset against the
      reference once aligned), added to the reference's own `toa_ns`. The
      reference's estimate is its `toa_ns`.
    """
    n = records.shape[0]
    snr = np.empty(records.shape[:2], np.float32)
    offsets = np.empty(records.shape[:2], np.float32)
    toa = np.full(records.shape[:2], np.nan)
    for first in range(0, n, ESTIMATE_BATCH):
        part = slice(first, min(n, first + ESTIMATE_BATCH))
        snr[part], offsets[part], toa[part] = _estimate_batch(
            records[part], fs, bandwidth_hz, present[part], timed, toa_ns[part], max_lag)
    return snr, offsets, toa


# Segments of the coarse correlation: short enough that the offset left between two
# records turns less than a third of a cycle over one. That offset is the difference
# of the waveform's shares of their own offsets: the mean frequency of a spectrum each
# link's multipath tilts a little, up to about 60 Hz for 4-FSK.
COARSE_SEGMENT_S = 0.005


def _coarse_delays(turned: NDArray[np.complex64], pairs: NDArray[np.int64], length: int,
                   lag: int, fs: float) -> NDArray[np.int64]:
    """Each pair's delay in whole samples, by correlating segment by segment and adding
    the magnitudes: insensitive to the offset left between the two records."""
    count = max(1, min(length // max(1, int(COARSE_SEGMENT_S * fs)), length // 16))
    size = length // count
    nseg = int(scipy.fft.next_fast_len(size + 2 * lag))
    xs = np.empty((len(pairs), count, nseg), np.complex64)
    refs = np.empty_like(xs)
    _segments(turned, pairs, length, lag, xs, refs)
    xs = scipy.fft.fft(xs, axis=-1, overwrite_x=True, workers=-1)
    refs = scipy.fft.fft(refs, axis=-1, overwrite_x=True, workers=-1)
    np.multiply(xs, np.conj(refs, out=refs), out=xs)
    # the correlation at lag k sits at index lag + k (the segment starts lag early)
    return _coarse_lags(scipy.fft.ifft(xs, axis=-1, overwrite_x=True, workers=-1), lag)


def _estimate_batch(records: NDArray[np.complex64], fs: float, bandwidth_hz: float,
                    present: NDArray[np.bool_], timed: NDArray[np.bool_],
                    toa_ns: NDArray[np.float64], max_lag: int
                    ) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float64]]:
    n, n_rx, length = records.shape
    # one FFT per record serves the SNR and the correlations, which are circular: the
    # few samples a lag wraps round add a little noise, no bias
    nfft = int(scipy.fft.next_fast_len(length))
    turned = np.empty((n, n_rx, nfft), np.complex64)
    offsets = _offsets_and_turned(records, fs, present, nfft, turned)
    spectra = scipy.fft.fft(turned, axis=-1, workers=-1)
    snr = _snr_from_spectra(spectra, fs, bandwidth_hz, GUARD_HZ)
    toa = np.full((n, n_rx), np.nan)
    usable = present & timed[None, :]
    pairs = []
    for i in np.flatnonzero(usable.sum(axis=1) >= 2):
        receivers = np.flatnonzero(usable[i])
        ref = receivers[np.argmax(snr[i, receivers])]
        toa[i, ref] = toa_ns[i, ref]
        pairs.extend((i, ref, r) for r in receivers if r != ref)
    if not pairs:
        return snr, offsets, toa
    index = np.array(pairs, np.int64)
    lag = min(max_lag, length // 4)
    aligned = np.empty((len(pairs), nfft), np.complex64)
    _align_offsets(turned, index, _coarse_delays(turned, index, length, lag, fs), length, fs,
                   aligned)
    aligned = scipy.fft.fft(aligned, axis=-1, overwrite_x=True, workers=-1)
    cross = np.empty((len(pairs), nfft), np.complex64)
    _cross(spectra, index, aligned, cross)
    fine = _peak_delays(scipy.fft.ifft(cross, axis=-1, overwrite_x=True, workers=-1),
                        length, lag)
    toa[index[:, 0], index[:, 2]] = toa_ns[index[:, 0], index[:, 1]] + 1e9 * fine / fs
    return snr, offsets, toa
