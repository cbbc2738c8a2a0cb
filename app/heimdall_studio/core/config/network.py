"""The receivers' own errors, drawn once when a dataset is created.

A receiver's calibration error (dB) and oscillator error (ppm) are fixed properties of
the site. A receiver file may give them; those it leaves out are drawn here from the
config's seed and the spreads of its measurement group, and written into the config the
dataset stores, so the details pane and every expansion see the same values.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .model import DatasetConfig

# SeedSequence(seed, spawn_key=(RECEIVER_ERRORS_STREAM, receiver)): apart from the
# generator's streams, which are numbered by chunk.
RECEIVER_ERRORS_STREAM = 1 << 40
# A GPS-disciplined oscillator errs this many times less than a free-running one.
GPS_OSCILLATOR_FACTOR = 0.01


def resolve_receivers(config: DatasetConfig) -> DatasetConfig:
    """`config` with every receiver's calibration and oscillator error set: those not
    given are drawn, normal with the measurement group's spreads. The same config and
    seed always draw the same values; a config with them all set is returned as is."""
    if all(r.drawn for r in config.receivers):
        return config
    m = config.measurement
    receivers = []
    for index, r in enumerate(config.receivers):
        rng = np.random.default_rng(np.random.SeedSequence(
            config.seed, spawn_key=(RECEIVER_ERRORS_STREAM, index)))
        calibration, oscillator = rng.standard_normal(2)
        spread_ppm = m.rx_oscillator_ppm * (GPS_OSCILLATOR_FACTOR if r.timing == "gps" else 1)
        receivers.append(r if r.drawn else dataclasses.replace(
            r,
            calibration_db=_given(r.calibration_db,
                                  round(float(calibration) * m.calibration_sigma_db, 2), 30.0),
            oscillator_ppm=_given(r.oscillator_ppm,
                                  round(float(oscillator) * spread_ppm, 4), 100.0)))
    return config.replace(receivers=tuple(receivers))


def _given(value: float | None, drawn: float, limit: float) -> float:
    """The given value, or the drawn one within the parameter's range."""
    return value if value is not None else max(-limit, min(limit, drawn))
