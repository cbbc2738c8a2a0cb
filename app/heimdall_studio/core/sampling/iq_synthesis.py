"""The IQ records of an `iq_raw` dataset, drawn from its stored sample rows (docs/iq.md).

A sample's records are a pure function of the config, the sample's index and the values
generator version 5 stores for it, so expansion continues them bit for bit and a
feature dataset of the same config holds the same samples:

- its waveform's key and channel key come from the stream `(seed, chunk, IQ_STRATUM)`,
  one candidate of it per sample of the chunk;
- the modulation is drawn from the config's mix; the waveform (`iq_signals.emit`) is
  emitted once, long enough to cover every receiver's record after its arrival;
- at receiver r the record starts at the sample's common record instant (in the
  receiver's own clock), and holds, through `iq_signals.receive`:
  - the waveform, late by `arrival_ns` (delay, excess delay and clock error);
  - three multipath taps: the first at the arrival; two later ones at exponential
    delays of mean `measurement.nlos_delay_us` x sqrt(d km) (Greenstein's rms spread),
    complex normal, sharing 1/(K+1) of the power on a line-of-sight link (K as the
    fading's: K at 1 km over sqrt(d) over terrain, one K on the flat plane) and half
    of it on an obstructed one. The first tap makes the taps add up to 1: the channel's
    gain at the carrier is the link budget's, whose fading the kernel drew already;
  - the link's frequency offset, the transmitter's oscillator less the receiver's:
    `tx_freq_offset_hz - frequency * oscillator_ppm * 1e-6`;
  - the received power of the link budget, `link_snr_db + noise_floor_dbm`, in the
    receiver's calibrated reading (mW: mean |x|^2);
  - white noise at the receiver's noise floor over the whole sample rate,
    `noise_floor_dbm + 10 log10(iq_sample_rate_hz / bandwidth_hz)`;
  - then the receiver's own impairments, each off by default (the measurement group):
    phase noise, a Wiener phase of `rx_phase_noise_hz` 3 dB linewidth; IQ imbalance,
    Q' = g (Q cos p - I sin p) with g = `rx_iq_gain_db`, p = `rx_iq_phase_deg`
    (an image at the mirrored frequency, (g^2 - 2 g cos p + 1) / (g^2 + 2 g cos p + 1)
    of the power); an ADC of `rx_adc_bits` whose AGC sets its full scale 12 dB above the
    record's rms (its quantization noise 6 dB a bit lower, its clipping rare).

The estimates next to the records (`estimate_block`) are made from them alone, as a
receiver would: see `iq_estimators`.
"""

from __future__ import annotations

import math
import mmap
import sys
import threading

import numpy as np
from numba import njit, prange

from ..config.geo import haversine_km, training_box
from ..config.model import DatasetConfig
from ..config.network import resolve_receivers
from ..config.params import MODULATIONS
from . import iq_estimators
from .iq_signals import SINC_HALF, _peak, add_noise_parts, emit_parts, receive_parts
from .kernel_v4 import NS_PER_KM
from .rng import candidate_key, normal, stream_key, uniform

# The stream of a chunk's IQ keys: strata 0 and 1 are the placement's (generator)
IQ_STRATUM = 2
TAPS = 3
# Draws of a sample's channel key: the modulation, then TAP_DRAWS per receiver
DRAW_MODULATION = 0
TAP_DRAWS = 6
# Arrivals beyond these many standard deviations of a clock are held at the bound
CLOCK_SIGMAS = 5.0
# Excess delays beyond these many times their mean are held at the bound
EXCESS_MEANS = 10.0


class RecordPlan:
    """How long the emitted waveform is, and where each record starts in it.

    The waveform starts `lead_s` before the record instant and lasts until `lag_s` after
    the records end: every arrival from `-lag_s` (a clock ahead) to `lead_s` (the
    farthest transmitter of the training box, late by excess delay and a clock behind)
    finds it. Arrivals outside are held at the bounds (probability below 1e-6)."""

    def __init__(self, config: DatasetConfig):
        m = config.measurement
        clocks = [0.0]
        for r in config.receivers:
            if r.timing == "gps":
                clocks.append(CLOCK_SIGMAS * m.gps_clock_ns * 1e-9)
            elif r.timing == "ntp":
                clocks.append(CLOCK_SIGMAS * m.ntp_clock_ms * 1e-3)
            else:
                clocks.append(m.untimed_offset_ms * 1e-3)
        clock_s = max(clocks)
        span_km = _widest_km(config)
        excess_s = EXCESS_MEANS * m.nlos_delay_us * 1e-6 * math.sqrt(span_km)
        fs = config.iq_sample_rate_hz
        self.fs = fs
        self.length = config.iq_length
        self.lead_s = (math.ceil((span_km * NS_PER_KM * 1e-9 + excess_s + clock_s) * fs)
                       + SINC_HALF) / fs
        self.lag_s = (math.ceil(clock_s * fs) + SINC_HALF) / fs
        self.emitted = self.length + round((self.lead_s + self.lag_s) * fs)
        # the largest difference of two timed receivers' arrivals, for correlation
        timed = [c for c, r in zip(clocks[1:], config.receivers, strict=True)
                 if r.timing != "none"]
        self.max_lag = math.ceil((span_km * NS_PER_KM * 1e-9 + excess_s
                                      + 2 * max(timed, default=0.0)) * fs) + 2


def _widest_km(config: DatasetConfig) -> float:
    """The longest distance from a point of the training box to a receiver (bound)."""
    south, north, west, east = training_box(config)
    corners = [(la, lo) for la in (south, north) for lo in (west, east)]
    return max(haversine_km(r.lat, r.lon, la, lo) for r in config.receivers
               for la, lo in corners)


def sample_keys(config: DatasetConfig, first: int, count: int) -> np.ndarray:
    """(count, 2) uint64: the stream words of the chunk of each sample in [first,
    first + count); the sample's place in its chunk makes it a candidate of that stream."""
    size = config.chunk_size
    out = np.empty((count, 2), np.uint64)
    index = first
    while index < first + count:
        chunk = index // size
        stop = min(first + count, (chunk + 1) * size)
        out[index - first:stop - first] = stream_key(config.seed, chunk, IQ_STRATUM)
        index = stop
    return out


@njit(cache=True, nogil=True)
def _taps(key, first_draw, los, k_factor, spread_s, delays, gains):
    """The multipath taps of one link (module docstring): delays (s, from the first)
    and complex gains adding up to 1."""
    share = 1.0 / (k_factor + 1.0) if los else 0.5
    weights = np.empty(TAPS - 1)
    total = 0.0
    for k in range(1, TAPS):
        delays[k] = -spread_s * math.log(1.0 - uniform(key, first_draw + 3 * (k - 1)))
        weights[k - 1] = math.exp(-delays[k] / spread_s) if spread_s > 0.0 else 1.0
        total += weights[k - 1]
    delays[0] = 0.0
    late = 0j
    for k in range(1, TAPS):
        sigma = math.sqrt(0.5 * share * weights[k - 1] / total)
        gains[k] = sigma * complex(normal(key, first_draw + 3 * (k - 1) + 1),
                                   normal(key, first_draw + 3 * (k - 1) + 2))
        late += gains[k]
    gains[0] = 1.0 - late


# The ADC's full scale: this many times the record's rms (12 dB), set by its AGC
ADC_HEADROOM = 4.0


@njit(cache=True, nogil=True)
def impair(key, phase_step, iq_gain, iq_phase, adc_bits, re, im):
    """The receiver's own impairments, in place, each skipped when off (module
    docstring): phase noise, a random walk of `phase_step` radians rms a sample; IQ
    imbalance, Q' = g (Q cos p - I sin p); an ADC of `adc_bits` whose full scale an AGC
    sets ADC_HEADROOM times above the record's rms, rounding and clipping."""
    n = re.shape[0]
    if phase_step > 0.0:
        phase = 2.0 * math.pi * uniform(key, 0)
        for t in range(n):
            phase += phase_step * normal(key, 1 + t)
            c, s = math.cos(phase), math.sin(phase)
            x, y = re[t], im[t]
            re[t] = x * c - y * s
            im[t] = x * s + y * c
    if iq_gain != 1.0 or iq_phase != 0.0:
        c, s = math.cos(iq_phase), math.sin(iq_phase)
        for t in range(n):
            im[t] = iq_gain * (im[t] * c - re[t] * s)
    if adc_bits > 0:
        power = 0.0
        for t in range(n):
            power += re[t] * re[t] + im[t] * im[t]
        full = ADC_HEADROOM * math.sqrt(0.5 * power / n)
        if full > 0.0:
            levels = 2.0 ** (adc_bits - 1)
            step = full / levels
            top = (levels - 1.0) * step
            for t in range(n):
                re[t] = min(max(round(re[t] / step) * step, -full), top)
                im[t] = min(max(round(im[t] / step) * step, -full), top)


@njit(cache=True, nogil=True, parallel=True)
def draw_records(keys, index_in_chunk, mix, fs, lead_s, lag_s, emitted_length, freq_hz,
                 bandwidth_hz, k_1km, flat, nlos_s, rx_ppm, link_snr, noise_floor,
                 arrival_ns, los, dist, tx_offset, impairments, modulation_out, out):
    """Fill `out` (n, R, 2 L) float32 with each sample's records, real and imaginary
    parts interleaved (a complex64 array's view), and `modulation_out` with its
    modulation code (module docstring)."""
    n, n_rx, pairs = out.shape
    length = pairs // 2
    noise_gain = fs / bandwidth_hz
    for i in prange(n):
        wave_key = candidate_key(keys[i, 0], keys[i, 1], 2 * index_in_chunk[i])
        channel_key = candidate_key(keys[i, 0], keys[i, 1], 2 * index_in_chunk[i] + 1)
        pick = uniform(channel_key, DRAW_MODULATION) * mix[mix.shape[0] - 1]
        code = 0
        while code < mix.shape[0] - 1 and pick >= mix[code]:
            code += 1
        modulation_out[i] = code
        emitted_re = np.empty(emitted_length, np.float32)
        emitted_im = np.empty(emitted_length, np.float32)
        emit_parts(wave_key, code, fs, emitted_re, emitted_im)
        record_re = np.empty(length, np.float32)
        record_im = np.empty(length, np.float32)
        delays = np.empty(TAPS)
        gains = np.empty(TAPS, np.complex128)
        for r in range(n_rx):
            d = dist[i, r]
            k_factor = k_1km if flat else k_1km / math.sqrt(d)
            _taps(channel_key, 1 + r * TAP_DRAWS, los[i, r], k_factor,
                  nlos_s * math.sqrt(d), delays, gains)
            arrival = min(max(arrival_ns[i, r] * 1e-9, -lag_s), lead_s - SINC_HALF / fs)
            for k in range(TAPS):
                delays[k] = min(arrival + delays[k], lead_s - SINC_HALF / fs)
            offset = tx_offset[i] - 1e-6 * freq_hz * rx_ppm[r]
            floor_mw = 10.0 ** (0.1 * noise_floor[i, r])
            amplitude = math.sqrt(floor_mw * 10.0 ** (0.1 * link_snr[i, r]))
            record_re[:] = 0.0
            record_im[:] = 0.0
            receive_parts(emitted_re, emitted_im, fs, lead_s, delays, gains, offset,
                          amplitude, record_re, record_im)
            noise_key = candidate_key(channel_key, wave_key, r)
            add_noise_parts(noise_key, 0, floor_mw * noise_gain, record_re, record_im)
            impair(candidate_key(wave_key, channel_key, r), impairments[0],
                   impairments[1], impairments[2], int(impairments[3]), record_re,
                   record_im)
            row = out[i, r]
            for t in range(length):
                row[2 * t] = record_re[t]
                row[2 * t + 1] = record_im[t]


@njit(cache=True, nogil=True, parallel=True)
def quantize(records, pairs, scales):
    """int16 pairs and a scale per record: `records ~ scale * (re + j im)`, the record's
    largest component at full scale. `records` (n, R, 2 L) float32 and `pairs` (n, R,
    2 L) int16 hold the real and imaginary parts interleaved."""
    n, n_rx, length = records.shape
    for item in prange(n * n_rx):
        i = item // n_rx
        r = item % n_rx
        x = records[i, r]
        y = pairs[i, r]
        peak = _peak(x)
        scale = peak / 32767.0 if peak > 0.0 else 1.0
        scales[i, r] = scale
        inverse = np.float32(1.0 / scale)
        for t in range(length):
            y[t] = np.int16(math.floor(x[t] * inverse + np.float32(0.5)))


class _Buffers:
    """Arrays for the records of successive blocks, reused once nothing but this pool
    holds them (the block that used one is written and dropped).

    A fresh array's pages each cost a fault when first written, and with the writer
    busy beside it, faulting in a block's records costs about a quarter of computing
    them; the threads of a parallel kernel faulting pages in together cost several times
    more still. A reused array has its pages already. At most KEEP arrays are kept,
    the oldest dropped first."""

    KEEP = 4

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def get(self, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        with self._lock:
            for array in self._arrays:
                # held only by the list, this loop and getrefcount's argument
                if (array.shape == shape and array.dtype == dtype
                        and sys.getrefcount(array) <= 3):
                    return array
            array = np.empty(shape, dtype)
            array.reshape(-1).view(np.uint8)[::mmap.PAGESIZE] = 0  # fault in here, at once
            self._arrays.append(array)
            if len(self._arrays) > self.KEEP:
                self._arrays.pop(0)
            return array


_BUFFERS = _Buffers()


def impairments(config: DatasetConfig) -> np.ndarray:
    """`impair`'s constants: the phase step's rms (a Wiener phase of 3 dB linewidth
    L Hz grows by 2 pi L / fs rad^2 a sample), the Q gain, the phase offset, the bits."""
    m = config.measurement
    return np.array([math.sqrt(2.0 * math.pi * m.rx_phase_noise_hz / config.iq_sample_rate_hz),
                     10.0 ** (m.rx_iq_gain_db / 20.0), math.radians(m.rx_iq_phase_deg),
                     float(m.rx_adc_bits)])


def synthesize(config: DatasetConfig, plan: RecordPlan, first: int,
               a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The IQ fields of the samples [first, first + n) whose stored fields are `a`:
    modulation, records (as the config stores them) and the estimates. Receivers whose
    oscillator error is not set get it drawn first, as the kernel draws it."""
    config = resolve_receivers(config)
    n = len(a["tx_lat"])
    n_rx = len(config.receivers)
    m = config.measurement
    prop = config.propagation
    weights = dict(config.modulation)
    mix = np.cumsum([weights.get(kind, 0.0) for kind in MODULATIONS])
    records = _BUFFERS.get((n, n_rx, plan.length), np.complex64)
    modulation = np.empty(n, np.uint8)
    draw_records(
        sample_keys(config, first, n),
        (np.arange(first, first + n) % config.chunk_size).astype(np.int64), mix, plan.fs,
        plan.lead_s, plan.lag_s, plan.emitted, config.frequency_mhz * 1e6,
        config.bandwidth_hz, 10.0 ** (prop.rician_k_db / 10.0),
        prop.terrain.source == "none", m.nlos_delay_us * 1e-6,
        np.array([r.oscillator_ppm for r in config.receivers], dtype=np.float64),
        a["link_snr_db"], a["noise_floor_dbm"], a["arrival_ns"], a["line_of_sight"],
        a["distance_km"], a["tx_freq_offset_hz"], impairments(config), modulation,
        records.view(np.float32))
    timed = np.array([r.timing != "none" for r in config.receivers])
    snr, offset, toa = iq_estimators.estimate_block(
        records, plan.fs, config.bandwidth_hz, a["signal_present"], timed, a["toa_ns"],
        plan.max_lag)
    out: dict[str, np.ndarray] = {
        "modulation": modulation, "estimated_snr_db": snr, "estimated_freq_offset_hz": offset,
        "estimated_toa_ns": toa}
    if config.iq_storage == "int16":
        pairs = _BUFFERS.get((n, n_rx, plan.length, 2), np.int16)
        scales = np.empty((n, n_rx), np.float32)
        quantize(records.view(np.float32), pairs.reshape(n, n_rx, 2 * plan.length), scales)
        from ..config.fields import IQ_INT16
        out["iq"] = pairs.view(IQ_INT16)[..., 0]
        out["iq_scale"] = scales
    else:
        out["iq"] = records
    return out
