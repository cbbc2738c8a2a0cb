"""IQ waveforms and the channel (core/sampling/iq_signals.py) against independent
computations: power, FM deviation, modulation content, FSK shaping, fractional delay by
an FFT phase ramp, frequency offset, noise."""

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
    # the waveform is float32, as the records are: each value rounded to 6e-8
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, rel=1e-6)
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


@pytest.mark.parametrize(("code", "baud", "levels"), [
    (iq.FSK2, iq.FSK2_BAUD, np.array([-iq.FSK2_DEVIATION_HZ, iq.FSK2_DEVIATION_HZ])),
    (iq.FSK4, iq.FSK4_BAUD, iq.FSK4_DEVIATIONS_HZ),
])
def test_fsk_holds_its_levels_at_symbol_centres_and_moves_smoothly(code, baud, levels):
    f = instantaneous_hz(emitted(code, key=3))  # f[i]: the mean frequency over [i, i + 1]
    per_symbol = FS / baud
    centres = (np.arange(int(N / per_symbol) - 1) + 0.5) * per_symbol
    at_centre = f[np.round(centres - 0.5).astype(int)]
    nearest = levels[np.argmin(np.abs(at_centre[:, None] - levels[None, :]), axis=1)]
    # The frequency is flat at a symbol's centre: a sample's mean frequency next to it
    # differs by at most (1 - cos(pi / 10.4)) / 2 of the step to a neighbour (89 Hz for
    # 4-FSK's largest), a tenth of the spacing of the levels.
    assert np.abs(at_centre - nearest).max() < 0.1 * np.diff(levels).min()
    counts = np.array([(nearest == level).mean() for level in levels])
    assert (np.abs(counts - 1 / len(levels)) < 0.06).all()
    # shaped pulses: no jump (a rectangular pulse steps by up to the whole span at once)
    span = levels.max() - levels.min()
    assert np.abs(np.diff(f)).max() < 0.2 * span
    assert np.abs(f).max() < levels.max() + 1.0  # no overshoot


@pytest.mark.parametrize(("code", "most_db"), [(iq.FSK2, -90.0), (iq.FSK4, -75.0)])
def test_shaped_fsk_emits_little_far_from_the_carrier(code, most_db):
    # the outer bins an SNR estimate reads its noise from (beyond 15.6 kHz at 50 kHz):
    # rectangular pulses put -46 dB (2-FSK) and -37 dB (4-FSK) there
    for key in range(3):
        x = emitted(code, key=key)
        spectrum = np.abs(np.fft.fft(x * np.hanning(N))) ** 2
        f = np.fft.fftfreq(N, 1 / FS)
        assert 10 * np.log10(spectrum[np.abs(f) > 15_625].sum() / spectrum.sum()) < most_db


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
    peak = envelope.max()
    keyed = envelope > 0.5 * peak
    assert 0.2 < keyed.mean() < 0.8
    # on or off but for the 5 ms raised-cosine edges
    assert np.mean((envelope > 0.1 * peak) & (envelope < 0.9 * peak)) < 0.1
    assert np.count_nonzero(np.diff(keyed.astype(int)) == 1) >= 4  # several elements


def _delayed_by_fft(x, delay_samples):
    """x(t - d) by a phase ramp: an independent fractional delay of a band-limited x."""
    f = np.fft.fftfreq(x.size)
    return np.fft.ifft(np.fft.fft(x) * np.exp(-2j * np.pi * f * delay_samples))


@pytest.mark.parametrize("code", [iq.NFM_VOICE, iq.AM_VOICE, iq.NFM_TONE, iq.FSK2, iq.FSK4])
@pytest.mark.parametrize("delay_samples", [0.0, 3.25, 17.6, 43.9])
def test_fractional_delay_matches_an_fft_phase_ramp(delay_samples, code):
    # Measured: -80 dB for voice and AM, -84 dB for the tone, -81 dB for the shaped FSK
    # (rectangular FSK pulses put power up to the Nyquist frequency, where no short
    # interpolator follows: -56 and -47 dB). -70 dB leaves room for other keys.
    m = 4 * N
    s = emitted(code, key=9, n=m)
    start = 0.3 * m / FS  # a record well inside the emitted waveform
    out = np.zeros(N, np.complex128)
    iq.receive(s, FS, start, np.array([delay_samples / FS]), np.array([1.0 + 0j]), 0.0, 1.0,
               out)
    reference = _delayed_by_fft(s, delay_samples)[round(start * FS):][:N]
    error = np.mean(np.abs(out - reference) ** 2) / np.mean(np.abs(reference) ** 2)
    assert 10 * np.log10(error) < -70


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
    # a sample's two parts come from one draw's two halves: independent normals
    assert abs(np.corrcoef(x.real, x.imag)[0, 1]) < 0.01
    parts = np.concatenate([x.real, x.imag]) / np.sqrt(1.5)
    assert np.mean(parts**4) == pytest.approx(3.0, abs=0.05)
    # the ziggurat's slow paths (about 1 % of draws): its wedges, and the tail beyond
    # r = 3.654, 2 (1 - Phi(r)) = 2.58e-4 of the values (103 expected, sd 10)
    assert np.mean(np.abs(parts) > 3.0) == pytest.approx(2.70e-3, rel=0.1)
    assert np.count_nonzero(np.abs(parts) > 3.654) == pytest.approx(103, abs=35)
