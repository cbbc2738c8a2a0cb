"""What an IQ record sounds like: the demodulated audio of one receiver's record, and a
WAV file of it (the app's "Save audio...", docs/iq.md).

- FM kinds (NFM voice, tone, DTMF, and FSK, which sounds like data): the instantaneous
  frequency, de-emphasised (the inverse of the transmitter's +6 dB per octave above
  300 Hz) for voice.
- AM: the envelope less its mean.
- CW: the record beating with a 700 Hz oscillator, as a receiver's BFO makes a keyed
  carrier audible.

Each starts by removing the record's own carrier offset (the mean phase increment), is
low-passed by a windowed-sinc filter at `AUDIO_TOP_HZ`, decimated to `AUDIO_RATE_HZ` and
scaled to a peak of 1.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ..config.params import MODULATIONS

AUDIO_RATE_HZ = 8000
AUDIO_TOP_HZ = 3400.0
DE_EMPHASIS_HZ = 300.0
CW_BEAT_HZ = 700.0
LOW_PASS_TAPS = 101
FM_KINDS = frozenset({"nfm_voice", "nfm_tone", "nfm_dtmf", "fsk2", "fsk4"})


def demodulate(record: np.ndarray, fs: float, modulation: str) -> np.ndarray:
    """The audio (float32, peak 1, at AUDIO_RATE_HZ) of a complex baseband `record` at
    `fs` carrying `modulation` (one of MODULATIONS)."""
    if modulation not in MODULATIONS:
        raise ValueError(f"modulation {modulation!r} is not one of {', '.join(MODULATIONS)}")
    if fs < 2 * AUDIO_TOP_HZ:
        raise ValueError(f"a sample rate of {fs:g} Hz holds no audio up to {AUDIO_TOP_HZ:g} Hz")
    x = np.asarray(record, dtype=np.complex128)
    n = np.arange(x.size)
    offset = np.angle(np.sum(x[1:] * np.conj(x[:-1])))  # radians per sample
    x = x * np.exp(-1j * offset * n)
    if modulation in FM_KINDS:
        audio = np.angle(x[1:] * np.conj(x[:-1])) * fs / (2 * np.pi)
        if modulation == "nfm_voice":
            audio = _de_emphasis(audio, fs)
    elif modulation == "am_voice":
        envelope = np.abs(x)
        audio = envelope - envelope.mean()
    else:  # cw
        audio = np.real(x * np.exp(2j * np.pi * CW_BEAT_HZ * n / fs))
    audio = _low_pass(audio, fs)
    step = fs / AUDIO_RATE_HZ
    audio = np.interp(np.arange(0, audio.size - 1, step), np.arange(audio.size), audio)
    peak = np.abs(audio).max() if audio.size else 0.0
    return (audio / peak if peak > 0 else audio).astype(np.float32)


def _de_emphasis(audio: np.ndarray, fs: float) -> np.ndarray:
    """The first-order low-pass that undoes the transmitter's pre-emphasis."""
    a = np.exp(-2 * np.pi * DE_EMPHASIS_HZ / fs)
    out = np.empty_like(audio)
    state = 0.0
    for i, value in enumerate(audio):  # 10,000 samples: a loop is fast enough here
        state = a * state + (1 - a) * value
        out[i] = state
    return out


def _low_pass(audio: np.ndarray, fs: float) -> np.ndarray:
    """A Hamming-windowed sinc low-pass at AUDIO_TOP_HZ (zero phase: 'same' mode)."""
    k = np.arange(LOW_PASS_TAPS) - (LOW_PASS_TAPS - 1) / 2
    cut = AUDIO_TOP_HZ / fs
    taps = 2 * cut * np.sinc(2 * cut * k) * np.hamming(LOW_PASS_TAPS)
    return np.convolve(audio, taps / taps.sum(), mode="same")


def write_wav(path: str | Path, audio: np.ndarray, rate: int = AUDIO_RATE_HZ) -> Path:
    """Write `audio` (peak at most 1) as a 16-bit mono PCM WAV file; returns its path."""
    path = Path(path)
    pcm = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    data = np.round(pcm * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(data)
    return path
