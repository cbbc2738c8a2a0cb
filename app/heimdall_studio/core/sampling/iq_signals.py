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
radios. The harmonics come from a Chebyshev recursion on the fundamental's phase (one
sine and cosine per audio sample, whatever the number of harmonics).

**The channel** (`receive`): at receiver r the record samples, at t_n = start + n / fs,

    x[n] = sqrt(P) * sum_k h_k s(t_n - tau - d_k) * exp(j 2 pi f t_n) + w[n]

- tau is the propagation delay, f the link's frequency offset.
- The taps h_k, d_k are the multipath: the first is the direct or diffracted path, and
  the others arrive d_k later. sum |h_k|^2 = 1, so P is the mean received power.
- w is complex white noise of power N over the whole `fs`.
- The fractional delays are a windowed-sinc interpolation (`SINC_HALF` taps each side,
  Blackman window). Against an exact (FFT phase-ramp) delay its error is below -60 dB
  for voice, tone and AM signals at 50 kHz. FSK's phase corners spread a little power
  up to the Nyquist frequency, where no short interpolator follows: -56 dB for 2-FSK,
  -47 dB for 4-FSK, below the noise of any link under 45 dB SNR.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..config.params import MODULATIONS
from .rng import normal, uniform

__all__ = ["MODULATIONS", "add_noise", "emit", "receive", "voice_audio"]
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
CW_EDGE_S = 0.005
SINC_HALF = 8

# Draws of a sample's waveform key: the first few choose its parameters; audio, symbols
# and keying draw from AUDIO_DRAWS on.
AUDIO_DRAWS = 64


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
    """A speech-like envelope in [0, 1]: bursts of 100-300 ms with raised-cosine edges,
    separated by pauses of 30-250 ms."""
    i = 0
    draw = first
    while i < n:
        burst = int((0.1 + 0.2 * uniform(key, draw)) * fs)
        level = 0.5 + 0.5 * uniform(key, draw + 1)
        pause = int((0.03 + 0.22 * uniform(key, draw + 2)) * fs)
        draw += 3
        for j in range(burst):
            if i + j >= n:
                break
            out[i + j] = level * 0.5 * (1.0 - math.cos(2.0 * math.pi * (j + 0.5) / burst))
        for j in range(burst, burst + pause):
            if i + j >= n:
                break
            out[i + j] = 0.0
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
    phase = 2.0 * math.pi * uniform(key, 16)
    peak = 0.0
    for i in range(n):
        pitch = f0 * (1.0 + 0.04 * math.sin(2.0 * math.pi * vibrato_hz * i / fs
                                             + vibrato_phase))
        phase += 2.0 * math.pi * pitch / fs
        s1 = math.sin(phase)
        c = math.cos(phase)
        # sin(k x) by sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x)
        previous = 0.0
        current = s1
        total = 0.0
        for k in range(harmonics):
            total += weight[k] * current
            following = 2.0 * c * current - previous
            previous = current
            current = following
        out[i] = envelope[i] * total
        peak = max(peak, abs(out[i]))
    if peak > 0.0:
        for i in range(n):
            out[i] /= peak


@njit(cache=True, nogil=True)
def _pre_emphasis(audio, fs):
    """+6 dB per octave above PRE_EMPHASIS_HZ (first order), then peak 1 again."""
    a = math.exp(-2.0 * math.pi * PRE_EMPHASIS_HZ / fs)
    previous = 0.0
    peak = 0.0
    for i in range(audio.shape[0]):
        x = audio[i]
        audio[i] = (x - a * previous) / (1.0 - a)
        previous = x
        peak = max(peak, abs(audio[i]))
    if peak > 0.0:
        for i in range(audio.shape[0]):
            audio[i] /= peak


@njit(cache=True, nogil=True)
def _frequency_modulate(frequency_hz, fs, phase0, out):
    """out = exp(j phase), the phase integrating `frequency_hz` (one value per sample)."""
    phase = phase0
    for i in range(frequency_hz.shape[0]):
        out[i] = complex(math.cos(phase), math.sin(phase))
        phase += 2.0 * math.pi * frequency_hz[i] / fs


@njit(cache=True, nogil=True)
def _tones(key, fs, n, out):
    """DTMF: digits of two keypad tones, DTMF_ON_S on and as long off; peak 1."""
    on = int(DTMF_ON_S * fs)
    i = 0
    digit = 0
    while i < n:
        low = DTMF_LOW_HZ[int(4 * uniform(key, AUDIO_DRAWS + 2 * digit))]
        high = DTMF_HIGH_HZ[int(4 * uniform(key, AUDIO_DRAWS + 2 * digit + 1))]
        for j in range(2 * on):
            if i + j >= n:
                break
            t = (i + j) / fs
            out[i + j] = (0.5 * (math.sin(2.0 * math.pi * low * t)
                                 + math.sin(2.0 * math.pi * high * t)) if j < on else 0.0)
        i += 2 * on
        digit += 1


@njit(cache=True, nogil=True)
def _fsk_frequency(key, fs, n, baud, deviations, out):
    """The instantaneous frequency of continuous-phase FSK: a random symbol per 1/baud."""
    per_symbol = fs / baud
    levels = deviations.shape[0]
    for i in range(n):
        symbol = int(i / per_symbol)
        out[i] = deviations[min(levels - 1, int(levels * uniform(key, AUDIO_DRAWS + symbol)))]


@njit(cache=True, nogil=True)
def _keying(key, fs, n, out):
    """A Morse-like envelope: dots (1 unit) and dashes (3) separated by 1-unit gaps,
    letters by 3, words by 7, at 12-25 words per minute; raised-cosine edges."""
    unit_s = 1.2 / (12.0 + 13.0 * uniform(key, 17))
    unit = unit_s * fs
    edge = CW_EDGE_S * fs
    i = 0.0
    draw = AUDIO_DRAWS
    for k in range(n):
        out[k] = 0.0
    while i < n:
        length = unit * (3.0 if uniform(key, draw) < 0.4 else 1.0)
        gap = unit * (1.0 + 2.0 * (uniform(key, draw + 1) < 0.3)
                      + 4.0 * (uniform(key, draw + 2) < 0.1))
        draw += 3
        start = int(i)
        stop = min(n, int(i + length))
        for k in range(start, stop):
            t = k - i
            rise = min(1.0, t / edge, (length - t) / edge)
            out[k] = 0.5 * (1.0 - math.cos(math.pi * max(0.0, rise)))
        i += length + gap


@njit(cache=True, nogil=True)
def emit(key, code, fs, out):
    """The emitted waveform of modulation `code` into `out` (complex128), unit mean
    power; the sample's `key` chooses everything random."""
    n = out.shape[0]
    signal = np.empty(n)
    phase0 = 2.0 * math.pi * uniform(key, 1)
    if code in (NFM_VOICE, AM_VOICE):
        voice_audio(key, fs, n, signal)
        if code == NFM_VOICE:
            _pre_emphasis(signal, fs)
            for i in range(n):
                signal[i] *= NFM_DEVIATION_HZ
            _frequency_modulate(signal, fs, phase0, out)
            return
        for i in range(n):
            out[i] = complex(1.0 + AM_DEPTH * signal[i], 0.0)
    elif code == NFM_TONE:
        tone = 600.0 + 1800.0 * uniform(key, 2)
        for i in range(n):
            signal[i] = NFM_DEVIATION_HZ * math.cos(2.0 * math.pi * tone * i / fs)
        _frequency_modulate(signal, fs, phase0, out)
        return
    elif code == NFM_DTMF:
        _tones(key, fs, n, signal)
        for i in range(n):
            signal[i] *= NFM_DEVIATION_HZ
        _frequency_modulate(signal, fs, phase0, out)
        return
    elif code == CW:
        _keying(key, fs, n, signal)
        for i in range(n):
            out[i] = complex(signal[i], 0.0)
    elif code == FSK2:
        _fsk_frequency(key, fs, n, FSK2_BAUD, np.array([-FSK2_DEVIATION_HZ,
                                                        FSK2_DEVIATION_HZ]), signal)
        _frequency_modulate(signal, fs, phase0, out)
        return
    else:
        _fsk_frequency(key, fs, n, FSK4_BAUD, FSK4_DEVIATIONS_HZ, signal)
        _frequency_modulate(signal, fs, phase0, out)
        return
    # AM and CW: a carrier of random phase, scaled to unit mean power
    power = 0.0
    for i in range(n):
        power += out[i].real * out[i].real
    scale = complex(math.cos(phase0), math.sin(phase0)) / math.sqrt(max(power / n, 1e-30))
    for i in range(n):
        out[i] *= scale


@njit(cache=True, nogil=True)
def _blackman_sinc(x):
    """The interpolation kernel at x samples from its centre (0 beyond SINC_HALF)."""
    if abs(x) >= SINC_HALF:
        return 0.0
    window = (0.42 + 0.5 * math.cos(math.pi * x / SINC_HALF)
              + 0.08 * math.cos(2.0 * math.pi * x / SINC_HALF))
    if x == 0.0:
        return window
    return window * math.sin(math.pi * x) / (math.pi * x)


@njit(cache=True, nogil=True)
def receive(emitted, fs, start_s, delays_s, gains, freq_hz, amplitude, out):
    """Add a link's signal to `out` (complex): out[n] += amplitude * sum_k gains[k] *
    s(start_s + n / fs - delays_s[k]) * exp(j 2 pi freq_hz (start_s + n / fs)), the
    emitted waveform `emitted` sampled from t = 0 at `fs` (zero before and after).

    The taps' interpolation kernels are summed into one filter first: multipath taps
    lie microseconds apart, a fraction of a sample, so the filter is barely longer than
    one tap's and the record is filtered once."""
    n_out = out.shape[0]
    m = emitted.shape[0]
    first_whole = np.inf
    last_whole = -np.inf
    for k in range(delays_s.shape[0]):
        whole = math.floor((start_s - delays_s[k]) * fs)
        first_whole = min(first_whole, whole)
        last_whole = max(last_whole, whole)
    base = int(first_whole) - SINC_HALF + 1
    length = int(last_whole - first_whole) + 2 * SINC_HALF
    kernel = np.zeros(length, np.complex128)
    for k in range(delays_s.shape[0]):
        position = (start_s - delays_s[k]) * fs  # the emitted index at output 0
        for t in range(length):
            kernel[t] += amplitude * gains[k] * _blackman_sinc(position - (base + t))
    # the frequency offset, by a rotating phasor set afresh every 1024 samples
    step = complex(math.cos(2.0 * math.pi * freq_hz / fs), math.sin(2.0 * math.pi * freq_hz / fs))
    rotor = 1.0 + 0j
    for i in range(n_out):
        if i % 1024 == 0:
            angle = 2.0 * math.pi * freq_hz * (start_s + i / fs)
            rotor = complex(math.cos(angle), math.sin(angle))
        first = base + i
        acc = 0j
        if first >= 0 and first + length <= m:
            for t in range(length):
                acc += kernel[t] * emitted[first + t]
        else:
            for t in range(length):
                j = first + t
                if 0 <= j < m:
                    acc += kernel[t] * emitted[j]
        out[i] += acc * rotor
        rotor *= step


@njit(cache=True, nogil=True)
def add_noise(key, first_draw, power, out):
    """Complex white Gaussian noise of mean power `power` added to `out`, from the draws
    first_draw, first_draw + 1, ... of `key`."""
    sigma = math.sqrt(0.5 * power)
    for i in range(out.shape[0]):
        out[i] += sigma * complex(normal(key, first_draw + 2 * i),
                                  normal(key, first_draw + 2 * i + 1))
