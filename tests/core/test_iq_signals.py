"""IQ waveforms and the channel (core/sampling/iq_signals.py) against independent
computations: power, FM deviation, modulation content, fractional delay by an FFT phase
ramp, frequency offset."""

import numpy as np
import pytest

from heimdall_studio.core.sampling import iq_signals as iq

FS = 50_000.0
N = 10_000


def emitted(code, key=7, n=N):
    out = np.empty(n, np.complex128)
    iq.emit(np.uint64(key), code, FS, out)
    return out


def instantaneous_hz(x):
    return np.angle(x[1:] * np.conj(x[:-1])) * FS / (2 * np.pi)


@pytest.mark.parametrize("code", range(len(iq.MODULATIONS)))
def test_every_waveform_has_unit_power_and_fits_the_channel(code):
    x = emitted(code)
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, rel=1e-9)
    spectrum = np.abs(np.fft.fft(x)) ** 2
    f = np.fft.fftfreq(N, 1 / FS)
    assert spectrum[np.abs(f) < 6250].sum() / spectrum.sum() > 0.99  # 12.5 kHz channel
    # the key decides everything: the same key repeats it, another one does not
    assert np.array_equal(x, emitted(code))
    assert not np.array_equal(x, emitted(code, key=8))


@pytest.mark.parametrize("code", [iq.NFM_VOICE, iq.NFM_TONE, iq.NFM_DTMF, iq.FSK2, iq.FSK4])
def test_frequency_modulations_have_a_constant_envelope(code):
    assert np.allclose(np.abs(emitted(code)), 1.0)


@pytest.mark.parametrize("code", [iq.NFM_VOICE, iq.NFM_TONE, iq.NFM_DTMF])
def test_nfm_peaks_at_its_deviation(code):
    peak = max(np.abs(instantaneous_hz(emitted(code, key=k))).max() for k in range(3))
    assert peak == pytest.approx(iq.NFM_DEVIATION_HZ, rel=0.02)


def test_dtmf_digits_are_two_keypad_tones():
    audio = instantaneous_hz(emitted(iq.NFM_DTMF, key=11, n=50_000))
    on = int(iq.DTMF_ON_S * FS)
    for digit in range(3):
        burst = audio[2 * on * digit + 200: 2 * on * digit + on - 200]
        spectrum = np.abs(np.fft.rfft(burst * np.hanning(burst.size), 8 * burst.size))
        f = np.fft.rfftfreq(8 * burst.size, 1 / FS)
        low = f[np.argmax(np.where(f < 1100, spectrum, 0))]
        high = f[np.argmax(np.where(f > 1100, spectrum, 0))]
        assert np.min(np.abs(iq.DTMF_LOW_HZ - low)) < 8
        assert np.min(np.abs(iq.DTMF_HIGH_HZ - high)) < 8
        silence = audio[2 * on * digit + on + 100: 2 * on * (digit + 1) - 100]
        assert np.abs(silence).max() < 1.0  # no tone between digits


def test_four_level_fsk_holds_its_four_deviations_for_a_symbol_each():
    f = instantaneous_hz(emitted(iq.FSK4, key=3))
    levels = iq.FSK4_DEVIATIONS_HZ
    nearest = levels[np.argmin(np.abs(f[:, None] - levels[None, :]), axis=1)]
    assert np.abs(f - nearest).max() < 1.0
    counts = np.array([(nearest == level).mean() for level in levels])
    assert (np.abs(counts - 0.25) < 0.06).all()
    changes = np.flatnonzero(np.diff(nearest)) + 1
    per_symbol = FS / iq.FSK4_BAUD
    # changes fall on symbol boundaries only
    phase = (changes / per_symbol) % 1.0
    assert (np.minimum(phase, 1 - phase) * per_symbol < 1.01).all()


def test_voice_audio_is_speech_band_with_a_pitch():
    audio = np.empty(40_000)
    iq.voice_audio(np.uint64(21), FS, audio.size, audio)
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    f = np.fft.rfftfreq(audio.size, 1 / FS)
    assert spectrum[f < 3400].sum() / spectrum.sum() > 0.999
    lowest = f[np.argmax(np.where(f < 300, spectrum, 0))]
    assert 85 < lowest < 265  # the fundamental
    assert np.abs(audio).max() == pytest.approx(1.0)
    assert (np.abs(audio) < 1e-3).mean() > 0.05  # pauses between syllables


def test_cw_is_keyed_on_and_off():
    envelope = np.abs(emitted(iq.CW, key=5, n=100_000))
    keyed = envelope > 0.5 * envelope.max()
    assert 0.2 < keyed.mean() < 0.8
    assert (envelope[~keyed] < 0.5 * envelope.max()).all()
    assert np.count_nonzero(np.diff(keyed.astype(int)) == 1) >= 4  # several elements


def _delayed_by_fft(x, delay_samples):
    """x(t - d) by a phase ramp: an independent fractional delay of a band-limited x."""
    f = np.fft.fftfreq(x.size)
    return np.fft.ifft(np.fft.fft(x) * np.exp(-2j * np.pi * f * delay_samples))


@pytest.mark.parametrize("code", [iq.NFM_VOICE, iq.AM_VOICE, iq.NFM_TONE])
@pytest.mark.parametrize("delay_samples", [0.0, 3.25, 17.6, 43.9])
def test_fractional_delay_matches_an_fft_phase_ramp(delay_samples, code):
    # (FSK's phase has corners whose spectrum reaches the Nyquist frequency: no short
    # interpolator follows those, and the match stops near -56 dB for 2-FSK, -47 dB for
    # 4-FSK)
    m = 4 * N
    s = emitted(code, key=9, n=m)
    start = 0.3 * m / FS  # a record well inside the emitted waveform
    out = np.zeros(N, np.complex128)
    iq.receive(s, FS, start, np.array([delay_samples / FS]), np.array([1.0 + 0j]), 0.0, 1.0,
               out)
    reference = _delayed_by_fft(s, delay_samples)[round(start * FS):][:N]
    error = np.mean(np.abs(out - reference) ** 2) / np.mean(np.abs(reference) ** 2)
    assert 10 * np.log10(error) < -60


def test_received_power_offset_and_multipath_add_up():
    m = 3 * N
    s = emitted(iq.NFM_VOICE, key=13, n=m)
    power, offset = 2.5e-12, 317.0
    gains = np.array([0.8 + 0j, 0.6j])  # sum of |g|^2 is 1
    out = np.zeros(N, np.complex128)
    iq.receive(s, FS, 0.2 * m / FS, np.array([1e-3, 1e-3 + 2e-6]), gains, offset,
               np.sqrt(power), out)
    assert np.mean(np.abs(out) ** 2) == pytest.approx(power, rel=0.02)
    # removing the offset leaves the unshifted reception
    plain = np.zeros(N, np.complex128)
    iq.receive(s, FS, 0.2 * m / FS, np.array([1e-3, 1e-3 + 2e-6]), gains, 0.0,
               np.sqrt(power), plain)
    t = 0.2 * m / FS + np.arange(N) / FS
    assert np.allclose(out * np.exp(-2j * np.pi * offset * t), plain, atol=1e-12 * np.sqrt(power))


def test_noise_has_the_asked_power_and_is_white():
    x = np.zeros(200_000, np.complex128)
    iq.add_noise(np.uint64(4), 0, 3.0, x)
    assert np.mean(np.abs(x) ** 2) == pytest.approx(3.0, rel=0.01)
    assert np.var(x.real) == pytest.approx(np.var(x.imag), rel=0.02)
    lag1 = np.mean(x[1:] * np.conj(x[:-1])) / 3.0
    assert abs(lag1) < 0.01
