"""What a receiver can estimate from its own complex baseband record (SPEC section 12).

Records are `x[n] = g s(n/fs - tau) exp(j 2 pi f_off n/fs) + w[n]`, shape `(..., L)`, with `w`
complex white Gaussian noise over the whole `fs`. The estimators work on the last axis,
on complex64 records (as the datasets store them), with float32 products summed in float32
over 64 terms per lane and in float64 beyond (a relative error near 1e-7: 1e-5 Hz on an
offset), in a fixed order: the same records give the same bits on any thread count.
`estimate_block` makes an `iq_raw` dataset's estimates from a block of samples;
`estimate_snr_db`, `estimate_freq_offset_hz` and `estimate_delay_s` apply the same kernels
to any records, vectorised over the leading axes.

SNR in `bandwidth_hz` (`estimate_snr_db`)
    The periodogram of the whole record, Hann-windowed (applied to the spectrum as its
    three-bin kernel; a bare record's edges would leak its in-band power 44 dB down into the
    bins below). Noise density `Nd` = the *median* (of an even count, the upper one; found
    by radix selection on the values' bits) of the bins farther than `B/2 + guard`
    from the band's centre, the guard at least half of what lies beyond the band (the outer
    half, where the transmitter's own emissions have faded most), divided by ln 2 (the
    median over the mean of an exponential: the bins of white noise), so it is unbiased for
    white noise yet ignores spurs and modulation tails. `S = sum_{|f - c| <= B/2} (P - Nd)`;
    `SNR = S / (Nd B)`. The centre `c` is 0 Hz, or in `estimate_block` each record's own
    offset estimate. Biases: signal power outside `|f - c| <= B/2` is lost (FM keeps 98 %
    within Carson's bandwidth: at most -0.1 dB); signal power beyond the guard lifts `Nd`
    only through the median; the result is floored at `SNR_FLOOR_DB` (also when `S <= 0`).
    The spread is about 0.13 dB from 10 to 40 dB (the density's: a median of 3,750 bins at
    50 kHz and 0.2 s, adjacent Hann bins correlated), 0.33 dB at 0 dB; the bias is within
    0.01 dB; noise alone reads below about -10 dB (S is then a few per cent of the in-band
    noise) or the floor (half the time).

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
    The delay of a record `x` against a reference, positive when `x` lags, in two steps:

    1. Coarse, insensitive to the offset left between the two: both records, each
       shifted by its own offset estimate (to the nearest bin), are cut down to the band
       `B` around it from their spectra (an ideal low-pass, decimating by about fs / B),
       then correlated segment by segment (`COARSE_SEGMENT_S`, directly at each lag of
       the search window), and the magnitudes summed over the segments: the peak,
       refined by a parabola, is within a sample or two of the delay.
    2. Fine, coherent: the offset between the two is the frequency of
       `z[n] = x[n + k] conj(ref[n])` at the coarse lag `k`: its mean phase increment
       (whose noise, about `fs / (2 pi sqrt(2 r L))`, 4 Hz at 30 dB, would turn the
       correlation a cycle over the record), refined by the phase increment from one
       segment of `z`, turned back by it, to the next (precise to a small fraction of a
       hertz, within +-fs / (2 * segment) of the first). With that offset removed, the
       correlation `c[k] = sum_n x[n + k] conj(ref[n])` (over the overlap, no circular
       wrap) is computed directly at the lags around `k`, climbing to the largest
       `|c[k]| / (L - |k|)` (per overlapping pair: the raw sum's taper would pull the
       vertex towards 0 by ~`w**2 / L`, `w` the peak's width) within the search window
       (from there again, the offset measured anew, if the peak is at another lag), and
       refined by a parabola through it and its two neighbours.

    Sampled at 4x its bandwidth the waveform's main lobe is wide and the parabola's bias
    stays below 0.01 sample; noise adds ~0.005 sample rms at 30 dB (noise-like and FM
    voice). The waveform's share of each record's offset estimate differs between records
    of shifted windows (up to about 60 Hz for 4-FSK, the multipath tilting the spectrum),
    hence the short segments and the offset measured between the two once aligned.
    Periodic waveforms (an FM or AM tone) correlate equally well one period away, CW not
    at all: only aperiodic ones (voice, data, noise) carry a delay.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.fft
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from .iq_signals import ROTOR_STEPS, _turns

SNR_FLOOR_DB = -30.0
GUARD_HZ = 1000.0
# Samples estimated at once: their buffers stay in the processor's caches
ESTIMATE_BATCH = 8
# Segments of the coarse correlation: short enough that the offset left between two
# records turns less than a third of a cycle over one.
COARSE_SEGMENT_S = 0.005
# Samples summed in float32 (16 lanes) before their sum joins a float64 total
SUM_BLOCK = 1024


# ---------------------------------------------------------------------------
# sums, in a fixed order of interleaved partial sums (the compiler vectorises them)

@njit(cache=True, nogil=True)
def _dot_lanes(xr, xi, yr, yi, conjugate):
    """sum x y, or sum x conj(y) (complex128), of split float32 arrays of one length,
    in 16 float32 lanes (which the compiler vectorises)."""
    lanes = 16
    acc_r = np.zeros(lanes, np.float32)
    acc_i = np.zeros(lanes, np.float32)
    n = xr.shape[0]
    whole = n - n % lanes
    sign = np.float32(-1.0) if conjugate else np.float32(1.0)
    for s in range(0, whole, lanes):
        for lane in range(lanes):
            ci = sign * yi[s + lane]
            acc_r[lane] += xr[s + lane] * yr[s + lane] - xi[s + lane] * ci
            acc_i[lane] += xr[s + lane] * ci + xi[s + lane] * yr[s + lane]
    total_r = 0.0
    total_i = 0.0
    for lane in range(lanes):
        total_r += acc_r[lane]
        total_i += acc_i[lane]
    for t in range(whole, n):
        ci = sign * yi[t]
        total_r += xr[t] * yr[t] - xi[t] * ci
        total_i += xr[t] * ci + xi[t] * yr[t]
    return complex(total_r, total_i)


@njit(cache=True, nogil=True)
def _dot(xr, xi, yr, yi, conjugate=False):
    """`_dot_lanes` a block of SUM_BLOCK samples at a time, the blocks' sums added in
    float64: float32 sums of 64 terms per lane keep a relative error near 1e-7."""
    n = xr.shape[0]
    total = 0j
    for first in range(0, n, SUM_BLOCK):
        stop = min(n, first + SUM_BLOCK)
        total += _dot_lanes(xr[first:stop], xi[first:stop], yr[first:stop], yi[first:stop],
                            conjugate)
    return total


@njit(cache=True, nogil=True)
def _lag1(xr, xi):
    """sum_t x[t] conj(x[t - 1]) (complex128) of split float32 arrays."""
    n = xr.shape[0]
    if n < 2:
        return 0j
    return _dot(xr[1:], xi[1:], xr[:n - 1], xi[:n - 1], True)


@njit(cache=True, nogil=True)
def _split(parts, re, im):
    """re, im = the real and imaginary parts of an interleaved record."""
    for t in range(re.shape[0]):
        re[t] = parts[2 * t]
        im[t] = parts[2 * t + 1]


_U21 = np.uint32(21)
_U10 = np.uint32(10)
_U11 = np.uint32(11)
_M11 = np.uint32(2047)
_M10 = np.uint32(1023)


@njit(cache=True, nogil=True)
def _select(x, k):
    """The value of rank k (from 0) of the non-negative float32 values x, by radix
    selection on their bits (monotone for non-negative floats): three counting passes
    of 11, 11 and 10 bits, without the data-dependent branches of a quickselect."""
    keys = x.view(np.uint32)
    n = keys.shape[0]
    counts = np.zeros(2048, np.int64)
    for i in range(n):
        counts[keys[i] >> _U21] += 1
    top = 0
    while k >= counts[top]:
        k -= counts[top]
        top += 1
    counts[:] = 0
    high = np.uint32(top)
    for i in range(n):
        counts[(keys[i] >> _U10) & _M11] += (keys[i] >> _U21) == high
    middle = 0
    while k >= counts[middle]:
        k -= counts[middle]
        middle += 1
    counts[:] = 0
    prefix = (high << _U11) | np.uint32(middle)
    for i in range(n):
        counts[keys[i] & _M10] += (keys[i] >> _U10) == prefix
    low = 0
    while k >= counts[low]:
        k -= counts[low]
        low += 1
    value = np.empty(1, np.uint32)
    value[0] = (prefix << _U10) | np.uint32(low)
    return value.view(np.float32)[0]


# ---------------------------------------------------------------------------
# offsets and SNR

@njit(cache=True, nogil=True, parallel=True)
def _offsets(parts, fs):
    """Each record's carrier offset (Hz): the mean phase increment. `parts` (rows, 2 L)
    float32 holds the records' real and imaginary parts interleaved."""
    n = parts.shape[1] // 2
    out = np.empty(parts.shape[0])
    for row in prange(parts.shape[0]):
        re = np.empty(n, np.float32)
        im = np.empty(n, np.float32)
        _split(parts[row], re, im)
        lag1 = _lag1(re, im)
        out[row] = math.atan2(lag1.imag, lag1.real) * fs / (2.0 * math.pi)
    return out


def _bands(nfft: int, fs: float, bandwidth_hz: float, guard_hz: float,
           centres_hz: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per centre (rows, 4): the bins (first, last, inclusive, unwrapped: modulo nfft)
    within bandwidth_hz / 2 of it, and those farther than the band and the guard (the
    outer half of what lies beyond the band, at least `guard_hz`)."""
    df = fs / nfft
    half = 0.5 * bandwidth_hz
    guard = max(guard_hz, 0.5 * (0.5 * fs - half))
    c = np.asarray(centres_hz, dtype=np.float64)
    return np.stack([np.ceil((c - half) / df), np.floor((c + half) / df),
                     np.floor((c + half + guard) / df) + 1,
                     np.ceil((c + fs - half - guard) / df) - 1], axis=-1).astype(np.int64)


@njit(cache=True, nogil=True)
def _hann_power(spectrum, out):
    """out[k] = |X_hann[k]|**2, X_hann = 0.5 X[k] - 0.25 (X[k - 1] + X[k + 1]) (the
    periodic Hann window applied to the spectrum; indices modulo nfft). `spectrum`
    (2 nfft) float32, real and imaginary parts interleaved."""
    nfft = spectrum.shape[0] // 2
    for k in (0, nfft - 1):
        b = (k - 1) % nfft
        c = (k + 1) % nfft
        vr = 0.5 * spectrum[2 * k] - 0.25 * (spectrum[2 * b] + spectrum[2 * c])
        vi = 0.5 * spectrum[2 * k + 1] - 0.25 * (spectrum[2 * b + 1] + spectrum[2 * c + 1])
        out[k] = vr * vr + vi * vi
    middle = spectrum[2:2 * nfft - 2]
    before = spectrum[:2 * nfft - 4]
    after = spectrum[4:]
    inner = out[1:nfft - 1]
    for k in range(nfft - 2):
        vr = 0.5 * middle[2 * k] - 0.25 * (before[2 * k] + after[2 * k])
        vi = 0.5 * middle[2 * k + 1] - 0.25 * (before[2 * k + 1] + after[2 * k + 1])
        inner[k] = vr * vr + vi * vi


@njit(cache=True, nogil=True)
def _circular_sum(p, first, last):
    """sum of p[k % n] for k in [first, last], in eight partial sums."""
    n = p.shape[0]
    total = 0.0
    k = first
    while k <= last:
        start = k % n
        count = min(last - k + 1, n - start)
        part = p[start:start + count]
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        whole = count - count % 8
        for i in range(0, whole, 8):
            a0 += part[i]
            a1 += part[i + 1]
            a2 += part[i + 2]
            a3 += part[i + 3]
            a4 += part[i + 4]
            a5 += part[i + 5]
            a6 += part[i + 6]
            a7 += part[i + 7]
        for i in range(whole, count):
            a0 += part[i]
        total += ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        k += count
    return total


@njit(cache=True, nogil=True, parallel=True)
def _snr(spectra, bands, bandwidth_bins, out):
    """SNR (dB) of each record from its spectrum (rows, 2 nfft, interleaved): the power
    of its band's bins over the median density of its outer bins (module docstring).
    `bands` (rows, 4) holds each record's bins as `_bands` gives them."""
    rows = spectra.shape[0]
    nfft = spectra.shape[1] // 2
    for row in prange(rows):
        p = np.empty(nfft, np.float32)
        _hann_power(spectra[row], p)
        first, last, outer_first, outer_last = bands[row]
        inside = _circular_sum(p, first, last)
        outside = np.empty(outer_last - outer_first + 1, np.float32)
        k = outer_first
        while k <= outer_last:
            start = k % nfft
            count = min(outer_last - k + 1, nfft - start)
            outside[k - outer_first:k - outer_first + count] = p[start:start + count]
            k += count
        density = float(_select(outside, outside.shape[0] // 2)) / math.log(2.0)
        n_in = last - first + 1
        signal = inside - n_in * density
        snr = SNR_FLOOR_DB
        if signal > 0.0 and density > 0.0:
            snr = max(10.0 * math.log10(signal / (density * bandwidth_bins)), SNR_FLOOR_DB)
        out[row] = snr


def _snr_of(spectra: NDArray[np.complex64], fs: float, bandwidth_hz: float, guard_hz: float,
            centres_hz: NDArray[np.float64]) -> NDArray[np.float32]:
    """SNR (dB) of records (rows,) from their spectra (rows, nfft), in bandwidth_hz
    around each one's centre."""
    nfft = spectra.shape[-1]
    bands = _bands(nfft, fs, bandwidth_hz, guard_hz, centres_hz)
    if len(bands) and (bands[:, 3] < bands[:, 2]).any():
        raise ValueError("no bins outside bandwidth_hz / 2 + guard_hz: lower them or raise fs")
    out = np.empty(len(centres_hz), np.float32)
    _snr(spectra.view(np.float32), bands, bandwidth_hz * nfft / fs, out)
    return out


# ---------------------------------------------------------------------------
# time of arrival: the coarse correlation of decimated records

@njit(cache=True, nogil=True, parallel=True)
def _decimated_spectra(spectra, rows, shifts, out):
    """out[u] = the M = out.shape[1] bins of spectra[rows[u]] nearest its bin shifts[u]
    (a low-pass to M bins around it), in the order of an M-point spectrum."""
    nfft = spectra.shape[1]
    m = out.shape[1]
    for u in prange(rows.shape[0]):
        x = spectra[rows[u]]
        for j in range(-(m // 2), m - m // 2):
            out[u, j % m] = x[(shifts[u] + j) % nfft]


@njit(cache=True, nogil=True, parallel=True)
def _coarse_peaks(narrow, index, usable, lag, size):
    """The lag (fractional, in samples of `narrow`) of each pair's largest sum over
    segments of `size` samples of |sum_n x[n + k] conj(ref[n])|, k within +-lag, refined
    by a parabola: index[p] = (ref, x), rows of `narrow` (their first `usable`
    samples)."""
    lags = 2 * lag + 1
    count = max(1, usable // size)
    out = np.empty(index.shape[0])
    for p in prange(index.shape[0]):
        xr = np.empty(usable, np.float32)
        xi = np.empty(usable, np.float32)
        for t in range(usable):
            xr[t] = narrow[index[p, 1], t].real
            xi[t] = narrow[index[p, 1], t].imag
        total = np.zeros(lags)
        cr = np.empty(lags, np.float32)
        ci = np.empty(lags, np.float32)
        for s in range(count):
            cr[:] = 0.0
            ci[:] = 0.0
            for n in range(s * size, min(usable, (s + 1) * size)):
                r = narrow[index[p, 0], n]
                a = np.float32(r.real)
                b = np.float32(-r.imag)
                # x[n + k], k from -lag: x[n - lag + j] at j
                first = max(0, lag - n)
                stop = min(lags, usable - n + lag)
                yr = xr[n - lag + first:n - lag + stop]
                yi = xi[n - lag + first:n - lag + stop]
                dr = cr[first:stop]
                di = ci[first:stop]
                for j in range(stop - first):
                    dr[j] += yr[j] * a - yi[j] * b
                    di[j] += yr[j] * b + yi[j] * a
            for j in range(lags):
                total[j] += math.sqrt(float(cr[j]) * cr[j] + float(ci[j]) * ci[j])
        at = 0
        for j in range(lags):
            if total[j] > total[at]:
                at = j
        frac = 0.0
        if 0 < at < lags - 1:
            y0, y1, y2 = total[at - 1], total[at], total[at + 1]
            curvature = y0 - 2.0 * y1 + y2
            if curvature < 0.0:
                frac = 0.5 * (y0 - y2) / curvature
        out[p] = at - lag + frac
    return out


def _coarse_delays(spectra: NDArray[np.complex64], offsets_hz: NDArray[np.float64],
                   pairs: NDArray[np.int64], length: int, lag: int, fs: float,
                   bandwidth_hz: float) -> NDArray[np.float64]:
    """Each pair's delay (samples at fs, within a sample or two) by the non-coherent
    correlation of its two records cut down to `bandwidth_hz` (module docstring)."""
    nfft = spectra.shape[1]
    m = min(nfft, int(scipy.fft.next_fast_len(math.ceil(nfft * bandwidth_hz / fs))))
    ratio = m / nfft
    used, index = np.unique(pairs, return_inverse=True)
    shifts = np.rint(offsets_hz[used] * nfft / fs).astype(np.int64)
    narrow = np.empty((len(used), m), np.complex64)
    _decimated_spectra(spectra, used, shifts, narrow)
    narrow = scipy.fft.ifft(narrow, axis=-1, overwrite_x=True, workers=-1)
    usable = min(m, math.ceil(length * ratio))
    lag_d = max(1, min(math.ceil(lag * ratio) + 1, usable - 1))
    size = max(1, min(int(COARSE_SEGMENT_S * fs * ratio), usable // 2))
    peaks = _coarse_peaks(narrow, index.reshape(pairs.shape).astype(np.int64), usable, lag_d,
                          size)
    return np.asarray(peaks / ratio)


# ---------------------------------------------------------------------------
# time of arrival: the fine, coherent correlation at full rate

@njit(cache=True, nogil=True)
def _overlap_magnitude(xr, xi, wr, wi, k):
    """|sum_n x[n + k] w[n]| / (L - |k|) over the overlap of the two records."""
    n = xr.shape[0]
    a = max(0, -k)
    b = min(n, n - k)
    return abs(_dot(xr[a + k:b + k], xi[a + k:b + k], wr[a:b], wi[a:b])) / (n - abs(k))


@njit(cache=True, nogil=True)
def _climb(xr, xi, wr, wi, k, lag, steps):
    """From lag k, at most `steps` steps within +-lag to a local maximum of
    `_overlap_magnitude`: (k, its magnitude and its neighbours', -1 beyond the
    records)."""
    n = xr.shape[0]
    y1 = _overlap_magnitude(xr, xi, wr, wi, k)
    y0 = _overlap_magnitude(xr, xi, wr, wi, k - 1) if k - 1 > -n else -1.0
    y2 = _overlap_magnitude(xr, xi, wr, wi, k + 1) if k + 1 < n else -1.0
    for _ in range(steps):
        if y2 > y1 and y2 >= y0 and k + 1 <= lag:
            k += 1
            y0, y1 = y1, y2
            y2 = _overlap_magnitude(xr, xi, wr, wi, k + 1) if k + 1 < n else -1.0
        elif y0 > y1 and k - 1 >= -lag:
            k -= 1
            y2, y1 = y1, y0
            y0 = _overlap_magnitude(xr, xi, wr, wi, k - 1) if k - 1 > -n else -1.0
        else:
            break
    return k, y0, y1, y2


@njit(cache=True, nogil=True)
def _rotate(re, im, turn, out_re, out_im):
    """out = (re + j im) exp(-j 2 pi turn t), t from 0 (turn in cycles per sample):
    steps of one sample from a table, restarted exactly every ROTOR_STEPS samples.
    `out` may be the input."""
    n = re.shape[0]
    step_re = np.empty(ROTOR_STEPS, np.float32)
    step_im = np.empty(ROTOR_STEPS, np.float32)
    _turns(0.0, -turn, step_re, step_im)
    rotor_re = np.empty((n + ROTOR_STEPS - 1) // ROTOR_STEPS, np.float32)
    rotor_im = np.empty_like(rotor_re)
    _turns(0.0, -turn * ROTOR_STEPS, rotor_re, rotor_im)
    for c in range(0, n, ROTOR_STEPS):
        count = min(ROTOR_STEPS, n - c)
        cr = rotor_re[c // ROTOR_STEPS]
        ci = rotor_im[c // ROTOR_STEPS]
        xr = re[c:c + count]
        xi = im[c:c + count]
        yr = out_re[c:c + count]
        yi = out_im[c:c + count]
        for j in range(count):
            pr = cr * step_re[j] - ci * step_im[j]
            pi = cr * step_im[j] + ci * step_re[j]
            vr = xr[j]
            vi = xi[j]
            yr[j] = vr * pr - vi * pi
            yi[j] = vr * pi + vi * pr


@njit(cache=True, nogil=True)
def _relative_turn(zr, zi, size):
    """The frequency (cycles per sample) of z = x[n + k] conj(ref[n]) at the delay:
    the mean phase increment first (its error, ~fs / (2 pi sqrt(2 r L)), would turn a
    few cycles over the record), then the phase increment from one segment of `size`
    samples to the next of z turned back by it (within fs / (2 size) of it)."""
    lag1 = _lag1(zr, zi)
    turn = math.atan2(lag1.imag, lag1.real) / (2.0 * math.pi)
    _rotate(zr, zi, turn, zr, zi)
    count = zr.shape[0] // size
    if count < 2:
        return turn
    previous = 0j
    step = 0j
    for s in range(count):
        total = 0j
        for t in range(s * size, (s + 1) * size):
            total += complex(zr[t], zi[t])
        if s > 0:
            step += total * previous.conjugate()
        previous = total
    return turn + math.atan2(step.imag, step.real) / (2.0 * math.pi * size)


@njit(cache=True, nogil=True, parallel=True)
def _fine_delays(parts, pairs, coarse, lag, steps, size):
    """Each pair's delay (fractional samples) against its reference, from the coarse
    lag (module docstring): the offset between the two measured at the lag (segments
    of `size` samples) and removed, the coherent correlation climbed to its peak
    within +-lag (at most `steps` steps), again from there if the peak is at another
    lag (at most twice), and refined by a parabola."""
    n = parts.shape[1] // 2
    out = np.empty(pairs.shape[0])
    for p in prange(pairs.shape[0]):
        xr = np.empty(n, np.float32)
        xi = np.empty(n, np.float32)
        cr = np.empty(n, np.float32)  # conj(ref)
        ci = np.empty(n, np.float32)
        _split(parts[pairs[p, 1]], xr, xi)
        _split(parts[pairs[p, 0]], cr, ci)
        for t in range(n):
            ci[t] = -ci[t]
        wr = np.empty(n, np.float32)  # conj(ref) with the offset between them removed
        wi = np.empty(n, np.float32)
        k = min(max(round(coarse[p]), -lag), lag)
        y0 = y1 = y2 = -1.0
        for _ in range(3):
            # the offset between the two, aligned: the frequency of x[n + k] conj(ref[n])
            a = max(0, -k)
            b = min(n, n - k)
            zr = np.empty(b - a, np.float32)
            zi = np.empty(b - a, np.float32)
            sr = xr[a + k:b + k]
            si = xi[a + k:b + k]
            qr = cr[a:b]
            qi = ci[a:b]
            for t in range(b - a):
                zr[t] = sr[t] * qr[t] - si[t] * qi[t]
                zi[t] = sr[t] * qi[t] + si[t] * qr[t]
            _rotate(cr, ci, _relative_turn(zr, zi, size), wr, wi)
            peak, y0, y1, y2 = _climb(xr, xi, wr, wi, k, lag, steps)
            if peak == k:
                break
            k = peak
        frac = 0.0
        curvature = y0 - 2.0 * y1 + y2
        if y0 >= 0.0 and y2 >= 0.0 and curvature < 0.0:
            frac = 0.5 * (y0 - y2) / curvature
        out[p] = k + frac
    return out


def _pair_delays(rows: NDArray[np.complex64], spectra: NDArray[np.complex64],
                 offsets_hz: NDArray[np.float64], pairs: NDArray[np.int64], lag: int,
                 fs: float, bandwidth_hz: float) -> NDArray[np.float64]:
    """The delay (samples) of record pairs[p, 1] against record pairs[p, 0] of `rows`
    (rows, L), within +-lag (module docstring); `spectra` are the records' FFTs and
    `offsets_hz` their offset estimates."""
    length = rows.shape[1]
    lag = max(1, min(lag, length - 1))
    coarse = _coarse_delays(spectra, offsets_hz, pairs, length, lag, fs, bandwidth_hz)
    steps = 2 * math.ceil(fs / bandwidth_hz) + 8
    size = max(16, int(COARSE_SEGMENT_S * fs))
    return np.asarray(_fine_delays(rows.view(np.float32), pairs, coarse, lag, steps, size))


# ---------------------------------------------------------------------------
# records of any shape

def _as_rows(x: ArrayLike) -> NDArray[np.complex64]:
    """Records (..., L) as a C-contiguous complex64 (rows, L)."""
    x = np.asarray(x)
    return np.ascontiguousarray(x.reshape(-1, x.shape[-1]), dtype=np.complex64)


def estimate_snr_db(x: ArrayLike, fs: float, bandwidth_hz: float,
                    guard_hz: float = GUARD_HZ, centre_hz: ArrayLike = 0.0
                    ) -> NDArray[np.float64]:
    """SNR in `bandwidth_hz` around `centre_hz` (broadcast to the records; 0 Hz by
    default), in dB, of records `x` (..., L); see the module."""
    shape = np.shape(x)[:-1]
    rows = _as_rows(x)
    centres = np.broadcast_to(np.asarray(centre_hz, dtype=np.float64), shape).reshape(-1)
    spectra = scipy.fft.fft(rows, int(scipy.fft.next_fast_len(rows.shape[1])), axis=-1,
                            workers=-1)
    snr = _snr_of(spectra, fs, bandwidth_hz, guard_hz, centres)
    return snr.astype(np.float64).reshape(shape)


def estimate_freq_offset_hz(x: ArrayLike, fs: float) -> NDArray[np.float64]:
    """Mean instantaneous frequency (Hz) of records `x` (..., L); see the module."""
    shape = np.shape(x)[:-1]
    if np.shape(x)[-1] < 2:
        raise ValueError("a record needs at least two samples")
    rows = _as_rows(x)
    return np.asarray(_offsets(rows.view(np.float32), fs)).reshape(shape)


def remove_offset(x: ArrayLike, fs: float, freq_hz: ArrayLike) -> NDArray[np.complexfloating]:
    """`x * exp(-j 2 pi f n / fs)`, n from 0 at each record's start; `freq_hz` (...,)."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.complex64)
    f = np.asarray(freq_hz, dtype=np.float64)[..., None]
    phase = (-2.0 * np.pi / fs) * f * np.arange(x.shape[-1])
    return np.asarray(x * np.exp(1j * phase).astype(dtype), dtype=dtype)


def estimate_delay_s(reference: ArrayLike, x: ArrayLike, fs: float,
                     max_delay_s: float | None = None,
                     bandwidth_hz: float | None = None) -> NDArray[np.float64]:
    """Delay (s) of `x` against `reference`, both (..., L) and broadcastable, positive when
    `x` lags, searched within +-max_delay_s (default: the whole overlap); the coarse step
    keeps `bandwidth_hz` around each record's offset (default fs / 4). See the module."""
    ref, late = np.broadcast_arrays(np.asarray(reference), np.asarray(x))
    if np.shape(reference)[-1] != np.shape(x)[-1]:
        raise ValueError(f"reference has {np.shape(reference)[-1]} samples, "
                         f"x has {np.shape(x)[-1]}")
    shape = ref.shape[:-1]
    length = ref.shape[-1]
    rows = np.concatenate([_as_rows(ref), _as_rows(late)])
    count = len(rows) // 2
    pairs = np.stack([np.arange(count), count + np.arange(count)], axis=1).astype(np.int64)
    offsets = np.asarray(_offsets(rows.view(np.float32), fs))
    spectra = scipy.fft.fft(rows, int(scipy.fft.next_fast_len(length)), axis=-1, workers=-1)
    lag = length - 1 if max_delay_s is None else math.floor(max_delay_s * fs)
    delays = _pair_delays(rows, spectra, offsets, pairs, lag, fs,
                          fs / 4.0 if bandwidth_hz is None else bandwidth_hz)
    return (delays / fs).reshape(shape)


# ---------------------------------------------------------------------------
# a block of samples at once: what an iq_raw dataset stores next to its records

def estimate_block(records: NDArray[np.complex64], fs: float, bandwidth_hz: float,
                   present: NDArray[np.bool_], timed: NDArray[np.bool_],
                   toa_ns: NDArray[np.float64], max_lag: int
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float64]]:
    """SNR, carrier offset and arrival time estimated from records (n, R, L).

    - SNR at every receiver (what its detector reads), in the band around the record's
      own offset estimate (module docstring).
    - The carrier offset where the receiver detects: the mean phase increment.
    - The arrival time where a timed receiver detects and another does: the delay of
      its record against the sample's reference (the detecting timed receiver of the
      highest estimated SNR) within +-`max_lag` samples (module docstring), added to
      the reference's own `toa_ns`. The reference's estimate is its `toa_ns`.
    """
    n = records.shape[0]
    snr = np.empty(records.shape[:2], np.float32)
    offsets = np.empty(records.shape[:2], np.float32)
    toa = np.full(records.shape[:2], np.nan)
    for first in range(0, n, ESTIMATE_BATCH):
        part = slice(first, min(n, first + ESTIMATE_BATCH))
        snr[part], offsets[part], toa[part] = _estimate_batch(
            np.ascontiguousarray(records[part]), fs, bandwidth_hz, present[part], timed,
            toa_ns[part], max_lag)
    return snr, offsets, toa


def _estimate_batch(records: NDArray[np.complex64], fs: float, bandwidth_hz: float,
                    present: NDArray[np.bool_], timed: NDArray[np.bool_],
                    toa_ns: NDArray[np.float64], max_lag: int
                    ) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float64]]:
    n, n_rx, length = records.shape
    rows = records.reshape(n * n_rx, length)
    own = np.asarray(_offsets(rows.view(np.float32), fs))
    # one FFT per record serves the SNR and the coarse correlation
    spectra = scipy.fft.fft(rows, int(scipy.fft.next_fast_len(length)), axis=-1,
                            workers=-1)
    snr = _snr_of(spectra, fs, bandwidth_hz, GUARD_HZ, own).reshape(n, n_rx)
    offsets = np.where(present, own.reshape(n, n_rx), np.nan)
    toa = np.full((n, n_rx), np.nan)
    usable = present & timed[None, :]
    pairs: list[tuple[Any, Any, Any]] = []
    for i in np.flatnonzero(usable.sum(axis=1) >= 2):
        receivers = np.flatnonzero(usable[i])
        ref = receivers[np.argmax(snr[i, receivers])]
        toa[i, ref] = toa_ns[i, ref]
        pairs.extend((i, ref, r) for r in receivers if r != ref)
    if not pairs:
        return snr, offsets, toa
    index = np.array(pairs, np.int64)
    row_pairs = np.stack([index[:, 0] * n_rx + index[:, 1], index[:, 0] * n_rx + index[:, 2]],
                         axis=1)
    delays = _pair_delays(rows, spectra, own, row_pairs, min(max_lag, length // 4), fs,
                          bandwidth_hz)
    toa[index[:, 0], index[:, 2]] = toa_ns[index[:, 0], index[:, 1]] + 1e9 * delays / fs
    return snr, offsets, toa
