"""IQ estimators (core/sampling/iq_estimators.py) against signals built here with known truth.

The single-record functions apply the kernels `estimate_block` uses for a dataset's
estimates (checked to agree at the end), so these figures are the datasets' too."""

import numpy as np
import pytest

from heimdall_studio.core.sampling.iq_estimators import (
    SNR_FLOOR_DB,
    estimate_block,
    estimate_delay_s,
    estimate_freq_offset_hz,
    estimate_snr_db,
    remove_offset,
)

FS = 50_000.0
B = 12_500.0
L = 10_000
T = L / FS
t = np.arange(L) / FS


def noise(rng, shape, snr_db):
    """Complex white noise over FS whose power in B is a unit-power signal's / 10**(snr/10)."""
    power = FS / B * 10.0 ** (-snr_db / 10.0)
    return np.sqrt(power / 2.0) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))


def fm_tone(fm=1000.0, dev=2500.0, phase=0.3):
    return np.exp(1j * (dev / fm) * np.sin(2.0 * np.pi * fm * t + phase))


def am_tone(fa=700.0):
    return (1.0 + 0.5 * np.cos(2.0 * np.pi * fa * t)) / np.sqrt(1.125)


def fsk4(rng, levels_hz=(-1875.0, -625.0, 625.0, 1875.0), samples_per_symbol=10, balanced=True):
    """Continuous-phase 4-FSK at 5 kBd; `balanced` uses every level equally often."""
    n_symbols = L // samples_per_symbol
    if balanced:
        symbols = rng.permutation(np.arange(n_symbols) % 4)
    else:
        symbols = rng.integers(0, 4, n_symbols)
    f_inst = np.repeat(np.asarray(levels_hz)[symbols], samples_per_symbol)
    return np.exp(2j * np.pi * np.cumsum(f_inst) / FS), f_inst


# --- SNR ---------------------------------------------------------------------------------

@pytest.mark.parametrize("offset_hz", [0.0, 950.0])
def test_snr_of_fm_tone_within_half_a_db(offset_hz):
    rng = np.random.default_rng(11)
    snrs = np.array([10.0, 15.0, 20.0, 25.0, 30.0])
    s = fm_tone() * np.exp(2j * np.pi * offset_hz * t)
    x = s + noise(rng, (16, snrs.size, L), snrs[:, None])
    err = estimate_snr_db(x, FS, B) - snrs
    # Measured (200 records per level): bias within 0.01 dB, spread 0.13 dB from 10 to
    # 40 dB, the median of the 3,750 outer bins' (0.33 dB at 0 dB); 0.6 dB is 4.5 sigma,
    # 0.12 dB 3.5 sigma of a mean of 16.
    assert np.abs(err).max() < 0.6
    assert np.abs(err.mean(axis=0)).max() < 0.12


def test_snr_of_noise_only_is_low():
    rng = np.random.default_rng(12)
    est = estimate_snr_db(noise(rng, (32, L), 20.0), FS, B)
    assert est.max() < -8.0
    assert est.min() >= SNR_FLOOR_DB


# --- carrier offset ----------------------------------------------------------------------

OFFSETS = np.array([-800.0, 0.0, 333.3, 950.0])


def predicted_std_hz(rms_bandwidth_hz, snr_db, length=L):
    """The module's noise analysis: signal x noise (the rms bandwidth about the carrier; for
    CW only the record's end points remain) and noise x noise."""
    r = 10.0 ** (snr_db / 10.0) * B / FS
    k = FS / (2.0 * np.pi)
    return np.sqrt(2.0 * rms_bandwidth_hz**2 / (r * length) + k**2 / (r * length**2)
                   + k**2 / (2.0 * r**2 * length))


@pytest.mark.parametrize(("kind", "rms_bandwidth_hz"), [
    ("fm_tone", 2500.0 / np.sqrt(2.0)),  # FM: the rms deviation
    ("am", 700.0 * np.sqrt(0.125 / 1.125)),  # AM: sideband power share times fa**2
    ("fsk4", np.sqrt((1875.0**2 + 625.0**2) / 2.0)),
])
def test_freq_offset_at_30_db(kind, rms_bandwidth_hz):
    rng = np.random.default_rng(21)
    s = {"fm_tone": fm_tone(), "am": am_tone(), "fsk4": fsk4(rng)[0]}[kind]
    x = s * np.exp(2j * np.pi * OFFSETS[:, None, None] * t) + noise(rng, (4, 32, L), 30.0)
    err = estimate_freq_offset_hz(x, FS) - OFFSETS[:, None]
    sigma = predicted_std_hz(rms_bandwidth_hz, 30.0)  # 1.6 Hz FM, 0.31 Hz AM, 1.27 Hz FSK
    rms = np.sqrt(np.mean(err**2))
    assert 0.6 * sigma < rms < 1.5 * sigma
    assert np.abs(err).max() < 5.0 * sigma


@pytest.mark.parametrize(("snr_db", "over_crb"), [(30.0, 190.0), (60.0, 41.0)])
def test_freq_offset_of_cw_against_tone_crb(snr_db, over_crb):
    # The unweighted sum is the record's mean instantaneous frequency at the price of
    # efficiency: for CW its signal x noise term telescopes to the end points, sqrt(L / 6)
    # times the CRB, and at 30 dB noise x noise (out of band too) dominates. Still 0.23 Hz.
    rng = np.random.default_rng(22)
    x = np.exp(2j * np.pi * 333.3 * t) + noise(rng, (64, L), snr_db)
    rms = np.sqrt(np.mean((estimate_freq_offset_hz(x, FS) - 333.3) ** 2))
    e_over_n0 = 10.0 ** (snr_db / 10.0) * B / FS * L
    crb = np.sqrt(6.0) / (2.0 * np.pi * T * np.sqrt(e_over_n0))
    assert rms == pytest.approx(predicted_std_hz(0.0, snr_db), rel=0.3)
    assert rms / crb == pytest.approx(over_crb, rel=0.3)


def test_freq_offset_of_random_fsk_is_carrier_plus_mean_data_frequency():
    rng = np.random.default_rng(23)
    s, f_inst = fsk4(rng, balanced=False)
    x = s * np.exp(2j * np.pi * 333.3 * t) + noise(rng, L, 50.0)
    # The documented bias (16 Hz here): the record's mean instantaneous frequency (sample 0
    # has no phase step); the noise leaves 0.13 Hz rms at 50 dB.
    assert estimate_freq_offset_hz(x, FS) == pytest.approx(333.3 + f_inst[1:].mean(), abs=1.0)


def test_remove_offset_undoes_the_shift():
    rng = np.random.default_rng(24)
    s = fsk4(rng)[0].astype(np.complex64)
    shifted = (s * np.exp(2j * np.pi * 333.3 * t)).astype(np.complex64)
    back = remove_offset(shifted, FS, 333.3)
    assert back.dtype == np.complex64
    np.testing.assert_allclose(back, s, atol=1e-4)


# --- time of arrival ---------------------------------------------------------------------

PAD = 2048
LONG = L + 2 * PAD
F_LONG = np.fft.fftfreq(LONG, 1.0 / FS)


def band_limited_noise(rng):
    spectrum = np.fft.fft(rng.standard_normal(LONG) + 1j * rng.standard_normal(LONG))
    spectrum[np.abs(F_LONG) > B / 2.0] = 0.0
    s = np.fft.ifft(spectrum)
    return s / np.sqrt(np.mean(np.abs(s) ** 2))


def fm_voice(rng):
    """FM by band-limited (300-3000 Hz) noise audio at 2.5 kHz peak deviation."""
    audio = np.fft.fft(rng.standard_normal(LONG))
    audio[(np.abs(F_LONG) < 300.0) | (np.abs(F_LONG) > 3000.0)] = 0.0
    a = np.fft.ifft(audio).real
    return np.exp(2j * np.pi * 2500.0 * np.cumsum(a / np.abs(a).max()) / FS)


def delayed_pair(s, delay_samples):
    """(reference, x): x lags by a fractional delay, done on the long record, then cropped."""
    late = np.fft.ifft(np.fft.fft(s) * np.exp(-2j * np.pi * F_LONG * delay_samples / FS))
    return s[PAD:PAD + L], late[PAD:PAD + L]


@pytest.mark.parametrize("waveform", [band_limited_noise, fm_voice])
def test_fractional_delay_within_005_samples_at_30_db(waveform):
    rng = np.random.default_rng(31)
    delays = np.array([0.0, 3.25, 17.6, 43.9, -12.3])
    pairs = [delayed_pair(waveform(rng), d) for d in delays for _ in range(4)]
    ref = np.array([p[0] for p in pairs])
    x = np.array([p[1] for p in pairs]) + noise(rng, (len(pairs), L), 30.0)
    err = estimate_delay_s(ref, x, FS) * FS - np.repeat(delays, 4)
    # Measured (140 trials): within 0.009 sample for noise-like (0.006 of it the parabola's
    # bias), 0.016 for FM voice, whose power is nearer the carrier and its peak noisier.
    assert np.abs(err).max() < 0.05


def test_delay_sign_and_search_window():
    rng = np.random.default_rng(32)
    s = band_limited_noise(rng)
    ref = s[PAD:PAD + L]
    assert estimate_delay_s(ref, s[PAD - 5:PAD - 5 + L], FS) * FS == pytest.approx(5.0, abs=1e-3)
    assert estimate_delay_s(s[PAD - 5:PAD - 5 + L], ref, FS) * FS == pytest.approx(-5.0, abs=1e-3)
    # A stronger echo at 40 samples wins unless max_delay_s keeps the search within 20 (its
    # correlation sidelobes then shift the weaker peak by a few hundredths of a sample).
    x = s[PAD - 5:PAD - 5 + L] + 2.0 * s[PAD - 40:PAD - 40 + L]
    assert estimate_delay_s(ref, x, FS) * FS == pytest.approx(40.0, abs=0.05)
    assert estimate_delay_s(ref, x, FS, max_delay_s=20.0 / FS) * FS == pytest.approx(5.0, abs=0.2)


def test_delay_after_removing_each_records_own_offset_estimate():
    # The waveform's share of an offset estimate is common to both records and cancels.
    rng = np.random.default_rng(33)
    ref, late = delayed_pair(fm_voice(rng), 17.6)
    x = late * np.exp(2j * np.pi * 950.0 * t) + noise(rng, L, 30.0)
    ref0 = remove_offset(ref, FS, estimate_freq_offset_hz(ref, FS))
    x0 = remove_offset(x, FS, estimate_freq_offset_hz(x, FS))
    assert estimate_delay_s(ref0, x0, FS) * FS == pytest.approx(17.6, abs=0.05)


def test_delay_is_found_whatever_the_offsets_of_the_two_records():
    # Each record is cut down around its own offset for the coarse step, and the offset
    # between the two is measured once they are aligned: no offset need be removed.
    rng = np.random.default_rng(34)
    for waveform, delay in ((fm_voice, 17.6), (band_limited_noise, -12.3)):
        ref, late = delayed_pair(waveform(rng), delay)
        ref = ref * np.exp(2j * np.pi * -410.0 * t) + noise(rng, L, 30.0)
        x = late * np.exp(2j * np.pi * 950.0 * t) + noise(rng, L, 30.0)
        assert estimate_delay_s(ref, x, FS) * FS == pytest.approx(delay, abs=0.05)


# --- shapes ------------------------------------------------------------------------------

def test_vectorised_over_samples_and_receivers():
    rng = np.random.default_rng(41)
    n, receivers = 3, 5
    x = (fm_tone() + noise(rng, (n, receivers, L), 20.0)).astype(np.complex64)
    ref = x[:, :1, :]  # one reference per sample, broadcast over the receivers
    assert estimate_snr_db(x, FS, B).shape == (n, receivers)
    offsets = estimate_freq_offset_hz(x, FS)
    assert offsets.shape == (n, receivers)
    assert remove_offset(x, FS, offsets).shape == x.shape
    delays = estimate_delay_s(ref, x, FS)
    assert delays.shape == (n, receivers)
    np.testing.assert_allclose(estimate_snr_db(x[1, 2], FS, B), estimate_snr_db(x, FS, B)[1, 2])
    np.testing.assert_allclose(estimate_delay_s(ref[1, 0], x[1, 2], FS), delays[1, 2])


def test_block_estimates_are_the_single_record_ones():
    rng = np.random.default_rng(42)
    n, receivers = 3, 4
    delays = np.array([[0.0, 3.25, -7.5, 12.1]] * n)
    records = np.empty((n, receivers, L), np.complex64)
    for i in range(n):
        s = fm_voice(rng)
        for r in range(receivers):
            late = delayed_pair(s, delays[i, r])[1]
            records[i, r] = late * np.exp(2j * np.pi * 100.0 * r * t) + noise(rng, L, 25.0 - r)
    present = np.ones((n, receivers), bool)
    present[2, 3] = False
    timed = np.array([True, True, True, False])
    toa_ns = 1e9 * delays / FS + 5_000.0
    snr, offsets, toa = estimate_block(records, FS, B, present, timed, toa_ns, 40)
    own = estimate_freq_offset_hz(records, FS)
    np.testing.assert_allclose(offsets[present], own[present], rtol=1e-6)
    assert np.isnan(offsets[~present]).all()
    # the block reads each record's SNR in the band around its own offset
    assert np.array_equal(snr, estimate_snr_db(records, FS, B, centre_hz=own))
    assert np.abs(snr - (25.0 - np.arange(receivers))).max() < 0.5
    # arrival times: the reference (the loudest timed receiver, 0) keeps its own; the
    # others are its own plus their delay against it; receiver 3 is not timed
    assert np.array_equal(toa[:, 0], toa_ns[:, 0])
    assert np.isnan(toa[:, 3]).all()
    expected = toa_ns[:, :1] + 1e9 * estimate_delay_s(records[:, :1], records, FS, 40 / FS)
    np.testing.assert_allclose(toa[:, 1:3], expected[:, 1:3], atol=1e-3)
    np.testing.assert_allclose(toa[:, 1:3], toa_ns[:, 1:3], atol=0.05e9 / FS)
