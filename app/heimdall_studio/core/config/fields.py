"""What a sample is: its fields, their dtypes and which hold one value per receiver.

The generator fills these arrays in `SampleBlock`s and the dataset file stores one HDF5
dataset per field under /samples (docs/file-format.md). Kept apart from both so that reading
or writing a file does not load the generator's compiled kernels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
# The truth of every link, detecting or not, from generator version 5: its SNR in the
# bandwidth, and when the signal reaches the receiver's record after emission (the
# delay, late on obstructed links, plus the receiver's clock error). A sample's IQ
# records are drawn from these (docs/iq.md).
LINK_FIELDS: dict[str, np.dtype] = {
    "link_snr_db": np.dtype("f4"),
    "arrival_ns": np.dtype("f8"),
}
LINK_FIELDS_FROM_VERSION = 5
# What an IQ dataset adds (dataset_type iq_raw): each sample's modulation
# (params.MODULATIONS code), the estimates made from its records, and the records,
# (n, receivers, L): complex64, or int16 pairs with a scale per record.
IQ_FIELDS: dict[str, np.dtype] = {
    "modulation": np.dtype("u1"),
    "estimated_snr_db": np.dtype("f4"),
    "estimated_freq_offset_hz": np.dtype("f4"),
    "estimated_toa_ns": np.dtype("f8"),
    "iq": np.dtype("c8"),
}
IQ_INT16 = np.dtype([("r", "<i2"), ("i", "<i2")])
IQ_SCALE_FIELD = "iq_scale"  # (n, receivers) f4, with int16 storage only

# Every field any generator version or dataset type writes, in file order.
SAMPLE_FIELDS: dict[str, np.dtype] = {**_FLAT_WORLD_FIELDS, **TERRAIN_FIELDS,
                                      **NETWORK_FIELDS, **LINK_FIELDS, **IQ_FIELDS,
                                      IQ_SCALE_FIELD: np.dtype("f4")}
PER_RECEIVER_FIELDS = ("signal_present", "snr_db", "rx_power_dbm", "freq_offset_hz",
                       "distance_km", "path_loss_db", "line_of_sight", "toa_ns",
                       "noise_floor_dbm", "link_snr_db", "arrival_ns", "estimated_snr_db",
                       "estimated_freq_offset_hz", "estimated_toa_ns", IQ_SCALE_FIELD)
RECORD_FIELDS = ("iq",)  # (n, receivers, L)


# What a real network could report about a sample: a model trained for the real world
# learns from these alone. Everything else is ground truth (where the transmitter was,
# what the link's geometry and loss were) or a constant of the config.
MEASUREMENT_FIELDS = frozenset({"signal_present", "snr_db", "rx_power_dbm", "freq_offset_hz",
                                "num_receivers_detected", "mean_snr_db", "toa_ns",
                                "noise_floor_dbm", "estimated_snr_db",
                                "estimated_freq_offset_hz", "estimated_toa_ns", "iq",
                                IQ_SCALE_FIELD})
TRUTH_FIELDS = frozenset({"tx_lat", "tx_lon", "tx_alt_m", "tx_power_dbm", "inside", "gdop",
                          "distance_km", "path_loss_db", "line_of_sight", "tx_ground_m",
                          "tx_antenna", "tx_bearing_deg", "tx_freq_offset_hz",
                          "link_snr_db", "arrival_ns", "modulation"})
CONSTANT_FIELDS = frozenset({"frequency_hz"})  # the config's, the same in every sample


def sample_fields(generator_version: int, dataset_type: str = "feature_based",
                  iq_storage: str = "complex64") -> dict[str, np.dtype]:
    """The fields of a sample drawn by `generator_version`, in file order: the order of
    the datasets under /samples and of the checksums in the history. An IQ dataset
    (`dataset_type` iq_raw) adds its records in `iq_storage`."""
    fields = dict(_FLAT_WORLD_FIELDS)
    if generator_version >= TERRAIN_FIELDS_FROM_VERSION:
        fields.update(TERRAIN_FIELDS)
    if generator_version >= NETWORK_FIELDS_FROM_VERSION:
        fields.update(NETWORK_FIELDS)
    if generator_version >= LINK_FIELDS_FROM_VERSION:
        fields.update(LINK_FIELDS)
        if dataset_type == "iq_raw":
            fields.update(IQ_FIELDS)
            fields.update(record_fields(iq_storage))
    return fields


def record_fields(iq_storage: str) -> dict[str, np.dtype]:
    """The fields that hold an IQ dataset's records in `iq_storage`."""
    if iq_storage == "int16":
        return {"iq": IQ_INT16, IQ_SCALE_FIELD: np.dtype("f4")}
    return {"iq": IQ_FIELDS["iq"]}


def row_bytes(fields: Mapping[str, np.dtype], receivers: int, record_length: int) -> int:
    """What one sample of `fields` takes, uncompressed."""
    return sum(dtype.itemsize * math.prod(field_shape(name, receivers, record_length))
               for name, dtype in fields.items())


def field_shape(name: str, receivers: int, record_length: int) -> tuple[int, ...]:
    """A field's shape per sample: () for one value, (receivers,) for one per receiver,
    (receivers, L) for the IQ records."""
    if name in RECORD_FIELDS:
        return (receivers, record_length)
    if name in PER_RECEIVER_FIELDS:
        return (receivers,)
    return ()


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
