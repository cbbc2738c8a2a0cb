"""What IQ datasets record (SPEC section 12): one emitted waveform per sample, and the
channel that brings it to each receiver.

Every random choice comes from a 64-bit key and counter-based draws (`rng`), so a
sample's waveform depends on its key alone, as the rest of a sample does.

**Emitted waveforms** (`emit`): complex baseband at `fs`, unit mean power over the
record, starting at emission (t = 0):

| code | kind | content |
|---|---|---|
| 0 | `nfm_voice` | FM, 2.5 kHz peak deviation, of voice-like audio (below), pre-emphasised |
| 1 | `nfm_tone` | FM of one tone, 600-2400 Hz, peak deviation 2.5 kHz |
| 2 | `nfm_dtmf` | FM of DTMF digits: two tones of the 4 x 4 keypad, 70 ms on, 70 ms off |
| 3 | `am_voice` | AM, depth 0.7, of voice-like audio |
| 4 | `cw` | a carrier keyed in Morse-like dots and dashes, 12-25 wpm, 5 ms edges |
| 5 | `fsk2` | continuous-phase 2-FSK, 1200 baud, +/-1 kHz (paging and data links) |
| 6 | `fsk4` | continuous-phase 4-FSK, 4800 baud, +/-648, +/-1944 Hz (DMR, P25, NXDN) |

Voice-like audio is synthesized, not recorded: harmonics of a pitch of 90-250 Hz with a
slow vibrato, weighted by three formant resonances (F1 300-800, F2 900-2300, F3
2300-3000 Hz), below 3 kHz, under a syllable envelope of 100-300 ms bursts and pauses.
FM pre-emphasis is the first-order +6 dB per octave above 300 Hz of narrow-band FM
radios. The harmonics are summed by Clenshaw's recurrence on the fundamental's phase
(one sine and cosine per audio sample, whatever the number of harmonics).

FSK's frequency pulses are shaped, as real modulators shape them: the frequency moves
from one symbol's level to the next along a raised-cosine (half-sine) transition
centred on the symbol boundary and lasting `FSK2_SHAPING` (0.5) of a 2-FSK symbol and
`FSK4_SHAPING` (1) of a 4-FSK one. Each symbol's level is thus exact at its centre
(4-FSK's C4FM-like Nyquist shaping), the frequency is smooth, and the emission beyond
15.6 kHz of the carrier is about -99 dB (2-FSK) and -80 dB (4-FSK) of the power
(rectangular pulses: -46 and -37 dB).

**The channel** (`receive`): at receiver r the record samples, at t_n = start + n / fs,

    x[n] = sqrt(P) * sum_k h_k s(t_n - tau - d_k) * exp(j 2 pi f t_n) + w[n]

- tau is the propagation delay, f the link's frequency offset.
- The taps h_k, d_k are the multipath: the first is the direct or diffracted path, and
  the others arrive d_k later. sum |h_k|^2 = 1, so P is the mean received power.
- w is complex white noise of power N over the whole `fs`.
- The fractional delays are a windowed-sinc interpolation (`SINC_HALF` taps each side,
  Kaiser window of beta `KAISER_BETA`). Against an exact (FFT phase-ramp) delay its
  error is -80 dB for voice, AM and the shaped FSK at 50 kHz, whose power lies within an
  eighth of the sample rate, -84 dB for a tone, -70 dB for DTMF (whose tone bursts
  start abruptly).

**Arithmetic.** The waveform and the records are float32 (the records are stored as
complex64), computed in separate real and imaginary arrays; phases, audio and the
interpolation kernel are float64. Sines and cosines of arrays are a polynomial
(`_sincos`, within 2e-16 of the library's) that the compiler vectorises, so no sample
calls the trigonometric library. The noise's normals come two from one 64-bit draw.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..config.params import MODULATIONS
from .rng import ZIGGURAT_X, _normal_slow, bits, mix64, uniform

__all__ = ["MODULATIONS", "add_noise", "add_noise_parts", "emit", "emit_parts", "receive",
           "receive_parts", "voice_audio"]
NFM_VOICE, NFM_TONE, NFM_DTMF, AM_VOICE, CW, FSK2, FSK4 = range(len(MODULATIONS))

NFM_DEVIATION_HZ = 2500.0
PRE_EMPHASIS_HZ = 300.0
AM_DEPTH = 0.7
AUDIO_TOP_HZ = 3000.0
DTMF_LOW_HZ = np.array([697.0, 770.0, 852.0, 941.0])
DTMF_HIGH_HZ = np.array([1209.0, 1336.0, 1477.0, 1633.0])
DTMF_ON_S = 0.07
FSK2_BAUD, FSK2_DEVIATION_HZ = 1200.0, 1000.0
FSK4_BAUD, FSK4_DEVIATIONS_HZ = 4800.0, np.array([-1944.0, -648.0, 648.0, 1944.0])
# Share of a symbol its raised-cosine frequency transition lasts (module docstring)
FSK2_SHAPING, FSK4_SHAPING = 0.5, 1.0
CW_EDGE_S = 0.005
SINC_HALF = 5
KAISER_BETA = 8.5

# Draws of a sample's waveform key: the first few choose its parameters; audio, symbols
# and keying draw from AUDIO_DRAWS on.
AUDIO_DRAWS = 64

# Samples per block of the loops that keep their working arrays in the first-level cache
BLOCK = 1024
# The frequency offset's phasor: a table of ROTOR_STEPS steps, restarted exactly at each
# ROTOR_STEPS-th sample
ROTOR_STEPS = 64

# ---------------------------------------------------------------------------
# sines and cosines the compiler can vectorise

_TWO_OVER_PI = 2.0 / math.pi
# pi / 2 in three parts (fdlibm's): q * _PIO2_1 is exact for |q| < 2**20
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624879595063154e-21
# fdlibm's kernels of sin and cos on [-pi/4, pi/4]
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@njit(cache=True, nogil=True, inline="always")
def _sincos(x):
    """(sin x, cos x) by Cody-Waite reduction to [-pi/4, pi/4] and fdlibm's
    polynomials: no branch and no library call, so loops of it vectorise. Within 2e-16
    of the library for |x| up to about 1e6."""
    q = math.floor(x * _TWO_OVER_PI + 0.5)
    r = ((x - q * _PIO2_1) - q * _PIO2_2) - q * _PIO2_3
    z = r * r
    s = r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    c = 1.0 - 0.5 * z + z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    quadrant = q - 4.0 * math.floor(0.25 * q)
    odd = (quadrant == 1.0) | (quadrant == 3.0)
    sine = c if odd else s
    cosine = s if odd else c
    sine = -sine if quadrant >= 2.0 else sine
    cosine = -cosine if (quadrant == 1.0) | (quadrant == 2.0) else cosine
    return sine, cosine


@njit(cache=True, nogil=True)
def _cis(phase, re, im):
    """re + j im = exp(j phase), element by element."""
    for i in range(phase.shape[0]):
        s, c = _sincos(phase[i])
        re[i] = c
        im[i] = s


@njit(cache=True, nogil=True)
def _turns(first_cycles, step_cycles, re, im):
    """re[k] + j im[k] = exp(j 2 pi (first_cycles + k step_cycles)), the whole cycles
    taken out first (exact for any count of them)."""
    for k in range(re.shape[0]):
        cycles = first_cycles + k * step_cycles
        s, c = _sincos(2.0 * math.pi * (cycles - math.floor(cycles)))
        re[k] = c
        im[k] = s


@njit(cache=True, nogil=True)
def _sum_squares(x):
    """sum x**2 in float64, in eight interleaved partial sums (a fixed order)."""
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    whole = n - n % 8
    for i in range(0, whole, 8):
        a0 += float(x[i]) * x[i]
        a1 += float(x[i + 1]) * x[i + 1]
        a2 += float(x[i + 2]) * x[i + 2]
        a3 += float(x[i + 3]) * x[i + 3]
        a4 += float(x[i + 4]) * x[i + 4]
        a5 += float(x[i + 5]) * x[i + 5]
        a6 += float(x[i + 6]) * x[i + 6]
        a7 += float(x[i + 7]) * x[i + 7]
    for i in range(whole, n):
        a0 += float(x[i]) * x[i]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(cache=True, nogil=True)
def _peak(x):
    """max |x|, in eight interleaved partial maxima."""
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    whole = n - n % 8
    for i in range(0, whole, 8):
        a0 = max(a0, abs(x[i]))
        a1 = max(a1, abs(x[i + 1]))
        a2 = max(a2, abs(x[i + 2]))
        a3 = max(a3, abs(x[i + 3]))
        a4 = max(a4, abs(x[i + 4]))
        a5 = max(a5, abs(x[i + 5]))
        a6 = max(a6, abs(x[i + 6]))
        a7 = max(a7, abs(x[i + 7]))
    for i in range(whole, n):
        a0 = max(a0, abs(x[i]))
    return max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


# ---------------------------------------------------------------------------
# audio and modulating signals

@njit(cache=True, nogil=True)
def _formant_gain(f, f1, f2, f3):
    """The magnitude of three resonances of 100-150 Hz bandwidth at frequency f."""
    g = 0.0
    for centre, width, level in ((f1, 90.0, 1.0), (f2, 120.0, 0.6), (f3, 150.0, 0.3)):
        x = (f - centre) / width
        g += level / math.sqrt(1.0 + x * x)
    return g


@njit(cache=True, nogil=True)
def _syllables(key, first, fs, n, out):
    """A speech-like envelope in [0, 1]: bursts of 100-300 ms, each a smooth bump
    16 u**2 (1 - u)**2 over its duration (u from 0 to 1), separated by pauses of
    30-250 ms."""
    i = 0
    draw = first
    while i < n:
        burst = int((0.1 + 0.2 * uniform(key, draw)) * fs)
        level = 16.0 * (0.5 + 0.5 * uniform(key, draw + 1))
        pause = int((0.03 + 0.22 * uniform(key, draw + 2)) * fs)
        draw += 3
        on = out[i:min(n, i + burst)]
        step = 1.0 / burst
        for j in range(on.shape[0]):
            u = step * (j + 0.5)
            v = u * (1.0 - u)
            on[j] = level * v * v
        out[min(n, i + burst):min(n, i + burst + pause)] = 0.0
        i += burst + pause


@njit(cache=True, nogil=True)
def voice_audio(key, fs, n, out):
    """Voice-like audio (module docstring) of peak 1 into out[:n]."""
    f0 = 90.0 + 160.0 * uniform(key, 10)
    f1 = 300.0 + 500.0 * uniform(key, 11)
    f2 = 900.0 + 1400.0 * uniform(key, 12)
    f3 = 2300.0 + 700.0 * uniform(key, 13)
    vibrato_hz = 0.3 + 0.9 * uniform(key, 14)
    vibrato_phase = 2.0 * math.pi * uniform(key, 15)
    harmonics = int(AUDIO_TOP_HZ / f0)
    weight = np.empty(harmonics)
    for k in range(harmonics):
        weight[k] = _formant_gain((k + 1) * f0, f1, f2, f3) / (k + 1) ** 0.5
    envelope = np.empty(n)
    _syllables(key, AUDIO_DRAWS, fs, n, envelope)
    # the fundamental's phase, whose frequency has a slow vibrato: its sine is
    # evaluated every ROTOR_STEPS samples and interpolated linearly in between
    phase = np.empty(n)
    vibrato_step = 2.0 * math.pi * vibrato_hz * ROTOR_STEPS / fs
    pitch_step = 2.0 * math.pi * f0 / fs
    s0, _ = _sincos(vibrato_phase)
    for first in range(0, n, ROTOR_STEPS):
        s1, _ = _sincos(vibrato_step * (first // ROTOR_STEPS + 1) + vibrato_phase)
        part = phase[first:min(n, first + ROTOR_STEPS)]
        slope = (s1 - s0) * (1.0 / ROTOR_STEPS)
        for j in range(part.shape[0]):
            part[j] = pitch_step * (1.0 + 0.04 * (s0 + slope * j))  # the step, for now
        s0 = s1
    accumulated = 2.0 * math.pi * uniform(key, 16)
    for i in range(n):
        accumulated += phase[i]
        phase[i] = accumulated
    sine = np.empty(n)
    twice_cos = np.empty(n)
    for i in range(n):
        s, c = _sincos(phase[i])
        sine[i] = s
        twice_cos[i] = 2.0 * c
    # sum_k w_k sin(k x) = b_1 sin x, b_k = w_k + 2 cos(x) b_{k+1} - b_{k+2} (Clenshaw)
    even = np.empty(BLOCK)
    odd = np.empty(BLOCK)
    for start in range(0, n, BLOCK):
        count = min(BLOCK, n - start)
        b1 = even[:count]
        b2 = odd[:count]
        b1[:] = 0.0
        b2[:] = 0.0
        c2 = twice_cos[start:start + count]
        for k in range(harmonics - 1, -1, -1):
            w = weight[k]
            if (harmonics - 1 - k) % 2 == 0:
                for i in range(count):
                    b2[i] = w + c2[i] * b1[i] - b2[i]
            else:
                for i in range(count):
                    b1[i] = w + c2[i] * b2[i] - b1[i]
        total = b2 if harmonics % 2 == 1 else b1
        s1 = sine[start:start + count]
        env = envelope[start:start + count]
        o = out[start:start + count]
        for i in range(count):
            o[i] = env[i] * total[i] * s1[i]
    peak = _peak(out[:n])
    if peak > 0.0:
        scale = 1.0 / peak
        for i in range(n):
            out[i] *= scale


@njit(cache=True, nogil=True)
def _pre_emphasis(audio, fs, peak, out):
    """out = audio with +6 dB per octave above PRE_EMPHASIS_HZ (first order), scaled
    to a peak of `peak`."""
    a = math.exp(-2.0 * math.pi * PRE_EMPHASIS_HZ / fs)
    n = audio.shape[0]
    out[0] = audio[0]
    later = audio[1:]
    earlier = audio[:n - 1]
    rest = out[1:]
    for i in range(n - 1):
        rest[i] = later[i] - a * earlier[i]
    largest = _peak(out)
    if largest > 0.0:
        scale = peak / largest
        for i in range(n):
            out[i] *= scale


@njit(cache=True, nogil=True)
def _frequency_modulate(frequency_hz, fs, phase0, re, im):
    """re + j im = exp(j phase), the phase integrating `frequency_hz` (one value per
    sample) from phase0; `frequency_hz` is overwritten by the phase."""
    phase = phase0
    step = 2.0 * math.pi / fs
    for i in range(frequency_hz.shape[0]):
        f = frequency_hz[i]
        frequency_hz[i] = phase
        phase += step * f
    _cis(frequency_hz, re, im)


@njit(cache=True, nogil=True)
def _tones(key, fs, n, out):
    """DTMF: digits of two keypad tones, DTMF_ON_S on and as long off; peak 1."""
    on = int(DTMF_ON_S * fs)
    i = 0
    digit = 0
    while i < n:
        low = DTMF_LOW_HZ[int(4 * uniform(key, AUDIO_DRAWS + 2 * digit))]
        high = DTMF_HIGH_HZ[int(4 * uniform(key, AUDIO_DRAWS + 2 * digit + 1))]
        tone = out[i:min(n, i + on)]
        step_low = 2.0 * math.pi * low / fs
        step_high = 2.0 * math.pi * high / fs
        for j in range(tone.shape[0]):
            s_low, _ = _sincos(step_low * (i + j))
            s_high, _ = _sincos(step_high * (i + j))
            tone[j] = 0.5 * (s_low + s_high)
        out[min(n, i + on):min(n, i + 2 * on)] = 0.0
        i += 2 * on
        digit += 1


@njit(cache=True, nogil=True)
def _fsk_frequency(key, fs, n, baud, deviations, shaping, out):
    """The instantaneous frequency of continuous-phase FSK: a random level per symbol of
    1/baud, reached from the previous one along a raised-cosine transition of `shaping`
    (0 to 1) of a symbol centred on their boundary (module docstring)."""
    levels = deviations.shape[0]
    symbols = int(n * baud / fs) + 2
    # level[s + 1] is symbol s's; level[0] repeats symbol 0's (no transition into it)
    level = np.empty(symbols + 1)
    for s in range(symbols):
        level[s + 1] = deviations[min(levels - 1, int(levels * uniform(key, AUDIO_DRAWS + s)))]
    level[0] = level[1]
    half = 0.5 * shaping
    slope = math.pi / max(shaping, 1e-9)
    per_sample = baud / fs
    weight = np.empty(n)
    index = np.empty(n, np.uint32)
    for i in range(n):
        t = i * per_sample  # in symbols
        boundary = math.floor(t + 0.5)  # between symbols boundary - 1 and boundary
        d = t - boundary
        d = -half if d < -half else d
        d = half if d > half else d
        s, _ = _sincos(slope * d)
        weight[i] = 0.5 + 0.5 * s
        index[i] = np.uint32(boundary)
    for i in range(n):
        before = level[index[i]]
        after = level[index[i] + np.uint32(1)]
        out[i] = before + (after - before) * weight[i]


@njit(cache=True, nogil=True)
def _keying(key, fs, n, out):
    """A Morse-like envelope: dots (1 unit) and dashes (3) separated by 1-unit gaps,
    letters by 3, words by 7, at 12-25 words per minute; raised-cosine edges."""
    unit_s = 1.2 / (12.0 + 13.0 * uniform(key, 17))
    unit = unit_s * fs
    per_edge = 1.0 / (CW_EDGE_S * fs)
    i = 0.0
    draw = AUDIO_DRAWS
    out[:n] = 0.0
    while i < n:
        length = unit * (3.0 if uniform(key, draw) < 0.4 else 1.0)
        gap = unit * (1.0 + 2.0 * (uniform(key, draw + 1) < 0.3)
                      + 4.0 * (uniform(key, draw + 2) < 0.1))
        draw += 3
        start = int(i)
        stop = min(n, int(i + length))
        for k in range(start, stop):
            t = k - i
            rise = max(0.0, min(1.0, t * per_edge, (length - t) * per_edge))
            _, c = _sincos(math.pi * rise)
            out[k] = 0.5 * (1.0 - c)
        i += length + gap


@njit(cache=True, nogil=True)
def emit_parts(key, code, fs, re, im):
    """The emitted waveform of modulation `code` into `re` + j `im` (float32 arrays of
    one length), unit mean power; the sample's `key` chooses everything random."""
    n = re.shape[0]
    signal = np.empty(n)
    phase0 = 2.0 * math.pi * uniform(key, 1)
    if code in (NFM_VOICE, AM_VOICE):
        voice_audio(key, fs, n, signal)
        if code == NFM_VOICE:
            emphasised = np.empty(n)
            _pre_emphasis(signal, fs, NFM_DEVIATION_HZ, emphasised)
            _frequency_modulate(emphasised, fs, phase0, re, im)
            return
        for i in range(n):
            signal[i] = 1.0 + AM_DEPTH * signal[i]
    elif code == NFM_TONE:
        tone = 600.0 + 1800.0 * uniform(key, 2)
        step = 2.0 * math.pi * tone / fs
        for i in range(n):
            _, c = _sincos(step * i)
            signal[i] = NFM_DEVIATION_HZ * c
        _frequency_modulate(signal, fs, phase0, re, im)
        return
    elif code == NFM_DTMF:
        _tones(key, fs, n, signal)
        for i in range(n):
            signal[i] *= NFM_DEVIATION_HZ
        _frequency_modulate(signal, fs, phase0, re, im)
        return
    elif code == CW:
        _keying(key, fs, n, signal)
    elif code == FSK2:
        _fsk_frequency(key, fs, n, FSK2_BAUD, np.array([-FSK2_DEVIATION_HZ,
                                                        FSK2_DEVIATION_HZ]),
                       FSK2_SHAPING, signal)
        _frequency_modulate(signal, fs, phase0, re, im)
        return
    else:
        _fsk_frequency(key, fs, n, FSK4_BAUD, FSK4_DEVIATIONS_HZ, FSK4_SHAPING, signal)
        _frequency_modulate(signal, fs, phase0, re, im)
        return
    # AM and CW: a real envelope on a carrier of random phase, scaled to unit mean power
    scale = 1.0 / math.sqrt(max(_sum_squares(signal) / n, 1e-30))
    c = scale * math.cos(phase0)
    s = scale * math.sin(phase0)
    for i in range(n):
        re[i] = c * signal[i]
        im[i] = s * signal[i]


@njit(cache=True, nogil=True)
def emit(key, code, fs, out):
    """`emit_parts` into the complex array `out`."""
    n = out.shape[0]
    re = np.empty(n, np.float32)
    im = np.empty(n, np.float32)
    emit_parts(key, code, fs, re, im)
    for i in range(n):
        out[i] = complex(re[i], im[i])


# ---------------------------------------------------------------------------
# the channel

_KAISER_NORM = 1.0 / float(np.i0(KAISER_BETA))


@njit(cache=True, nogil=True)
def _bessel_i0(x):
    """The modified Bessel function I0 by its power series."""
    q = 0.25 * x * x
    term = 1.0
    total = 1.0
    k = 1.0
    while term > 1e-17 * total:
        term *= q / (k * k)
        total += term
        k += 1.0
    return total


@njit(cache=True, nogil=True)
def _kaiser_sinc(x):
    """The interpolation kernel at x samples from its centre (0 beyond SINC_HALF)."""
    if abs(x) >= SINC_HALF:
        return 0.0
    u = x / SINC_HALF
    window = _bessel_i0(KAISER_BETA * math.sqrt(1.0 - u * u)) * _KAISER_NORM
    if x == 0.0:
        return window
    return window * math.sin(math.pi * x) / (math.pi * x)


@njit(cache=True, nogil=True)
def receive_parts(emitted_re, emitted_im, fs, start_s, delays_s, gains, freq_hz, amplitude,
                  out_re, out_im):
    """Add a link's signal to `out_re` + j `out_im` (float32): out[n] += amplitude *
    sum_k gains[k] s(start_s + n / fs - delays_s[k]) exp(j 2 pi freq_hz (start_s + n /
    fs)), the emitted waveform s = `emitted_re` + j `emitted_im` sampled from t = 0 at
    `fs` (zero before and after).

    The taps' interpolation kernels are summed into one filter first: multipath taps
    lie microseconds apart, a fraction of a sample, so the filter is barely longer than
    one tap's and the record is filtered once, a block of BLOCK samples at a time."""
    n_out = out_re.shape[0]
    m = emitted_re.shape[0]
    first_whole = np.inf
    last_whole = -np.inf
    for k in range(delays_s.shape[0]):
        whole = math.floor((start_s - delays_s[k]) * fs)
        first_whole = min(first_whole, whole)
        last_whole = max(last_whole, whole)
    base = int(first_whole) - SINC_HALF + 1
    length = int(last_whole - first_whole) + 2 * SINC_HALF
    kernel_re = np.empty(length, np.float32)
    kernel_im = np.empty(length, np.float32)
    for t in range(length):
        kr = 0.0
        ki = 0.0
        for k in range(delays_s.shape[0]):
            position = (start_s - delays_s[k]) * fs  # the emitted index at output 0
            w = amplitude * _kaiser_sinc(position - (base + t))
            kr += w * gains[k].real
            ki += w * gains[k].imag
        kernel_re[t] = kr
        kernel_im[t] = ki
    # the outputs whose filter lies inside the emitted waveform
    inner_first = min(n_out, max(0, -base))
    inner_stop = max(inner_first, min(n_out, m - length - base + 1))
    # the frequency offset: steps of one sample, and the phasor at every ROTOR_STEPS-th
    step_re = np.empty(ROTOR_STEPS, np.float32)
    step_im = np.empty(ROTOR_STEPS, np.float32)
    _turns(0.0, freq_hz / fs, step_re, step_im)
    rotor_re = np.empty((n_out + ROTOR_STEPS - 1) // ROTOR_STEPS, np.float32)
    rotor_im = np.empty_like(rotor_re)
    _turns(freq_hz * start_s, freq_hz * ROTOR_STEPS / fs, rotor_re, rotor_im)
    acc_re = np.empty(BLOCK, np.float32)
    acc_im = np.empty(BLOCK, np.float32)
    for first in range(0, n_out, BLOCK):
        stop = min(n_out, first + BLOCK)
        acc_re[:] = 0.0
        acc_im[:] = 0.0
        a = min(stop, max(first, inner_first))
        b = max(a, min(stop, inner_stop))
        if b > a:
            ar = acc_re[a - first:b - first]
            ai = acc_im[a - first:b - first]
            for t in range(length):
                kr = kernel_re[t]
                ki = kernel_im[t]
                xr = emitted_re[base + a + t:base + b + t]
                xi = emitted_im[base + a + t:base + b + t]
                for i in range(b - a):
                    ar[i] += kr * xr[i] - ki * xi[i]
                    ai[i] += kr * xi[i] + ki * xr[i]
        for i in range(first, stop):  # the edges: part of the filter outside
            if a <= i < b:
                continue
            sr = 0.0
            si = 0.0
            for t in range(length):
                j = base + i + t
                if 0 <= j < m:
                    sr += kernel_re[t] * emitted_re[j] - kernel_im[t] * emitted_im[j]
                    si += kernel_re[t] * emitted_im[j] + kernel_im[t] * emitted_re[j]
            acc_re[i - first] = sr
            acc_im[i - first] = si
        for c in range(first, stop, ROTOR_STEPS):
            count = min(ROTOR_STEPS, stop - c)
            cr = rotor_re[c // ROTOR_STEPS]
            ci = rotor_im[c // ROTOR_STEPS]
            xr = acc_re[c - first:c - first + count]
            xi = acc_im[c - first:c - first + count]
            yr = out_re[c:c + count]
            yi = out_im[c:c + count]
            for j in range(count):
                pr = cr * step_re[j] - ci * step_im[j]
                pi = cr * step_im[j] + ci * step_re[j]
                yr[j] += xr[j] * pr - xi[j] * pi
                yi[j] += xr[j] * pi + xi[j] * pr


@njit(cache=True, nogil=True)
def receive(emitted, fs, start_s, delays_s, gains, freq_hz, amplitude, out):
    """`receive_parts` from and into complex arrays: `out` += the link's signal from the
    emitted waveform `emitted`."""
    m = emitted.shape[0]
    er = np.empty(m, np.float32)
    ei = np.empty(m, np.float32)
    for i in range(m):
        er[i] = emitted[i].real
        ei[i] = emitted[i].imag
    n = out.shape[0]
    rr = np.zeros(n, np.float32)
    ri = np.zeros(n, np.float32)
    receive_parts(er, ei, fs, start_s, delays_s, gains, freq_hz, amplitude, rr, ri)
    for i in range(n):
        out[i] += complex(rr[i], ri[i])


# ---------------------------------------------------------------------------
# noise

# The ziggurat of `rng` in float32: each layer's width, and the share of it inside the
# next layer's (below which a draw is accepted at once)
_ZIG_X = ZIGGURAT_X[:-1].astype(np.float32)
_ZIG_INNER = (ZIGGURAT_X[1:] / ZIGGURAT_X[:-1]).astype(np.float32)
_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_U8 = np.uint32(8)
_U9 = np.uint32(9)
_U1 = np.uint32(1)
_U255 = np.uint32(255)
_TO_UNIT23 = np.float32(1.0 / 8388608.0)  # 2**-23
# the slow path's chains of the two halves of a draw
_HALF_SALT = np.uint64(0xD1B54A32D192ED03)


@njit(cache=True, nogil=True, inline="always")
def _half_normal(half):
    """A 32-bit half draw's ziggurat try: (|x|, negative, accepted), with 8 bits of
    layer, one of sign and 23 of uniform."""
    layer = half & _U255
    u = np.float32(np.int32(half >> _U9)) * _TO_UNIT23
    accepted = u < _ZIG_INNER[layer]
    x = u * _ZIG_X[layer] if accepted else np.float32(0.0)
    return x, (half >> _U8) & _U1, accepted


@njit(cache=True, nogil=True)
def _slow_half(z, which, half):
    """The normal of a half draw its ziggurat try rejected: the slow path of `rng` on
    a chain of the whole draw `z`, which half `which` (0, 1) starts apart."""
    layer = half & _U255
    x = (half >> _U9) * (1.0 / 8388608.0) * ZIGGURAT_X[layer]
    x, _ = _normal_slow(mix64(z ^ (_HALF_SALT * np.uint64(which + 1))), np.uint64(layer), x)
    return -x if (half >> _U8) & _U1 else x


@njit(cache=True, nogil=True)
def add_noise_parts(key, first_draw, power, re, im):
    """Complex white Gaussian noise of mean power `power` added to `re` + j `im`
    (float32): sample i from draw first_draw + i of `key`, its real part from the draw's
    low 32 bits, its imaginary part from the high ones (a 256-layer ziggurat each)."""
    n = re.shape[0]
    sigma = np.float32(math.sqrt(0.5 * power))
    rejected = np.empty(n, np.bool_)
    for i in range(n):
        z = bits(key, first_draw + i)
        xr, nr, ar = _half_normal(np.uint32(z & _LOW32))
        xi, ni, ai = _half_normal(np.uint32(z >> _S32))
        re[i] += sigma * (-xr if nr else xr)
        im[i] += sigma * (-xi if ni else xi)
        rejected[i] = not (ar and ai)
    for i in range(n):  # about 1 % of each half
        if rejected[i]:
            z = bits(key, first_draw + i)
            low = np.uint32(z & _LOW32)
            high = np.uint32(z >> _S32)
            if not _half_normal(low)[2]:
                re[i] += sigma * _slow_half(z, 0, low)
            if not _half_normal(high)[2]:
                im[i] += sigma * _slow_half(z, 1, high)


@njit(cache=True, nogil=True)
def add_noise(key, first_draw, power, out):
    """`add_noise_parts` into the complex array `out`."""
    n = out.shape[0]
    re = np.zeros(n, np.float32)
    im = np.zeros(n, np.float32)
    add_noise_parts(key, first_draw, power, re, im)
    for i in range(n):
        out[i] += complex(re[i], im[i])

