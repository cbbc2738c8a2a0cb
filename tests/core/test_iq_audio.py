"""Demodulated audio of IQ records (core/tools/audio.py), against the audio the
waveforms were made from."""

import wave

import numpy as np
import pytest

from heimdall_studio.core.sampling import iq_signals as iq
from heimdall_studio.core.sampling.rng import uniform
from heimdall_studio.core.tools import audio

FS = 50_000.0
N = 20_000


def received(code, key, offset_hz=230.0, snr_db=30.0):
    """A record of modulation `code`: offset, delayed by 1.3 samples, noisy."""
    s = np.empty(N + 400, np.complex128)
    iq.emit(np.uint64(key), code, FS, s)
    x = np.zeros(N, np.complex128)
    iq.receive(s, FS, 0.002, np.array([1.3 / FS]), np.array([1.0 + 0j]), offset_hz, 1.0, x)
    iq.add_noise(np.uint64(key + 1000), 0, 10 ** (-snr_db / 10) * FS / 12_500, x)
    return x


def peak_hz(signal, rate):
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size), 4 * signal.size))
    return np.fft.rfftfreq(4 * signal.size, 1 / rate)[np.argmax(spectrum)]


def test_fm_tone_demodulates_to_its_tone():
    key = 31
    tone = 600.0 + 1800.0 * uniform(np.uint64(key), 2)  # as iq_signals draws it
    sound = audio.demodulate(received(iq.NFM_TONE, key), FS, "nfm_tone")
    assert sound.dtype == np.float32 and np.abs(sound).max() == pytest.approx(1.0)
    assert len(sound) == pytest.approx(N * audio.AUDIO_RATE_HZ / FS, abs=2)
    assert peak_hz(sound[200:-200], audio.AUDIO_RATE_HZ) == pytest.approx(tone, abs=3)


def test_am_voice_demodulates_to_the_voice_it_carries():
    key = 32
    voice = np.empty(N + 400)
    iq.voice_audio(np.uint64(key), FS, voice.size, voice)
    sound = audio.demodulate(received(iq.AM_VOICE, key), FS, "am_voice")
    # the voice the record holds: from 2 ms after emission, in 8 kHz steps
    t = np.arange(len(sound)) / audio.AUDIO_RATE_HZ
    reference = np.interp(0.002 + t, np.arange(voice.size) / FS, voice)
    middle = slice(50, -50)
    assert np.corrcoef(sound[middle], reference[middle])[0, 1] > 0.95


def test_cw_beats_to_an_audible_note_when_keyed():
    key = 33
    x = received(iq.CW, key, offset_hz=0.0)
    sound = audio.demodulate(x, FS, "cw")
    keyed = np.abs(x) > 0.5
    assert keyed.any()
    # the note of the key-down stretches
    t = np.arange(len(sound)) * FS / audio.AUDIO_RATE_HZ
    down = keyed[np.minimum(t.astype(int), N - 1)]
    assert peak_hz(np.where(down, sound, 0.0), audio.AUDIO_RATE_HZ) == pytest.approx(
        audio.CW_BEAT_HZ, abs=5)


def test_a_wav_file_holds_the_audio(tmp_path):
    sound = audio.demodulate(received(iq.NFM_VOICE, 34), FS, "nfm_voice")
    path = audio.write_wav(tmp_path / "voice.wav", sound)
    with wave.open(str(path), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (
            1, 2, audio.AUDIO_RATE_HZ)
        frames = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    assert len(frames) == len(sound)
    assert np.abs(frames / 32767 - sound).max() < 1e-4


def test_bad_requests_say_what_is_wrong():
    x = received(iq.NFM_TONE, 35)
    with pytest.raises(ValueError, match="'ssb' is not one of"):
        audio.demodulate(x, FS, "ssb")
    with pytest.raises(ValueError, match="sample rate of 4000 Hz"):
        audio.demodulate(x, 4000.0, "nfm_tone")
