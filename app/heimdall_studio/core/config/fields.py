"""What a sample is: its fields, their dtypes and which hold one value per receiver.

The generator fills these arrays in `SampleBlock`s and the dataset file stores one HDF5
dataset per field under /samples (docs/file-format.md). Kept apart from both so that reading
or writing a file does not load the generator's compiled kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# One array per field, of this dtype; the per-receiver ones are (n, receivers). These are
# the fields of generator versions 1 and 2.
_FLAT_WORLD_FIELDS: dict[str, np.dtype] = {
    "tx_lat": np.dtype("f8"),
    "tx_lon": np.dtype("f8"),
    "tx_alt_m": np.dtype("f8"),
    "frequency_hz": np.dtype("f8"),
    "tx_power_dbm": np.dtype("f4"),
    "inside": np.dtype("bool"),
    "gdop": np.dtype("f4"),
    "num_receivers_detected": np.dtype("u1"),
    "mean_snr_db": np.dtype("f4"),
    "signal_present": np.dtype("bool"),
    "snr_db": np.dtype("f4"),
    "rx_power_dbm": np.dtype("f4"),
    "freq_offset_hz": np.dtype("f4"),
    "distance_km": np.dtype("f4"),
}
# Ground truth of the terrain model, in every dataset of generator version 3 and later
# (docs/propagation.md): the deterministic loss of each link, whether it is line of sight,
# and the ground under the transmitter.
TERRAIN_FIELDS: dict[str, np.dtype] = {
    "path_loss_db": np.dtype("f4"),
    "line_of_sight": np.dtype("bool"),
    "tx_ground_m": np.dtype("f4"),
}
TERRAIN_FIELDS_FROM_VERSION = 3
# What a real network measures besides signal strength, and the transmitter's truth
# behind it, from generator version 4 (docs/measurements.md): each link's
# arrival time and noise floor; the transmitter's antenna (TX_ANTENNAS code), the
# bearing of a yagi's beam (NaN for the others) and its oscillator's offset.
NETWORK_FIELDS: dict[str, np.dtype] = {
    "toa_ns": np.dtype("f8"),
    "noise_floor_dbm": np.dtype("f4"),
    "tx_antenna": np.dtype("u1"),
    "tx_bearing_deg": np.dtype("f4"),
    "tx_freq_offset_hz": np.dtype("f4"),
}
NETWORK_FIELDS_FROM_VERSION = 4

# Every field any generator version writes, in file order.
SAMPLE_FIELDS: dict[str, np.dtype] = {**_FLAT_WORLD_FIELDS, **TERRAIN_FIELDS,
                                      **NETWORK_FIELDS}
PER_RECEIVER_FIELDS = ("signal_present", "snr_db", "rx_power_dbm", "freq_offset_hz",
                       "distance_km", "path_loss_db", "line_of_sight", "toa_ns",
                       "noise_floor_dbm")


# What a real network could report about a sample: a model trained for the real world
# learns from these alone. Everything else is ground truth (where the transmitter was,
# what the link's geometry and loss were) or a constant of the config.
MEASUREMENT_FIELDS = frozenset({"signal_present", "snr_db", "rx_power_dbm", "freq_offset_hz",
                                "num_receivers_detected", "mean_snr_db", "toa_ns",
                                "noise_floor_dbm"})
TRUTH_FIELDS = frozenset({"tx_lat", "tx_lon", "tx_alt_m", "tx_power_dbm", "inside", "gdop",
                          "distance_km", "path_loss_db", "line_of_sight", "tx_ground_m",
                          "tx_antenna", "tx_bearing_deg", "tx_freq_offset_hz"})
CONSTANT_FIELDS = frozenset({"frequency_hz"})  # the config's, the same in every sample


def sample_fields(generator_version: int) -> dict[str, np.dtype]:
    """The fields of a sample drawn by `generator_version`, in file order: the order of
    the datasets under /samples and of the checksums in the history."""
    if generator_version >= NETWORK_FIELDS_FROM_VERSION:
        return SAMPLE_FIELDS
    if generator_version >= TERRAIN_FIELDS_FROM_VERSION:
        return {**_FLAT_WORLD_FIELDS, **TERRAIN_FIELDS}
    return _FLAT_WORLD_FIELDS


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive samples [first_index, first_index + count) and how they were found."""

    first_index: int
    arrays: dict[str, np.ndarray]
    candidates: int
    rejected_too_few_receivers: int
    rejected_gdop: int
    seconds: float

    @property
    def count(self) -> int:
        return len(self.arrays["tx_lat"])
