"""What a sample is: its fields, their dtypes and which hold one value per receiver.

The generator fills these arrays in `SampleBlock`s and the dataset file stores one HDF5
dataset per field under /samples (docs/file-format.md). Kept apart from both so that reading
or writing a file does not load the generator's compiled kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# One array per field, of this dtype; the per-receiver ones are (n, receivers).
SAMPLE_FIELDS: dict[str, np.dtype] = {
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
PER_RECEIVER_FIELDS = ("signal_present", "snr_db", "rx_power_dbm", "freq_offset_hz",
                       "distance_km")


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
